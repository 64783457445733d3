//! `genderlens adapt DIR`: fine-tunes a trained model on labelled photos of the kind it will
//! meet (`DIR/female`, `DIR/male`, faces found and cropped by the product's own detector),
//! mixed with its training crops so it keeps what it learned there.
//!
//! Training on DIR makes DIR useless as a plain test set, so the gain is measured by k-fold
//! cross-validation first: every image of DIR is predicted by a model fine-tuned without it.
//! Those out-of-fold numbers are the ones to quote; the model exported at the end is then
//! fine-tuned on all of DIR the same way.
//!
//! The adapted network may still err more on one sex than the other. One offset on its logits
//! evens the two error rates out (see [`balance`]): it is always fitted on the
//! out-of-fold predictions and measured with offsets fitted without each fold, and `--balance`
//! builds it into the exported model.
//!
//! Each finished fold is saved (see [`progress`]): Ctrl-C or a killed process
//! loses at most the fold it was in, and `--resume` continues.

mod args;
mod balance;
mod fine_tune;
mod folds;
mod progress;

pub use args::AdaptArgs;

use crate::data::augment::Augmentation;
use crate::data::detected::{detect_faces, DetectedFaces};
use crate::data::exclusions::without_excluded;
use crate::data::folders::{limited, FaceCache, FileList};
use crate::digest::fnv1a;
use crate::measure::ece::CalibrationError;
use crate::measure::groups::{faces_calibration_error, group_rows, print_table, GroupRow};
use crate::measure::logits::{cache_logits, metrics_and_loss};
use crate::measure::metrics::Metrics;
use crate::measure::temperature::{calibrate_weights, print_summary};
use crate::model_file::{save_compact, update_model_json, write_framing, STORED_AS};
use crate::training::interrupt::watch_ctrl_c;
use anyhow::{bail, Context, Result};
use balance::shifted;
use candle_core::{Device, Tensor};
use fine_tune::{fine_tune, net_from, with_decision_offset};
use folds::{decision_offsets, outcomes, stratified_folds, target_metrics};
use genderlens::classifier::crop::Framing;
use genderlens::Classifier;
use indicatif::ProgressBar;
use progress::FoldProgress;
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

/// Settings that may change between the processes of one run (where the result goes, how
/// many folds to run now, resuming); every other one would make the saved folds differ.
/// The starting model counts by its bytes, not its path.
const RESUMABLE_SETTINGS: [&str; 7] = [
    "model",
    "balance",
    "out",
    "name",
    "only_folds",
    "resume",
    "stop_after_folds",
];

/// Out-of-fold results, as stored in the model JSON.
#[derive(Serialize)]
struct CrossValidation {
    dir: String,
    folds: usize,
    /// Folds actually run; `after` covers only their images when fewer than `folds`.
    folds_run: usize,
    images: usize,
    faces_found: usize,
    /// The starting model on the same images (it never saw any of them).
    before: Metrics,
    /// Each image predicted by the fold model that did not train on it, at the network's own
    /// boundary; no face counts as wrong, as in `genderlens eval --mode detect`.
    after: Metrics,
    /// `after` with each fold's logits moved by the offset fitted on the other folds: what a
    /// model balanced on all folds does on photos it has not seen.
    balanced: Metrics,
    /// The offset of each fold, fitted on the others.
    fold_offsets: Vec<f32>,
    /// Whether the exported model is balanced: `groups` and `ece` then describe `balanced`,
    /// otherwise `after`.
    balance_applied: bool,
    /// By sex, race and age band, as the exported model decides (its temperature).
    groups: Vec<GroupRow>,
    /// Calibration error of the out-of-fold probabilities (detected faces; every fold run).
    #[serde(flatten)]
    calibration: Option<CalibrationError>,
    seconds: f64,
}

