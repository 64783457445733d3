//! What the full pipeline made of each labelled image: the answer `eval --mode detect`,
//! `report` and `adapt` count.

use crate::data::folders::FileList;
use crate::measure::metrics::class_of;
use crate::model_arg::ModelArg;
use anyhow::Result;
use genderlens::Face;
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
    model.classifier()?; // fail early, once, on bad weights
    Ok(files
        .files
        .par_iter()
        .map_init(
            || model.pipeline().expect("weights loaded above"),
            |pipeline, (path, _)| {
                let Some(analysis) = std::fs::read(path)
                    .ok()
                    .and_then(|bytes| pipeline.analyze_bytes(&bytes).ok())
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
