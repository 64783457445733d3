//! The data of a training run: `--data` (tight face crops, used as they are) and any
//! `--photos NAME=DIR` folders (loosely framed photos, cut by the product's own detector and
//! crop, as at inference), each with its Training/ and Validation/ splits, and each source's
//! share of every batch.

use super::args::TrainArgs;
use crate::data::detected::detect_faces;
use crate::data::exclusions::without_excluded;
use crate::data::folders::{limited, FaceCache, FileList};
use crate::measure::groups::age_and_race;
use anyhow::{bail, Context, Result};
use genderlens::classifier::crop;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The name `--share` gives the `--data` folder.
pub const CROPS: &str = "crops";

/// How a source's images are turned into network inputs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Framing {
    /// Already a face crop: resized as it is.
    Crops,
    /// A photo: the detector's most confident face, cropped as the product does.
    Photos,
}

/// One split of a source, decoded.
pub struct Split {
    pub files: FileList,
    pub faces: FaceCache,
    /// Index into `files` of each face, in face order.
    pub file_of_face: Vec<usize>,
    /// Images that gave no face: unreadable, or (photos) no face found.
    pub missed: usize,
}

impl Split {
    /// Each face's age, where its file name gives one.
    pub fn ages(&self) -> Vec<Option<u32>> {
        self.file_of_face
            .iter()
            .map(|&i| age_and_race(&self.files.files[i].0).0)
            .collect()
    }
}

pub struct Source {
    pub name: String,
    pub dir: PathBuf,
    pub framing: Framing,
    pub share: f64,
    pub train: Split,
    pub val: Split,
    /// `--exclude` matches removed from Training/.
    pub excluded: usize,
    /// `prepare.json` of a folder made by `genderlens prepare` (held-out photos dropped, …).
    pub prepared: Option<serde_json::Value>,
}

/// `NAME=DIR` / `NAME=FRACTION` of `--photos` and `--share`.
fn named<'a>(option: &str, value: &'a str) -> Result<(&'a str, &'a str)> {
    match value.split_once('=') {
        Some((name, rest)) if !name.is_empty() && !rest.is_empty() => Ok((name, rest)),
        _ => bail!("{option} takes NAME=VALUE, not `{value}`"),
    }
}

/// The sources named by the arguments, before anything is read.
fn listed(args: &TrainArgs) -> Result<Vec<(String, PathBuf, Framing)>> {
    let mut sources = vec![(CROPS.to_string(), args.data.clone(), Framing::Crops)];
    for value in &args.photos {
        let (name, dir) = named("--photos", value)?;
        if sources.iter().any(|(n, _, _)| n == name) {
            bail!("--photos: the name `{name}` is used twice");
        }
        sources.push((name.to_string(), PathBuf::from(dir), Framing::Photos));
    }
    Ok(sources)
}

/// Each source's share: as given by `--share`, the rest split among the others in proportion
/// to their number of training faces.
pub fn shares(names: &[&str], sizes: &[usize], given: &[String]) -> Result<Vec<f64>> {
    let mut shares: Vec<Option<f64>> = vec![None; names.len()];
    for value in given {
        let (name, share) = named("--share", value)?;
        let Some(i) = names.iter().position(|n| *n == name) else {
            bail!(
                "--share names `{name}`, which is not a source (sources: {})",
                names.join(", ")
            );
        };
        let share: f64 = share
            .parse()
            .ok()
            .filter(|s: &f64| *s > 0.0 && *s <= 1.0)
            .with_context(|| format!("--share {value}: a fraction above 0, at most 1"))?;
        shares[i] = Some(share);
    }
    let given_sum: f64 = shares.iter().flatten().sum();
    let rest: usize = (0..names.len())
        .filter(|&i| shares[i].is_none())
        .map(|i| sizes[i])
        .sum();
    let full = (given_sum - 1.0).abs() <= 1e-6;
    if given_sum > 1.0 + 1e-6 || (rest == 0 && !full) || (rest > 0 && full) {
        bail!("the --share values sum to {given_sum}: they must leave room for every source and sum to 1");
    }
    Ok((0..names.len())
        .map(|i| shares[i].unwrap_or((1.0 - given_sum) * sizes[i] as f64 / rest as f64))
        .collect())
}

