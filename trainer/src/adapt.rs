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
//! evens the two error rates out (see [`crate::balance`]): it is always fitted on the
//! out-of-fold predictions and measured with offsets fitted without each fold, and `--balance`
//! builds it into the exported model.
//!
//! Each finished fold is saved (see [`crate::adapt_progress`]): Ctrl-C or a killed process
//! loses at most the fold it was in, and `--resume` continues.

use crate::adam::AdamW;
use crate::adapt_progress::{fnv1a, FoldProgress};
use crate::augment::Augmentation;
use crate::balance::{balancing_offset, nested_offsets, shifted, Scored};
use crate::calibrate::{cache_logits, calibrate_weights, print_summary};
use crate::dataset::{FaceCache, FileList};
use crate::eval::Outcome;
use crate::evaluate::evaluate_cache;
use crate::metrics::Metrics;
use crate::report::{faces_ece, group_rows, print_table, GroupRow};
use crate::schedule::learning_rate;
use crate::train::{
    compact_weights, interrupted, limited, make_batch, snapshot, train_step, trainable,
    update_model_json, watch_ctrl_c, without_excluded, write_atomically, BatchTotals, STORED_AS,
};
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use genderlens::calibration::{p_male, verdict};
use genderlens::decode::decode_image;
use genderlens::model::{stage_channels, GenderNet, INPUT_SIZE};
use genderlens::{Classifier, Face, Pipeline};
use indicatif::{ProgressBar, ProgressStyle};
use rand::{rngs::StdRng, seq::SliceRandom, Rng, SeedableRng};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args, Clone, Debug, Serialize)]
pub struct AdaptArgs {
    /// Labelled photos of the target domain (`female/`, `male/`), e.g. utk-dev.
    pub dir: PathBuf,
    /// The trained model to start from.
    #[arg(long, default_value = "models/genderlens.safetensors")]
    pub model: PathBuf,
    /// Its training data (Kaggle layout): `Training/` is mixed into every batch,
    /// `Validation/` re-measures the model and refits its calibration.
    #[arg(long, default_value = "../shared/datasets/gender")]
    pub data: PathBuf,
    /// Leave these `Training/` images out of the mixed batches (as `train --exclude`).
    #[arg(long)]
    pub exclude: Option<PathBuf>,
    #[arg(long, default_value = "models")]
    pub out: PathBuf,
    #[arg(long, default_value = "genderlens")]
    pub name: String,
    /// Cross-validation folds over DIR.
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// Optimiser steps of each fine-tuning run.
    #[arg(long, default_value_t = 400)]
    pub steps: usize,
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Share of each batch drawn from DIR (the rest from `Training/`).
    #[arg(long, default_value_t = 0.5)]
    pub target_share: f64,
    /// Peak learning rate (short warm-up, then cosine decay to zero).
    #[arg(long, default_value_t = 5e-4)]
    pub lr: f64,
    #[arg(long, default_value_t = 5e-4)]
    pub weight_decay: f64,
    #[arg(long, default_value_t = 0.1)]
    pub label_smoothing: f64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Run only the first N folds (quick experiments; the JSON records `folds_run`).
    #[arg(long, hide = true)]
    pub only_folds: Option<usize>,
    /// Use at most this many `Training/` and `Validation/` images per class (tests).
    #[arg(long, hide = true)]
    pub limit: Option<usize>,
    /// Move the exported model's decision boundary to where women and men of DIR are
    /// misclassified equally often (measured out of fold either way).
    #[arg(long)]
    pub balance: bool,
    /// Continue an interrupted run with the same settings, --out and --name: the folds it
    /// finished are not run again.
    #[arg(long)]
    pub resume: bool,
    /// Stop (as if interrupted, progress saved) once this many folds are done; for tests.
    #[arg(long, hide = true)]
    pub stop_after_folds: Option<usize>,
}

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
    /// Expected calibration error of the out-of-fold probabilities (detected faces).
    ece: f64,
    seconds: f64,
}

/// The faces of DIR, one per readable image with a detected face.
struct TargetFaces {
    files: FileList,
    /// Index into `files` of each crop, in crop order.
    image_of_crop: Vec<usize>,
    crops: FaceCache,
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

