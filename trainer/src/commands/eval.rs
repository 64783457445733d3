//! `genderlens eval DIR --mode crop|detect`: accuracy on a labelled folder
//! (`DIR/female`, `DIR/male`).

use crate::data::detected::detect_faces;
use crate::data::folders::{FaceCache, FileList};
use crate::measure::logits::cache_p_male;
use crate::measure::metrics::{class_of, Metrics};
use crate::measure::outcome::{analyze_all, analyze_all_with_faces_of, Outcome};
use crate::model_arg::ModelArg;
use anyhow::{bail, Context, Result};
use genderlens::classifier::model::CLASSES;
use serde::Serialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
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
    /// Write the misclassified images to this file, one tab-separated line each (file, true
    /// class, predicted class, calibrated P(male)), the most confident mistakes first.
    #[arg(long)]
    pub mistakes: Option<PathBuf>,
    /// List only the mistakes made with at least this calibrated confidence (0.5–1), e.g.
    /// 0.9 for the suspected label errors of a training set.
    #[arg(long, default_value_t = 0.5)]
    pub mistakes_min_confidence: f32,
    /// Classify each face and its mirror image and average the two (test-time flip).
    #[arg(long)]
    pub flip: bool,
    /// With `--mode detect`: shrink each photo until its face (as found at full size) is this
    /// many pixels wide, inside a grey border, to measure how small a face is still found
    /// and classified right.
    #[arg(long, value_parser = clap::value_parser!(u32).range(8..=1000))]
    pub face_size: Option<u32>,
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
    let (metrics, faces_found, unreadable, judged) = match (args.mode, args.flip, args.face_size) {
        (Mode::Crop, _, Some(_)) => bail!("--face-size needs --mode detect"),
        (Mode::Detect, true, Some(_)) => bail!("--face-size and --flip cannot be combined"),
        (Mode::Crop, _, None) => crop_mode(&files, &args.model, args.flip)?,
        (Mode::Detect, false, _) => detect_mode(&files, &args.model, args.face_size)?,
        (Mode::Detect, true, None) => detect_mode_flipped(&files, &args.model)?,
    };
    if let Some(path) = &args.mistakes {
        write_mistakes(path, &judged, args.mistakes_min_confidence)?;
    }
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

/// One evaluated image: its file, true class and calibrated P(male) (`None`: no face found
/// or the file was unreadable).
type Judged<'a> = (&'a Path, u32, Option<f32>);

/// Metrics of the classifier alone, each image taken as a face crop (one pass of the
/// network gives both the metrics and the per-image probabilities).
fn crop_mode<'a>(
    files: &'a FileList,
    model: &ModelArg,
    flip: bool,
) -> Result<(Metrics, usize, usize, Vec<Judged<'a>>)> {
    let classifier = model.classifier()?;
    let cache = FaceCache::load(files, &indicatif::ProgressBar::hidden());
    let p_males = cache_p_male(&classifier, &cache, flip)?;
    let predicted: Vec<u32> = p_males.iter().map(|&p| class_of(p)).collect();
    let metrics = Metrics::from_predictions(&cache.labels, &predicted);
    // The cache keeps the readable files in list order.
    let skipped: HashSet<&Path> = cache.skipped.iter().map(|(p, _)| p.as_path()).collect();
    let judged = files
        .files
        .iter()
        .filter(|(path, _)| !skipped.contains(path.as_path()))
        .zip(p_males)
        .map(|((path, label), p)| (path.as_path(), *label, Some(p)))
        .collect();
    Ok((metrics, cache.len(), cache.skipped.len(), judged))
}

/// The wrong answers among `judged` made with at least `min_confidence`, as tab-separated
/// lines, most confident first; an image without a face or an unreadable one (listed only
/// at the default 0.5) comes last, with "none" as prediction and probability.
fn write_mistakes(path: &Path, judged: &[Judged], min_confidence: f32) -> Result<()> {
    if !(0.5..=1.0).contains(&min_confidence) {
        bail!("--mistakes-min-confidence must be between 0.5 and 1, not {min_confidence}");
    }
    let confidence = |p: &Option<f32>| p.map_or(-1.0, |p| 0.5 + (p - 0.5).abs());
    let mut wrong: Vec<&Judged> = judged
        .iter()
        .filter(|(_, truth, p)| p.is_none_or(|p| class_of(p) != *truth))
        .filter(|(_, _, p)| {
            (p.is_none() && min_confidence <= 0.5) || confidence(p) >= min_confidence
        })
        .collect();
    wrong.sort_by(|a, b| confidence(&b.2).total_cmp(&confidence(&a.2)));
    let mut text = String::from("file\ttruth\tpredicted\tp_male\n");
    for (file, truth, p) in wrong {
        let (predicted, p) = match p {
            Some(p) => (CLASSES[class_of(*p) as usize], format!("{p:.4}")),
            None => ("none", "none".into()),
        };
        let truth = CLASSES[*truth as usize];
        text += &format!("{}\t{truth}\t{predicted}\t{p}\n", file.display());
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// End-to-end metrics with test-time flip: the detector's most confident face, as in
/// `detect_mode`, classified together with its mirror image (unreadable files count among
/// the images without a face).
fn detect_mode_flipped<'a>(
    files: &'a FileList,
    model: &ModelArg,
) -> Result<(Metrics, usize, usize, Vec<Judged<'a>>)> {
    let classifier = model.classifier()?;
    let detected = detect_faces(
        files.clone(),
        classifier.framing(),
        &indicatif::ProgressBar::hidden(),
    );
    let mut p_males = vec![None; files.files.len()];
    let flipped = cache_p_male(&classifier, &detected.crops, true)?;
    for (&i, p) in detected.image_of_crop.iter().zip(flipped) {
        p_males[i] = Some(p);
    }
    let truth: Vec<u32> = files.files.iter().map(|(_, label)| *label).collect();
    let predicted: Vec<u32> = p_males
        .iter()
        .zip(&truth)
        .map(|(p, &t)| p.map_or(1 - t, class_of))
        .collect();
    let judged = files
        .files
        .iter()
        .zip(p_males)
        .map(|((path, label), p)| (path.as_path(), *label, p))
        .collect();
    Ok((
        Metrics::from_predictions(&truth, &predicted),
        detected.crops.len(),
        0,
        judged,
    ))
}

/// End-to-end metrics (photos shrunk to `face_size` faces when given); an image without a
/// face is counted as misclassified, also in the confusion matrix.
fn detect_mode<'a>(
    files: &'a FileList,
    model: &ModelArg,
    face_size: Option<u32>,
) -> Result<(Metrics, usize, usize, Vec<Judged<'a>>)> {
    let outcomes = match face_size {
        Some(side) => analyze_all_with_faces_of(files, model, side)?,
        None => analyze_all(files, model)?,
    };
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
    let judged = files
        .files
        .iter()
        .zip(&outcomes)
        .map(|((path, label), outcome)| {
            let p = match outcome {
                Outcome::Face(face) => Some(face.p_male),
                _ => None,
            };
            (path.as_path(), *label, p)
        })
        .collect();
    Ok((
        Metrics::from_predictions(&truth, &predicted),
        found,
        unreadable,
        judged,
    ))
}
