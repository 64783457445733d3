//! What the full pipeline made of each labelled image: the answer `eval --mode detect`,
//! `report` and `adapt` count.

use crate::data::folders::FileList;
use crate::measure::metrics::class_of;
use crate::model_arg::ModelArg;
use anyhow::Result;
use genderlens::decode::decode_image;
use genderlens::resize::triangle_resize;
use genderlens::{Analysis, Face, Pipeline};
use image::{Rgb, RgbImage};
use rayon::prelude::*;

/// What the full pipeline made of one labelled image.
pub enum Outcome {
    /// The file could not be read or decoded.
    Unreadable,
    NoFace,
    /// The most confident detection.
    Face(Face),
}

impl Outcome {
    /// The predicted class; an image without a face counts as wrong.
    pub fn predicted_or_wrong(&self, truth: u32) -> u32 {
        match self {
            Outcome::Face(face) => class_of(face.p_male),
            _ => 1 - truth,
        }
    }
}

/// Runs the full pipeline on every image, in parallel with one pipeline per worker.
pub fn analyze_all(files: &FileList, model: &ModelArg) -> Result<Vec<Outcome>> {
    analyze_each(files, model, |pipeline, image| pipeline.analyze(image))
}

/// [`analyze_all`] with each photo shrunk so that its face (as found at full size) is `side`
/// pixels wide, in a grey border of the shrunk photo's own size on every side (the detector
/// needs context around a face): how small a face the pipeline still finds and classifies
/// right. A photo without a face at full size counts as without a face.
pub fn analyze_all_with_faces_of(
    files: &FileList,
    model: &ModelArg,
    side: u32,
) -> Result<Vec<Outcome>> {
    analyze_each(files, model, move |pipeline, image| {
        let full = pipeline.analyze(image)?;
        let Some(face) = full.faces.first() else {
            return Ok(full);
        };
        let scale = side as f32 / face.bbox[2];
        let (w, h) = (
            ((image.width() as f32 * scale).round() as u32).max(1),
            ((image.height() as f32 * scale).round() as u32).max(1),
        );
        let shrunk = triangle_resize(image, w, h);
        let mut bordered = RgbImage::from_pixel(3 * w, 3 * h, Rgb([128, 128, 128]));
        image::imageops::replace(&mut bordered, &shrunk, i64::from(w), i64::from(h));
        pipeline.analyze(&bordered)
    })
}

fn analyze_each(
    files: &FileList,
    model: &ModelArg,
    analyze: impl Fn(&mut Pipeline, &RgbImage) -> genderlens::Result<Analysis> + Sync,
) -> Result<Vec<Outcome>> {
    model.classifier()?; // fail early, once, on bad weights
    Ok(files
        .files
        .par_iter()
        .map_init(
            || model.pipeline().expect("weights loaded above"),
            |pipeline, (path, _)| {
                let Some(analysis) = std::fs::read(path)
                    .ok()
                    .and_then(|bytes| decode_image(&bytes).ok())
                    .and_then(|image| analyze(pipeline, &image).ok())
                else {
                    return Outcome::Unreadable;
                };
                match analysis.faces.into_iter().next() {
                    Some(face) => Outcome::Face(face),
                    None => Outcome::NoFace,
                }
            },
        )
        .collect())
}