/// Reads every source: both splits decoded (photos through the detector), exclusions and
/// `--limit` applied, shares fixed.
pub fn load_sources(args: &TrainArgs) -> Result<Vec<Source>> {
    let listed = listed(args)?;
    let crop_framing = args.framing()?;
    // Bad shares fail now, not after minutes of decoding (any sizes tell the same).
    let names: Vec<&str> = listed.iter().map(|(n, _, _)| n.as_str()).collect();
    shares(&names, &vec![1; names.len()], &args.shares)?;
    let mut sources = vec![];
    for (name, dir, framing) in listed {
        let (train_files, excluded) = without_excluded(
            FileList::scan(&dir.join("Training"))?,
            args.exclude.as_deref(),
        )?;
        let train_files = limited(train_files, args.limit);
        let val_files = limited(FileList::scan(&dir.join("Validation"))?, args.limit);
        let train = load_split(&name, "Training", train_files, framing, crop_framing);
        let val = load_split(&name, "Validation", val_files, framing, crop_framing);
        for (split, faces) in [("Training", &train), ("Validation", &val)] {
            if faces.faces.is_empty() {
                bail!("{name}: no usable images in {}", dir.join(split).display());
            }
        }
        let prepared = read_prepared(&dir)?;
        sources.push(Source {
            name,
            dir,
            framing,
            share: 0.0,
            train,
            val,
            excluded,
            prepared,
        });
    }
    let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
    let sizes: Vec<usize> = sources.iter().map(|s| s.train.faces.len()).collect();
    let shares = shares(&names, &sizes, &args.shares)?;
    for (source, share) in sources.iter_mut().zip(shares) {
        source.share = share;
    }
    Ok(sources)
}

fn read_prepared(dir: &Path) -> Result<Option<serde_json::Value>> {
    let path = dir.join("prepare.json");
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path)?;
    Ok(Some(serde_json::from_str(&text).with_context(|| {
        format!("{} is not JSON", path.display())
    })?))
}

fn load_split(
    source: &str,
    split: &str,
    files: FileList,
    framing: Framing,
    crop_framing: crop::Framing,
) -> Split {
    let bar = ProgressBar::new(files.files.len() as u64).with_style(
        ProgressStyle::with_template("{prefix:24} [{bar:30}] {pos}/{len} {per_sec} ETA {eta}")
            .expect("template")
            .progress_chars("=> "),
    );
    let verb = match framing {
        Framing::Crops => "decoding",
        Framing::Photos => "detecting",
    };
    bar.set_prefix(format!("{verb} {source} {split}"));
    let (files, faces, file_of_face) = match framing {
        Framing::Crops => {
            let faces = FaceCache::load(&files, &bar);
            for (path, why) in faces.skipped.iter().take(5) {
                eprintln!("skipped {}: {why}", path.display());
            }
            let skipped: HashSet<&PathBuf> = faces.skipped.iter().map(|(p, _)| p).collect();
            let kept = (0..files.files.len())
                .filter(|&i| !skipped.contains(&files.files[i].0))
                .collect();
            (files, faces, kept)
        }
        Framing::Photos => {
            let detected = detect_faces(files, crop_framing, &bar);
            (detected.files, detected.crops, detected.image_of_crop)
        }
    };
    bar.finish_and_clear();
    let missed = files.files.len() - faces.len();
    println!(
        "{source} {split}: {} images ({} female, {} male), {} used, {missed} {}",
        files.files.len(),
        files.count(0),
        files.count(1),
        faces.len(),
        match framing {
            Framing::Crops => "unreadable",
            Framing::Photos => "without a face found",
        }
    );
    Split {
        files,
        faces,
        file_of_face,
        missed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn unnamed_sources_share_the_rest_by_size() {
        let names = ["crops", "utk", "aaf"];
        let sizes = [40_000, 6_000, 10_000];
        let s = shares(&names, &sizes, &[]).unwrap();
        assert!((s[0] - 40.0 / 56.0).abs() < 1e-12 && (s[2] - 10.0 / 56.0).abs() < 1e-12);
        let s = shares(&names, &sizes, &strings(&["utk=0.25", "aaf=0.25"])).unwrap();
        assert_eq!(s, [0.5, 0.25, 0.25]);
        let s = shares(&names, &sizes, &strings(&["crops=0.5"])).unwrap();
        assert!((s[1] - 0.5 * 6.0 / 16.0).abs() < 1e-12);
    }

    #[test]
    fn bad_shares_are_refused() {
        let names = ["crops", "utk"];
        let sizes = [10, 10];
        for bad in [
            &["utk=0.7", "crops=0.7"][..],
            &["utk=1"],
            &["utk=0.5", "crops=0.4"],
            &["nobody=0.5"],
            &["utk=0"],
            &["utk=half"],
            &["utk"],
        ] {
            assert!(shares(&names, &sizes, &strings(bad)).is_err(), "{bad:?}");
        }
    }
}