    let target = detect_faces(files, &base_bytes)?;
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
    let base_logits = cache_logits(
        base.net(),
        &target.crops,
        0..target.crops.len(),
        &Device::Cpu,
    )?;
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
    let model_path = export(&args, &weights)?;
    let val = load_limited(&args.data.join("Validation"), None, args.limit)?;
    let calibration = calibrate_weights(&model_path, &val, "Validation")?;
    print_summary(&calibration);
    let bytes = std::fs::read(&model_path)?;
    let net = genderlens::model::load_from_safetensors(&bytes, &Device::Cpu)?;
    let (validation, validation_loss) = evaluate_cache(&net, &val, &Device::Cpu)?;
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
    let (groups, ece) = if all_folds {
        let groups = group_rows(&target.files, &outcomes);
        println!("out of fold, by group:");
        print_table(&groups);
        (groups, faces_ece(&target.files, &outcomes))
    } else {
        (vec![], f64::NAN)
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
        ece,
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
fn fingerprint(args: &AdaptArgs, model: &[u8], target: &TargetFaces) -> Result<serde_json::Value> {
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

/// Runs the product's detector on every image and keeps the most confident face's
/// crop, exactly as `analyze` would classify it.
fn detect_faces(files: FileList, model: &[u8]) -> Result<TargetFaces> {
    let crops: Vec<Option<image::RgbImage>> = files
        .files
        .par_iter()
        .map_init(
            || Pipeline::new(Classifier::from_safetensors(model).expect("loaded once already")),
            |pipeline, (path, _)| {
                let image = decode_image(&std::fs::read(path).ok()?).ok()?;
                pipeline.face_crops(&image).1.into_iter().next()
            },
        )
        .collect();
    let mut target = TargetFaces {
        image_of_crop: vec![],
        crops: FaceCache::default(),
        files,
    };
    for (i, crop) in crops.into_iter().enumerate() {
        if let Some(crop) = crop {
            target.crops.push(&crop, target.files.files[i].1);
            target.image_of_crop.push(i);
        }
    }
    Ok(target)
}

/// Fold number of each item: each class shuffled on its own and dealt round-robin, so every
/// fold has the classes in the proportions of the whole.
fn stratified_folds(labels: &[u32], folds: usize, seed: u64) -> Vec<usize> {
    let mut fold_of = vec![0; labels.len()];
    let mut rng = StdRng::seed_from_u64(seed);
    for class in 0..2u32 {
        let mut members: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        members.shuffle(&mut rng);
        for (k, i) in members.into_iter().enumerate() {
            fold_of[i] = k % folds;
        }
    }
    fold_of
}

/// Fine-tunes `base` for `args.steps` steps on batches mixing `target` indices of `pool`
/// (share `args.target_share`) with its first `source_len` images.
fn fine_tune(
    args: &AdaptArgs,
    base: &HashMap<String, Tensor>,
    pool: &FaceCache,
    source_len: usize,
    target: &[usize],
    label: &str,
) -> Result<Option<HashMap<String, Tensor>>> {
    let device = Device::Cpu;
    let varmap = VarMap::new();
    let net = GenderNet::with_channels(
        VarBuilder::from_varmap(&varmap, DType::F32, &device),
        stage_channels(base)?,
    )?;
    for (name, var) in varmap.data().lock().expect("varmap lock").iter() {
        let weights = base
            .get(name)
            .with_context(|| format!("the model lacks `{name}`"))?;
        var.set(&weights.to_dtype(DType::F32)?)?;
    }
    let mut optimizer = AdamW::new(trainable(&varmap), args.weight_decay)?;
    let augmentation = Augmentation::default();
    let mut rng = StdRng::seed_from_u64(args.seed ^ 0xADA9);
    let from_target =
        ((args.batch_size as f64 * args.target_share).round() as usize).min(args.batch_size);
    let bar = ProgressBar::new(args.steps as u64).with_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ETA {eta}")
            .expect("template")
            .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    let started = Instant::now();
    let mut totals = BatchTotals::default();
    for step in 0..args.steps {
        if interrupted() {
            bar.abandon_with_message("interrupted");
            return Ok(None);
        }
        let indices: Vec<usize> = (0..args.batch_size)
            .map(|k| {
                if k < from_target {
                    target[rng.random_range(0..target.len())]
                } else {
                    rng.random_range(0..source_len)
                }
            })
            .collect();
        let (inputs, targets) = make_batch(
            pool,
            &indices,
            &augmentation,
            args.seed,
            step,
            INPUT_SIZE,
            &device,
        )?;
        optimizer.lr = learning_rate(args.lr, step, args.steps / 20, args.steps);
        train_step(
            &net,
            &mut optimizer,
            &inputs,
            &targets,
            args.label_smoothing,
            &mut totals,
        )?;
        bar.set_message(totals.message(started.elapsed().as_secs_f64()));
        bar.inc(1);
    }
    bar.finish_and_clear();
    println!(
        "{label}: {} steps in {:.0} s, train loss {:.4}",
        args.steps,
        started.elapsed().as_secs_f64(),
        totals.mean_loss()
    );
    Ok(Some(snapshot(&varmap)?))
}

/// The network with its weights rounded the way `export` stores them (8-bit and f16),
/// run in f32: within 0.01 of the integer path's logits.
fn net_from(weights: &HashMap<String, Tensor>) -> Result<GenderNet> {
    let stored = genderlens::quantize::dequantize(compact_weights(weights)?)?;
    let channels = stage_channels(&stored)?;
    Ok(GenderNet::with_channels(
        VarBuilder::from_tensors(stored, DType::F32, &Device::Cpu),
        channels,
    )?)
}

/// Metrics over the images of DIR from each crop's logits (`None`: its fold did not run);
/// when every fold ran, an image without a face counts as wrong.
fn target_metrics(
    target: &TargetFaces,
    all_folds: bool,
    logits: impl Fn(usize) -> Option<[f32; 2]>,
) -> Metrics {
    let mut crop_of_image = vec![None; target.files.files.len()];
    for (c, &i) in target.image_of_crop.iter().enumerate() {
        crop_of_image[i] = Some(c);
    }
    let (truth, predicted): (Vec<u32>, Vec<u32>) = target
        .files
        .files
        .iter()
        .enumerate()
        .filter_map(|(i, &(_, label))| {
            let predicted = match crop_of_image[i] {
                // None: the crop's fold did not run (`--only-folds`).
                Some(c) => u32::from(logits(c).map(|l| l[1] > l[0])?),
                None if all_folds => 1 - label, // no face: wrong
                None => return None,
            };
            Some((label, predicted))
        })
        .unzip();
    Metrics::from_predictions(&truth, &predicted)
}

fn outcomes(
    target: &TargetFaces,
    logits: impl Fn(usize) -> Option<[f32; 2]>,
    temperature: f32,
) -> Vec<Outcome> {
    let mut outcomes: Vec<Outcome> = target.files.files.iter().map(|_| Outcome::NoFace).collect();
    for (c, &i) in target.image_of_crop.iter().enumerate() {
        if let Some(l) = logits(c) {
            let p = p_male(l, temperature);
            outcomes[i] = Outcome::Face(Face {
                bbox: [0.0; 4],
                verdict: verdict(p),
                p_male: p,
                detector_score: None,
            });
        }
    }
    outcomes
}

/// Each fold's offset (fitted without it) and the one fitted on every out-of-fold face.
fn decision_offsets(
    target: &TargetFaces,
    logits: &[Option<[f32; 2]>],
    fold_of: &[usize],
    folds: usize,
) -> (Vec<f32>, f32) {
    let (faces, folds_of): (Vec<Scored>, Vec<usize>) = (0..target.crops.len())
        .filter_map(|c| {
            let l = logits[c]?;
            Some(((l[1] - l[0], target.crops.labels[c]), fold_of[c]))
        })
        .unzip();
    // Share of each class's images without a face: wrong whatever the offset.
    let missed = [0, 1].map(|class| {
        let images = target.files.files.iter().filter(|f| f.1 == class).count();
        let found = target.crops.labels.iter().filter(|&&l| l == class).count();
        (images - found) as f64 / images.max(1) as f64
    });
    (
        nested_offsets(&faces, &folds_of, folds, missed),
        balancing_offset(&faces, missed),
    )
}

/// The weights with the offset added to the male logit's bias: the stored model applies it
/// without any change to the inference code.
fn with_decision_offset(
    mut weights: HashMap<String, Tensor>,
    offset: f32,
) -> Result<HashMap<String, Tensor>> {
    let bias = weights
        .get("head.bias")
        .context("the model lacks `head.bias`")?;
    let moved = (bias + Tensor::new(&[0.0, offset], bias.device())?.to_dtype(bias.dtype())?)?;
    weights.insert("head.bias".to_string(), moved);
    Ok(weights)
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

/// Writes the weights to `<out>/<name>.safetensors` (`run` created `out` at the start).
fn export(args: &AdaptArgs, weights: &HashMap<String, Tensor>) -> Result<PathBuf> {
    let path = args.out.join(format!("{}.safetensors", args.name));
    let stored = compact_weights(weights)?;
    write_atomically(&path, |tmp| {
        Ok(candle_core::safetensors::save(&stored, tmp)?)
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decision_offset_moves_only_the_male_logit() {
        let weights = HashMap::from([
            (
                "head.bias".to_string(),
                Tensor::new(&[0.25f32, -0.5], &Device::Cpu).unwrap(),
            ),
            (
                "head.weight".to_string(),
                Tensor::ones((2, 3), DType::F32, &Device::Cpu).unwrap(),
            ),
        ]);
        let moved = with_decision_offset(weights, -0.75).unwrap();
        let bias: Vec<f32> = moved["head.bias"].to_vec1().unwrap();
        assert_eq!(bias, [0.25, -1.25]);
        let weight: Vec<Vec<f32>> = moved["head.weight"].to_vec2().unwrap();
        assert_eq!(weight, [[1.0; 3], [1.0; 3]]);
        assert!(with_decision_offset(HashMap::new(), 1.0).is_err());
    }
}
