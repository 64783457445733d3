//! `genderlens eval DIR --mode crop|detect`: accuracy on a labelled folder
//! (`DIR/female`, `DIR/male`).

use crate::dataset::{FaceCache, FileList};
use crate::evaluate::evaluate_cache;
use crate::metrics::Metrics;
use crate::model_arg::ModelArg;
use anyhow::Result;
use candle_core::Device;
use genderlens::Face;
use rayon::prelude::*;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Mode {
    /// Each image is already a face crop.
    Crop,
    /// Detect faces and classify the most confident one; no face counts as wrong.
    Detect,
}

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Folder with `female/` and `male/` subfolders.
    pub dir: PathBuf,
    #[arg(long, value_enum, default_value = "crop")]
    pub mode: Mode,
    /// Print the metrics as one JSON object on the last line.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub model: ModelArg,
}

#[derive(Serialize)]
struct Report {
    images: usize,
    faces_found: usize,
    accuracy: f64,
    accuracy_female: f64,
    accuracy_male: f64,
    precision: f64,
    recall: f64,
    f1: f64,
    confusion: [[usize; 2]; 2],
    unreadable: usize,
    ms_per_image: f64,
}

pub fn run(args: EvalArgs) -> Result<()> {
    let files = FileList::scan(&args.dir)?;
    let start = Instant::now();
    let (metrics, faces_found, unreadable) = match args.mode {
        Mode::Crop => {
            let classifier = args.model.classifier()?;
            let cache = FaceCache::load(&files, &indicatif::ProgressBar::hidden());
            let (metrics, _) = evaluate_cache(classifier.net(), &cache, &Device::Cpu)?;
            (metrics, cache.len(), cache.skipped.len())
        }
        Mode::Detect => detect_mode(&files, &args.model)?,
    };
    let elapsed = start.elapsed().as_secs_f64();
    let report = Report {
        images: files.files.len(),
        faces_found,
        accuracy: metrics.accuracy,
        accuracy_female: metrics.accuracy_female,
        accuracy_male: metrics.accuracy_male,
        precision: metrics.precision,
        recall: metrics.recall,
        f1: metrics.f1,
        confusion: metrics.confusion,
        unreadable,
        ms_per_image: 1e3 * elapsed / files.files.len().max(1) as f64,
    };
    println!(
        "{} images, {} faces: accuracy {:.2}% (female {:.2}%, male {:.2}%), F1 {:.4}",
        report.images,
        report.faces_found,
        100.0 * report.accuracy,
        100.0 * report.accuracy_female,
        100.0 * report.accuracy_male,
        report.f1
    );
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(())
}

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
            Outcome::Face(face) => u32::from(face.p_male >= 0.5),
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

/// End-to-end metrics; an image without a face is counted as misclassified, also in the
/// confusion matrix.
fn detect_mode(files: &FileList, model: &ModelArg) -> Result<(Metrics, usize, usize)> {
    let outcomes = analyze_all(files, model)?;
    let truth: Vec<u32> = files.files.iter().map(|(_, label)| *label).collect();
    let predicted: Vec<u32> = outcomes
        .iter()
        .zip(&truth)
        .map(|(outcome, &t)| outcome.predicted_or_wrong(t))
        .collect();
    let found = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Face(_)))
        .count();
    let unreadable = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Unreadable))
        .count();
    Ok((
        Metrics::from_predictions(&truth, &predicted),
        found,
        unreadable,
    ))
}
