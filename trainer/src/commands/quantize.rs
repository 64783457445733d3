//! `genderlens quantize`: stores an existing f16/f32 model the way `train` now exports one
//! (8-bit convolutions, see `genderlens::quantize`), then refits its calibration and
//! re-measures the validation metrics on the stored weights, updating the model JSON and
//! its confusion chart. Models trained before 8-bit export can so be shrunk without retraining.

use crate::charts::charts_from_report;
use crate::data::folders::{FaceCache, FileList};
use crate::measure::logits::metrics_and_loss;
use crate::measure::temperature::{calibrate_weights, print_summary};
use crate::model_file::{compact_weights, update_model_json, write_atomically, STORED_AS};
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device};
use genderlens::Classifier;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct QuantizeArgs {
    /// Weights to rewrite in place.
    #[arg(long, default_value = "models/genderlens.safetensors")]
    pub model: PathBuf,
    /// Labelled face crops (`female/`, `male/`) for calibration and the metrics: the
    /// validation split.
    #[arg(long, default_value = "../shared/datasets/gender/Validation")]
    pub data: PathBuf,
}

pub fn run(args: QuantizeArgs, command: &str) -> Result<()> {
    let device = Device::Cpu;
    // Read the data first: a missing folder must not leave a rewritten model behind.
    let files = FileList::scan(&args.data)?;
    let cache = FaceCache::load(&files, &indicatif::ProgressBar::hidden());
    let bytes =
        std::fs::read(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    let tensors = candle_core::safetensors::load_buffer(&bytes, &device)
        .with_context(|| format!("{} is not a safetensors file", args.model.display()))?;
    if tensors.values().any(|t| t.dtype() == DType::U8) {
        bail!("{} is already stored in 8 bits", args.model.display());
    }
    // Check the file is a model before rewriting it.
    Classifier::from_safetensors(&bytes)
        .with_context(|| format!("{} is not a GenderLens model", args.model.display()))?;
    let stored = compact_weights(&tensors)?;
    write_atomically(&args.model, |tmp| {
        Ok(candle_core::safetensors::save(&stored, tmp)?)
    })?;

    let data = args.data.display().to_string();
    let calibration = calibrate_weights(&args.model, &cache, &data)?;
    print_summary(&calibration);
    let bytes = std::fs::read(&args.model)?;
    let net = Classifier::from_safetensors(&bytes)?;
    let (validation, validation_loss) = metrics_and_loss(&net, &cache, &device)?;
    println!(
        "stored {} ({} bytes, {STORED_AS}): accuracy {:.2}% on {} images of {data}",
        args.model.display(),
        bytes.len(),
        100.0 * validation.accuracy,
        validation.images
    );

    let json_path = args.model.with_extension("json");
    let updated = update_model_json(&json_path, command, |json| {
        json["dtype"] = STORED_AS.into();
        json["weights_bytes"] = bytes.len().into();
        json["validation"] = serde_json::to_value(&validation)?;
        json["validation_loss"] = validation_loss.into();
        json["calibration"] = serde_json::to_value(&calibration)?;
        Ok(())
    })?;
    if !updated {
        return Ok(());
    }
    let (curves, confusion) = charts_from_report(&json_path)?;
    println!(
        "updated {}, {} and {}",
        json_path.display(),
        curves.display(),
        confusion.display()
    );
    Ok(())
}
