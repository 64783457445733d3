//! Faces of loosely framed photos as the product sees them: the product's own detector and
//! crop, so the faces a model trains on and the faces it meets cannot differ.

use crate::data::folders::{FaceCache, FileList};
use genderlens::classifier::crop::Framing;
use genderlens::decode::decode_image;
use genderlens::Pipeline;
use rayon::prelude::*;

/// The faces of a folder of photos, one per readable image with a detected face.
pub struct DetectedFaces {
    pub files: FileList,
    /// Index into `files` of each crop, in crop order.
    pub image_of_crop: Vec<usize>,
    pub crops: FaceCache,
}

/// Runs the product's detector on every image and keeps the most confident face's crop,
/// framed as `analyze` would cut it for a model of that framing. Only the
/// detector is used: the crops do not depend on the classifier.
pub fn detect_faces(
    files: FileList,
    framing: Framing,
    progress: &indicatif::ProgressBar,
) -> DetectedFaces {
    let crops: Vec<Option<image::RgbImage>> = files
        .files
        .par_iter()
        .map_init(
            || {
                Pipeline::embedded()
                    .expect("the embedded classifier loads")
                    .cropping_as(framing)
            },
            |pipeline, (path, _)| {
                let crop = std::fs::read(path)
                    .ok()
                    .and_then(|bytes| decode_image(&bytes).ok())
                    .and_then(|image| pipeline.face_crops(&image).1.into_iter().next());
                progress.inc(1);
                crop
            },
        )
        .collect();
    let mut detected = DetectedFaces {
        image_of_crop: vec![],
        crops: FaceCache::default(),
        files,
    };
    for (i, crop) in crops.into_iter().enumerate() {
        if let Some(crop) = crop {
            detected.crops.push(&crop, detected.files.files[i].1);
            detected.image_of_crop.push(i);
        }
    }
    detected
}
