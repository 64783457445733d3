//! The end of a training run: the best weights in their stored form, calibrated, re-measured,
//! and the model report (JSON and charts) beside them.

use super::args::TrainArgs;
use super::checkpoint::{Progress, WallClock};
use crate::charts::charts_from_report;
use crate::data::augment::Augmentation;
use crate::data::folders::{FaceCache, FileList};
use crate::measure::logits::metrics_and_loss;
use crate::measure::metrics::Metrics;
use crate::measure::temperature::{calibrate_weights, print_summary, CalibrationReport};
use crate::model_file::{save_compact, write_atomically, EpochRecord, STORED_AS};
use anyhow::Result;
use candle_core::{Device, Tensor};
use genderlens::model::INPUT_SIZE;
use serde::Serialize;
use std::collections::HashMap;

#[derive(Serialize)]
pub struct ModelReport<'a> {
    pub name: &'a str,
    pub command: &'a str,
    /// All commands of the run when it was interrupted and resumed.
    pub commands: &'a [String],
    pub dtype: &'static str,
    pub weights_bytes: u64,
    pub input_size: usize,
    pub stage_channels: [usize; 4],
    pub data: serde_json::Value,
    pub settings: &'a TrainArgs,
    pub augmentation: Augmentation,
    /// The ranges of the last `settings.light_epochs` epochs (if any).
    pub light_augmentation: Augmentation,
    pub epochs_run: usize,
    pub decode_seconds: f64,
    pub train_seconds: f64,
    /// From the start of `train` to this report: decoding, every epoch, validation,
    /// calibration and export, summed over the processes of a resumed run (up to each one's
    /// last checkpoint; time between them is not counted).
    pub wall_seconds: f64,
    pub history: &'a [EpochRecord],
    pub validation: Metrics,
    pub validation_loss: f64,
    pub calibration: CalibrationReport,
}

#[allow(clippy::too_many_arguments)]
pub fn export_model(
    args: &TrainArgs,
    command: &str,
    weights: &HashMap<String, Tensor>,
    progress: &Progress,
    train_files: &FileList,
    val_files: &FileList,
    excluded: usize,
    train: &FaceCache,
    val: &FaceCache,
    decode_seconds: f64,
    wall: &WallClock,
    device: &Device,
) -> Result<()> {
    // 8-bit convolutions and f16 elsewhere: a quarter of the f32 download. The metrics below
    // are measured on these exact stored weights.
    let model_path = args.out.join(format!("{}.safetensors", args.name));
    save_compact(&model_path, weights)?;
    let calibration = calibrate_weights(&model_path, val, "Validation")?;
    let bytes = std::fs::read(&model_path)?;
    let net = genderlens::model::load_from_safetensors(&bytes, device)?;
    let (validation, validation_loss) = metrics_and_loss(&net, val, device)?;
    print_summary(&calibration);
    println!(
        "exported {} ({} bytes, {STORED_AS}): validation accuracy {:.2}% on {} images",
        model_path.display(),
        bytes.len(),
        100.0 * validation.accuracy,
        validation.images
    );
    let report = ModelReport {
        name: &args.name,
        command,
        commands: &progress.commands,
        dtype: STORED_AS,
        weights_bytes: bytes.len() as u64,
        input_size: INPUT_SIZE,
        stage_channels: args.stage_channels()?,
        data: serde_json::json!({
            "training": {"female": train_files.count(0), "male": train_files.count(1), "used": train.len(), "unreadable": train.skipped.len(), "excluded": excluded},
            "validation": {"female": val_files.count(0), "male": val_files.count(1), "used": val.len(), "unreadable": val.skipped.len()},
        }),
        settings: args,
        augmentation: Augmentation::default(),
        light_augmentation: Augmentation::light(),
        epochs_run: progress.history.len(),
        decode_seconds,
        train_seconds: progress.history.iter().map(|r| r.seconds).sum(),
        wall_seconds: wall.seconds(),
        history: &progress.history,
        validation,
        validation_loss,
        calibration,
    };
    let json_path = args.out.join(format!("{}.json", args.name));
    write_atomically(&json_path, |tmp| {
        Ok(std::fs::write(
            tmp,
            serde_json::to_string_pretty(&report)? + "\n",
        )?)
    })?;
    let (curves, confusion) = charts_from_report(&json_path)?;
    println!("charts: {} and {}", curves.display(), confusion.display());
    Ok(())
}