pub fn run(args: AdaptArgs, command: &str) -> Result<()> {
    if args.folds < 2 {
        bail!("--folds must be at least 2, not {}", args.folds);
    }
    if !(0.0..=1.0).contains(&args.target_share) {
        bail!("--target-share must be between 0 and 1");
    }
    let started = Instant::now();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let progress_path = FoldProgress::path(&args.out, &args.name);
    let saved = if args.resume {
        Some(FoldProgress::load(&progress_path)?)
    } else {
        None
    };
    let files = FileList::scan(&args.dir)?;
    let base_bytes =
        std::fs::read(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    let base = Classifier::from_safetensors(&base_bytes)
        .with_context(|| format!("loading {}", args.model.display()))?;
    let base_weights = genderlens::quantize::dequantize(candle_core::safetensors::load_buffer(
        &base_bytes,
        &Device::Cpu,
    )?)?;

    let target = detect_faces(files, base.framing(), &ProgressBar::hidden());
    println!(
        "{}: {} images, faces found in {}",
        args.dir.display(),
        target.files.files.len(),
        target.crops.len()
    );
    if target.crops.len() < args.folds {
        bail!(
            "{} has too few faces for {} folds",
            args.dir.display(),
            args.folds
        );
    }
    let mut pool = load_limited(
        &args.data.join("Training"),
        args.exclude.as_deref(),
        args.limit,
    )?;
    let source_len = pool.len();
    for i in 0..target.crops.len() {
        pool.push(&target.crops.face(i), target.crops.labels[i]);
    }

    let fingerprint = fingerprint(&args, &base_bytes, &target)?;
    let mut progress = match saved {
        Some(saved) => saved.matching(&fingerprint, &progress_path)?,
        None => FoldProgress::start(fingerprint, target.crops.len()),
    };
    progress.commands.push(command.to_string());
    let seconds_before = progress.seconds;
    watch_ctrl_c();

    // Out-of-fold logits: each fold's model predicts the crops it did not train on.
    let fold_of = stratified_folds(&target.crops.labels, args.folds, args.seed);
    let folds_to_run = args.only_folds.unwrap_or(args.folds).min(args.folds);
    for fold in 0..folds_to_run {
        if progress.folds_done.contains(&fold) {
            println!(
                "fold {}/{}: done by an earlier process",
                fold + 1,
                args.folds
            );
            continue;
        }
        let training: Vec<usize> = (0..target.crops.len())
            .filter(|&i| fold_of[i] != fold)
            .map(|i| source_len + i)
            .collect();
        let label = format!("fold {}/{}", fold + 1, args.folds);
        let Some(weights) = fine_tune(&args, &base_weights, &pool, source_len, &training, &label)?
        else {
            stop(&progress, args.folds);
        };
        let net = net_from(&weights)?;
        let held_out: Vec<usize> = (0..target.crops.len())
            .filter(|&i| fold_of[i] == fold)
            .collect();
        let logits = cache_logits(&net, &target.crops, held_out.iter().copied(), &Device::Cpu)?;
        for (&i, l) in held_out.iter().zip(logits) {
            progress.logits[i] = Some(l);
        }
        progress.folds_done.push(fold);
        progress.seconds = seconds_before + started.elapsed().as_secs_f64();
        progress.save(&progress_path)?;
        if args.stop_after_folds == Some(progress.folds_done.len()) {
            stop(&progress, args.folds);
        }
    }
    let held_out_logits = &progress.logits;
    let base_logits = cache_logits(&base, &target.crops, 0..target.crops.len(), &Device::Cpu)?;
    let cv_seconds = progress.seconds;
    let all_folds = folds_to_run == args.folds;
    let before = target_metrics(&target, all_folds, |i| {
        held_out_logits[i].map(|_| base_logits[i])
    });
    let after = target_metrics(&target, all_folds, |i| held_out_logits[i]);
    let (fold_offsets, fitted_offset) =
        decision_offsets(&target, held_out_logits, &fold_of, args.folds);
    let balanced_logits =
        |i: usize| held_out_logits[i].map(|l| shifted(l, fold_offsets[fold_of[i]]));
    let balanced = target_metrics(&target, all_folds, balanced_logits);
    print_comparison(&[
        ("before", &before),
        ("after (out of fold)", &after),
        ("balanced (out of fold)", &balanced),
    ]);
    let offset = if args.balance { fitted_offset } else { 0.0 };
    println!(
        "balancing offset on the logit difference (male - female): {fitted_offset:+.3}, {}",
        if args.balance {
            "applied"
        } else {
            "not applied (--balance applies it)"
        }
    );

    let all: Vec<usize> = (source_len..pool.len()).collect();
    let Some(weights) = fine_tune(&args, &base_weights, &pool, source_len, &all, "all of DIR")?
    else {
        stop(&progress, args.folds);
    };
    let weights = with_decision_offset(weights, offset)?;
    drop(pool);
    let model_path = export(&args, &weights, base.framing())?;
    let val = load_limited(&args.data.join("Validation"), None, args.limit)?;
    let calibration = calibrate_weights(&model_path, &val, "Validation")?;
    print_summary(&calibration);
    let bytes = std::fs::read(&model_path)?;
    let net = genderlens::Classifier::from_safetensors(&bytes)?;
    let (validation, validation_loss) = metrics_and_loss(&net, &val, &Device::Cpu)?;
    println!(
        "exported {} ({} bytes): Kaggle validation accuracy {:.2}% on {} images",
        model_path.display(),
        bytes.len(),
        100.0 * validation.accuracy,
        validation.images
    );

    // The out-of-fold logits as the exported model would decide them.
    let exported_logits = |i: usize| {
        if args.balance {
            balanced_logits(i)
        } else {
            held_out_logits[i]
        }
    };
    let outcomes = outcomes(&target, exported_logits, calibration.temperature);
    // By group only when every image has its out-of-fold prediction.
    let (groups, out_of_fold_calibration) = if all_folds {
        let groups = group_rows(&target.files, &outcomes);
        println!("out of fold, by group:");
        print_table(&groups);
        let calibration_error = faces_calibration_error(&target.files, &outcomes);
        (groups, Some(calibration_error))
    } else {
        (vec![], None)
    };
    let cross_validation = CrossValidation {
        dir: args.dir.display().to_string(),
        folds: args.folds,
        folds_run: folds_to_run,
        images: target.files.files.len(),
        faces_found: target.crops.len(),
        before,
        after,
        balanced,
        fold_offsets,
        balance_applied: args.balance,
        groups,
        calibration: out_of_fold_calibration,
        seconds: cv_seconds,
    };
    let adaptation = serde_json::json!({
        "command": progress.commands[0],
        "commands": progress.commands,
        "from": args.model.display().to_string(),
        "settings": &args,
        "augmentation": Augmentation::default(),
        "decision_offset": offset,
        "balancing_offset": fitted_offset,
        "cross_validation": cross_validation,
        "seconds": seconds_before + started.elapsed().as_secs_f64(),
    });
    let json_path = model_path.with_extension("json");
    let base_json = args.model.with_extension("json");
    if base_json != json_path && base_json.exists() {
        std::fs::copy(&base_json, &json_path)?;
    } else if !json_path.exists() {
        std::fs::write(&json_path, "{\"commands\": []}\n")?;
    }
    update_model_json(&json_path, command, |json| {
        json["adaptation"] = adaptation;
        json["validation"] = serde_json::to_value(&validation)?;
        json["validation_loss"] = validation_loss.into();
        json["calibration"] = serde_json::to_value(&calibration)?;
        json["weights_bytes"] = bytes.len().into();
        json["dtype"] = STORED_AS.into();
        Ok(())
    })?;
    println!("wrote {}", json_path.display());
    std::fs::remove_file(&progress_path).ok();
    Ok(())
}

/// Ends an interrupted run whose finished folds are saved.
fn stop(progress: &FoldProgress, folds: usize) -> ! {
    println!(
        "interrupted: {} of {folds} folds saved; continue with `genderlens adapt ... --resume` \
         (same settings, --out and --name)",
        progress.folds_done.len()
    );
    std::process::exit(130);
}

/// The settings, starting model and faces found that the saved folds depend on.
fn fingerprint(
    args: &AdaptArgs,
    model: &[u8],
    target: &DetectedFaces,
) -> Result<serde_json::Value> {
    let mut settings = serde_json::to_value(args)?;
    let object = settings.as_object_mut().expect("settings are an object");
    for key in RESUMABLE_SETTINGS {
        object.remove(key);
    }
    let images = target.files.files.iter().flat_map(|(path, label)| {
        let path = path.to_string_lossy().into_owned().into_bytes();
        path.into_iter().chain(label.to_le_bytes())
    });
    let crops = target.image_of_crop.iter().flat_map(|i| i.to_le_bytes());
    Ok(serde_json::json!({
        "settings": settings,
        "model_fnv1a": format!("{:016x}", fnv1a(model.iter().copied())),
        "images_fnv1a": format!("{:016x}", fnv1a(images.chain(crops))),
    }))
}

fn load_limited(
    dir: &std::path::Path,
    exclude: Option<&std::path::Path>,
    limit: Option<usize>,
) -> Result<FaceCache> {
    let (files, _) = without_excluded(FileList::scan(dir)?, exclude)?;
    let cache = FaceCache::load(&limited(files, limit), &ProgressBar::hidden());
    if cache.is_empty() {
        bail!("no readable images in {}", dir.display());
    }
    Ok(cache)
}

fn print_comparison(rows: &[(&str, &Metrics)]) {
    for &(name, m) in rows {
        println!(
            "{name}: accuracy {:.2}% (female {:.2}%, male {:.2}%) on {} images",
            100.0 * m.accuracy,
            100.0 * m.accuracy_female,
            100.0 * m.accuracy_male,
            m.images
        );
    }
}

/// Writes the weights to `<out>/<name>.safetensors` (`run` created `out` at the start), with
/// the base model's crop framing: its faces were cut so.
fn export(
    args: &AdaptArgs,
    weights: &HashMap<String, Tensor>,
    framing: Framing,
) -> Result<PathBuf> {
    let path = args.out.join(format!("{}.safetensors", args.name));
    save_compact(&path, weights)?;
    write_framing(&path, framing)?;
    Ok(path)
}
