//! Folder-per-class image datasets (`DIR/female`, `DIR/male`), decoded once in parallel
//! into a compact in-memory cache of network-sized faces.

use anyhow::{bail, Context, Result};
use genderlens::classifier::model::{CLASSES, INPUT_SIZE};
use genderlens::classifier::preprocess::resize_to_input;
use image::RgbImage;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// Image files of one split, with class indices in [`CLASSES`] order.
#[derive(Clone)]
pub struct FileList {
    pub files: Vec<(PathBuf, u32)>,
}

impl FileList {
    /// Lists `dir/<class>/*` for every class; a missing folder is an error naming it.
    pub fn scan(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            bail!("dataset folder {} does not exist", dir.display());
        }
        let mut files = Vec::new();
        for (label, class) in CLASSES.iter().enumerate() {
            let class_dir = dir.join(class);
            if !class_dir.is_dir() {
                bail!(
                    "{} has no `{class}/` folder (expected {})",
                    dir.display(),
                    CLASSES.map(|c| format!("{c}/")).join(" and ")
                );
            }
            let mut entries: Vec<PathBuf> = std::fs::read_dir(&class_dir)
                .with_context(|| format!("reading {}", class_dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            entries.sort();
            files.extend(entries.into_iter().map(|p| (p, label as u32)));
        }
        Ok(Self { files })
    }

    pub fn count(&self, label: u32) -> usize {
        self.files.iter().filter(|(_, l)| *l == label).count()
    }
}

/// Decoded faces, INPUT_SIZE² RGB bytes each, plus labels; unreadable files are skipped.
#[derive(Default)]
pub struct FaceCache {
    pixels: Vec<u8>,
    pub labels: Vec<u32>,
    pub skipped: Vec<(PathBuf, String)>,
}

/// A network-sized face's RGB bytes, or why the file could not be used.
type Decoded = std::result::Result<Vec<u8>, String>;

const FACE_BYTES: usize = INPUT_SIZE * INPUT_SIZE * 3;

impl FaceCache {
    /// Decodes every file in parallel through the shared decoder and resizer.
    pub fn load(list: &FileList, progress: &indicatif::ProgressBar) -> Self {
        let decoded: Vec<(Decoded, u32, &PathBuf)> = list
            .files
            .par_iter()
            .map(|(path, label)| {
                let face = std::fs::read(path)
                    .map_err(|e| e.to_string())
                    .and_then(|bytes| {
                        genderlens::decode::decode_image(&bytes).map_err(|e| e.to_string())
                    })
                    .map(|img| resize_to_input(&img).into_raw());
                progress.inc(1);
                (face, *label, path)
            })
            .collect();
        let mut cache = Self {
            pixels: Vec::with_capacity(decoded.len() * FACE_BYTES),
            labels: Vec::with_capacity(decoded.len()),
            skipped: Vec::new(),
        };
        for (face, label, path) in decoded {
            match face {
                Ok(bytes) => {
                    cache.pixels.extend_from_slice(&bytes);
                    cache.labels.push(label);
                }
                Err(e) => cache.skipped.push((path.clone(), e)),
            }
        }
        cache
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Adds a network-sized face (e.g. a detector crop) with its class.
    pub fn push(&mut self, face: &RgbImage, label: u32) {
        assert_eq!(
            face.len(),
            FACE_BYTES,
            "faces in the cache are network-sized"
        );
        self.pixels.extend_from_slice(face.as_raw());
        self.labels.push(label);
    }

    /// Adds every face of `other` after this cache's own.
    pub fn append(&mut self, other: &FaceCache) {
        self.pixels.extend_from_slice(&other.pixels);
        self.labels.extend_from_slice(&other.labels);
    }

    pub fn face(&self, index: usize) -> RgbImage {
        let bytes = self.pixels[index * FACE_BYTES..(index + 1) * FACE_BYTES].to_vec();
        RgbImage::from_raw(INPUT_SIZE as u32, INPUT_SIZE as u32, bytes).expect("cache entry size")
    }
}

pub fn limited(mut list: FileList, limit: Option<usize>) -> FileList {
    if let Some(limit) = limit {
        let mut taken = [0usize; 2];
        list.files.retain(|(_, label)| {
            taken[*label as usize] += 1;
            taken[*label as usize] <= limit
        });
    }
    list
}
