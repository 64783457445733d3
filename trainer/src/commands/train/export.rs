//! The end of a training run: the best weights in their stored form, calibrated on the union
//! of the sources' validation splits, re-measured on each source (photos end to end, by group),
//! and the model report (JSON and charts) beside them.

use super::args::TrainArgs;
use super::checkpoint::{Progress, WallClock};
use super::sources::{Framing, Source};
use crate::charts::charts_from_report;
use crate::data::augment::Augmentation;
use crate::data::folders::FaceCache;
use crate::measure::age_calibration::{
    add_aged_faces, calibrate_by_age, print_age_summary, AgeCalibrationReport,
};
use crate::measure::ece::CalibrationError;
use crate::measure::end_to_end::end_to_end;
use crate::measure::groups::{print_table, GroupRow};
use crate::measure::logits::cache_outputs;
use crate::measure::metrics::{class_of, Metrics};
use crate::measure::nll::mean_nll;
use crate::measure::temperature::{calibrate_weights, print_summary, CalibrationReport};
use crate::model_file::{save_compact, write_atomically, write_framing, EpochRecord, STORED_AS};
use anyhow::Result;
use candle_core::Tensor;
use genderlens::classifier::model::{AGE_HEAD, INPUT_SIZE};
use genderlens::classifier::Output;
use genderlens::Classifier;
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;

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
    /// The `--data` source's validation crops (the charts' confusion matrix).
    pub validation: Metrics,
    pub validation_loss: f64,
    pub calibration: CalibrationReport,
    /// Temperatures by age, when photo sources give ages (`measure::age_calibration`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_calibration: Option<AgeCalibrationReport>,
    /// Every source on its own validation split, with the stored weights.
    pub sources: Vec<SourceReport>,
}

/// One source's data and results.
#[derive(Serialize)]
pub struct SourceReport {
    pub name: String,
    pub dir: String,
    pub framing: Framing,
    /// Its share of every training batch.
    pub share: f64,
    pub data: serde_json::Value,
    /// Crops: each validation crop classified. Photos: each validation photo end to end
    /// (detect, crop, classify), a photo without a face counting as wrong.
    pub validation: Metrics,
    /// Of its validation faces at the stored temperatures.
    #[serde(flatten)]
    pub calibration: CalibrationError,
    /// Photos: by sex, race and age band (as far as the file names tell).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupRow>,
    /// Mean unsmoothed cross-entropy of its validation faces (crops only; NaN for photos).
    #[serde(skip)]
    pub loss: f64,
}

#[allow(clippy::too_many_arguments)]
pub fn export_model(
    args: &TrainArgs,
    command: &str,
    weights: &HashMap<String, Tensor>,
    progress: &Progress,
    sources: &[Source],
    decode_seconds: f64,
    wall: &WallClock,
) -> Result<()> {
    // 8-bit convolutions and f16 elsewhere: a quarter of the f32 download. The metrics below
    // are measured on these exact stored weights.
    let model_path = args.out.join(format!("{}.safetensors", args.name));
    // The age head only shaped the features in training: the product has no use for it.
    let weights: HashMap<String, Tensor> = weights
        .iter()
        .filter(|(name, _)| !name.starts_with(AGE_HEAD))
        .map(|(name, tensor)| (name.clone(), tensor.clone()))
        .collect();
    save_compact(&model_path, &weights)?;
    write_framing(&model_path, args.framing()?)?;
    let mut union = FaceCache::default();
    for source in sources {
        union.append(&source.val.faces);
    }
    let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
    let fitted_on = format!("Validation of {}", names.join(", "));
    let calibration = calibrate_weights(&model_path, &union, &fitted_on)?;
    drop(union);
    print_summary(&calibration);
    let age_calibration = age_aware(&model_path, sources, calibration.temperature)?;
    let bytes = std::fs::read(&model_path)?;
    // Measured as the product runs it.
    let net = genderlens::Classifier::from_safetensors(&bytes)?;
    let reports = sources
        .iter()
        .map(|source| source_report(source, &net, &model_path))
        .collect::<Result<Vec<_>>>()?;
    // `--data` comes first: its crops are the report's headline validation.
    let (validation, validation_loss) = (reports[0].validation.clone(), reports[0].loss);
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
        data: reports[0].data.clone(),
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
        age_calibration,
        sources: reports,
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

/// The probe and temperatures of `measure::age_calibration`, fitted on the training faces of
/// the sources whose file names give ages and on every source's validation faces; `None`
/// when no source gives ages.
fn age_aware(
    model_path: &Path,
    sources: &[Source],
    single_temperature: f32,
) -> Result<Option<AgeCalibrationReport>> {
    let mut aged = (FaceCache::default(), vec![]);
    for source in sources {
        let train = &source.train;
        add_aged_faces(&train.files, &train.faces, &train.file_of_face, &mut aged);
    }
    if aged.1.is_empty() {
        return Ok(None);
    }
    let validation: Vec<(String, &FaceCache)> = sources
        .iter()
        .map(|s| (s.name.clone(), &s.val.faces))
        .collect();
    let report = calibrate_by_age(
        model_path,
        &validation,
        (&aged.0, &aged.1),
        single_temperature,
    )?;
    print_age_summary(&report);
    Ok(Some(report))
}

/// A source's counts and its validation results with the stored weights.
fn source_report(source: &Source, net: &Classifier, model_path: &Path) -> Result<SourceReport> {
    // One pass over the crops gives metrics, loss and calibration error; photos are measured
    // end to end instead, through the product's own pipeline.
    let (validation, loss, calibration, groups) = match source.framing {
        Framing::Crops => {
            let faces = &source.val.faces;
            let outputs = cache_outputs(net, faces)?;
            let logits: Vec<[f32; 2]> = outputs.iter().map(|o| o.logits).collect();
            let probabilities: Vec<f32> = outputs.iter().map(Output::p_male).collect();
            let predicted: Vec<u32> = probabilities.iter().map(|&p| class_of(p)).collect();
            (
                Metrics::from_predictions(&faces.labels, &predicted),
                mean_nll(&logits, &faces.labels, 1.0),
                CalibrationError::of(&probabilities, &faces.labels),
                vec![],
            )
        }
        Framing::Photos => {
            let measured = end_to_end(&source.val.files, model_path)?;
            println!("{} validation, end to end, by group:", source.name);
            print_table(&measured.groups);
            (
                measured.metrics,
                f64::NAN,
                measured.calibration,
                measured.groups,
            )
        }
    };
    println!(
        "{}: validation accuracy {:.2}% (female {:.2}%, male {:.2}%) on {} images, {calibration}",
        source.name,
        100.0 * validation.accuracy,
        100.0 * validation.accuracy_female,
        100.0 * validation.accuracy_male,
        validation.images,
    );
    // Crops are missed only when unreadable; photos also when no face is found.
    let missed = match source.framing {
        Framing::Crops => "unreadable",
        Framing::Photos => "without_face",
    };
    let split = |s: &super::sources::Split| {
        serde_json::json!({
            "female": s.files.count(0),
            "male": s.files.count(1),
            "used": s.faces.len(),
            missed: s.missed,
        })
    };
    let mut training = split(&source.train);
    training["excluded"] = source.excluded.into();
    Ok(SourceReport {
        name: source.name.clone(),
        dir: source.dir.display().to_string(),
        framing: source.framing,
        share: source.share,
        data: serde_json::json!({
            "training": training,
            "validation": split(&source.val),
            "prepared": source.prepared,
        }),
        validation,
        calibration,
        groups,
        loss,
    })
}
