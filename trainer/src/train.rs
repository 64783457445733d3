//! `genderlens train`: the training loop, checkpoints, resume and the exported model.

use crate::adam::AdamW;
use crate::augment::Augmentation;
use crate::calibrate::{calibrate_weights, print_summary, CalibrationReport};
use crate::dataset::{FaceCache, FileList};
use crate::evaluate::evaluate_cache;
use crate::exclusions::Exclusions;
use crate::metrics::Metrics;
use crate::schedule::{judge_epoch, learning_rate, EpochVerdict, EARLY_STOPPING_LR_SHARE};
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use genderlens::model::{GenderNet, INPUT_SIZE, STAGE_CHANNELS};
use genderlens::preprocess::{square_faces_to_tensor, triangle_resize};
use indicatif::{ProgressBar, ProgressStyle};
use rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

#[derive(clap::Args, Clone, Debug, Serialize, Deserialize)]
pub struct TrainArgs {
    /// Dataset in the Kaggle layout: Training/{female,male}, Validation/{female,male}.
    #[arg(long, default_value = "../shared/datasets/gender")]
    pub data: PathBuf,
    /// Where the model (<name>.safetensors + <name>.json) is written.
    #[arg(long, default_value = "models")]
    pub out: PathBuf,
    #[arg(long, default_value = "genderlens")]
    pub name: String,
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Peak learning rate (linear warm-up, then cosine decay to zero).
    #[arg(long, default_value_t = 3e-3)]
    pub lr: f64,
    #[arg(long, default_value_t = 5e-4)]
    pub weight_decay: f64,
    #[arg(long, default_value_t = 0.1)]
    pub label_smoothing: f64,
    /// Stop when the validation loss has not improved for this many epochs, counting only
    /// epochs that end below a tenth of the peak learning rate (earlier ones are too noisy).
    #[arg(long, default_value_t = 3)]
    pub patience: usize,
    /// Run the last N epochs with light augmentation (mild geometry and light, no grey,
    /// washed-out or low-resolution faces). Off by default: a 12-epoch run with 3 light
    /// epochs scored 97.45 % against 97.54 % without (models/README.md).
    #[arg(long, default_value_t = 0)]
    #[serde(default)]
    pub light_epochs: usize,
    /// Run the first N epochs on faces shrunk to --low-res-side pixels (progressive
    /// resizing: 1.8x the images/s of full size at 48 px); the rest run at the network's
    /// full input size, which is what validation and the product use. Default: half of
    /// --epochs, rounded down.
    #[arg(long)]
    #[serde(default = "no_low_res_epochs")]
    pub low_res_epochs: Option<usize>,
    #[arg(long, default_value_t = 48)]
    #[serde(default = "default_low_res_side")]
    pub low_res_side: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output channels of the network's four stages, e.g. 24,48,128,256: wider stages learn
    /// more, train and run slower and make the download larger (8 bits a weight).
    #[arg(long, value_delimiter = ',', default_values_t = STAGE_CHANNELS)]
    #[serde(default = "default_channels")]
    pub channels: Vec<usize>,
    /// Leave these `Training/` images out: a list of paths (first tab-separated field of
    /// each line, matched by class folder and file name), e.g. the suspected label errors
    /// written by `genderlens eval DIR/Training --mistakes FILE --mistakes-min-confidence P`.
    #[arg(long)]
    #[serde(default)]
    pub exclude: Option<PathBuf>,
    /// Use at most this many images per class and split (quick experiments, tests).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Continue from the checkpoint of an interrupted run with the same --out and --name
    /// (the run keeps its own other settings; --epochs may extend it).
    #[arg(long)]
    pub resume: bool,
    /// Stop (as if interrupted, checkpoint saved) after this many batches; for tests.
    #[arg(long, hide = true)]
    pub stop_after_batches: Option<usize>,
}

/// Checkpoints written before small-face epochs existed trained at full size throughout.
fn no_low_res_epochs() -> Option<usize> {
    Some(0)
}

fn default_low_res_side() -> usize {
    48
}

/// Checkpoints written before `--channels` existed have the default widths.
fn default_channels() -> Vec<usize> {
    STAGE_CHANNELS.to_vec()
}

impl TrainArgs {
    /// `--channels` as the network takes it: four positive widths.
    pub fn stage_channels(&self) -> Result<[usize; 4]> {
        match <[usize; 4]>::try_from(self.channels.as_slice()) {
            Ok(channels) if channels.iter().all(|&c| c > 0) => Ok(channels),
            _ => bail!(
                "--channels takes four positive widths, e.g. {}, not {:?}",
                STAGE_CHANNELS.map(|c| c.to_string()).join(","),
                self.channels
            ),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    /// Side of the training faces this epoch (validation always runs at full size).
    #[serde(default = "full_input_side")]
    pub input_side: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub val_loss: f64,
    pub val_accuracy: f64,
    pub seconds: f64,
    pub images_per_second: f64,
}

/// Everything besides tensors that a checkpoint must restore.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Progress {
    args: TrainArgs,
    /// Next epoch to run (0-based) and the batch within it to start from.
    epoch: usize,
    batch: usize,
    optimizer_step: usize,
    history: Vec<EpochRecord>,
    /// Infinite until an epoch is watched (see [`crate::schedule`]); JSON writes it as null.
    #[serde(deserialize_with = "infinity_if_null")]
    best_val_loss: f64,
    epochs_without_improvement: usize,
    /// Partial sums of the interrupted epoch: (loss·n, correct, n, seconds).
    partial: (f64, usize, usize, f64),
    /// Every command that worked on this run (the first, then each --resume).
    #[serde(default)]
    commands: Vec<String>,
    /// Wall-clock seconds the run's earlier processes spent up to their last checkpoint.
    #[serde(default)]
    wall_seconds: f64,
}

fn infinity_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
}

fn full_input_side() -> usize {
    INPUT_SIZE
}

/// Wall-clock time of a run across the processes of `--resume`.
struct WallClock {
    before: f64,
    started: Instant,
}

impl WallClock {
    fn seconds(&self) -> f64 {
        self.before + self.started.elapsed().as_secs_f64()
    }
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// From now on Ctrl-C only asks the run to stop, at a point where its progress is saved.
pub(crate) fn watch_ctrl_c() {
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst));
}

/// Whether Ctrl-C was pressed since [`watch_ctrl_c`].
pub(crate) fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

pub fn run(args: TrainArgs, command: String) -> Result<()> {
    let checkpoint = args
        .out
        .join(format!("{}.checkpoint.safetensors", args.name));
    // Read once: the settings come first (they choose the data), the tensors later.
    let saved = if args.resume {
        Some(read_checkpoint(&checkpoint)?)
    } else {
        None
    };
    let mut args = match &saved {
        Some(tensors) => resumed_settings(tensors, args)?,
        None => args,
    };
    // Fixed now, so a checkpoint resumes with the schedule it started with.
    args.low_res_epochs = Some(args.low_res_epochs.unwrap_or(args.epochs / 2));
    args.stage_channels()?;
    if args.low_res_side < 16 || args.low_res_side > INPUT_SIZE {
        bail!(
            "--low-res-side must be between 16 and {INPUT_SIZE} (four 2x2 poolings), not {}",
            args.low_res_side
        );
    }
    let train_dir = args.data.join("Training");
    let val_dir = args.data.join("Validation");
    let (train_files, excluded) =
        without_excluded(FileList::scan(&train_dir)?, args.exclude.as_deref())?;
    let train_files = limited(train_files, args.limit);
    let val_files = limited(FileList::scan(&val_dir)?, args.limit);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;

    let started = Instant::now();
    let train = load_split("Training", &train_files);
    let val = load_split("Validation", &val_files);
    let decode_seconds = started.elapsed().as_secs_f64();
    for (split, cache) in [("Training", &train), ("Validation", &val)] {
        if cache.is_empty() {
            bail!("no readable images in {split}");
        }
        for (path, why) in cache.skipped.iter().take(5) {
            eprintln!("skipped {}: {why}", path.display());
        }
    }

    let device = Device::Cpu;
    let varmap = VarMap::new();
    let net = GenderNet::with_channels(
        VarBuilder::from_varmap(&varmap, DType::F32, &device),
        args.stage_channels()?,
    )?;
    let mut optimizer = AdamW::new(trainable(&varmap), args.weight_decay)?;
    let mut best_weights = snapshot(&varmap)?;
    let mut progress = if let Some(tensors) = saved {
        let (progress, best) = restore(&tensors, &varmap, &mut optimizer)?;
        if !best.is_empty() {
            best_weights = best; // checkpoints from before best weights were kept lack them
        }
        progress
    } else {
        Progress {
            args: args.clone(),
            epoch: 0,
            batch: 0,
            optimizer_step: 0,
            history: vec![],
            best_val_loss: f64::INFINITY,
            epochs_without_improvement: 0,
            partial: (0.0, 0, 0, 0.0),
            commands: vec![],
            wall_seconds: 0.0,
        }
    };
    progress.commands.push(command.clone());
    if args.resume {
        progress.args = args.clone();
        println!(
            "resuming at epoch {} batch {}",
            progress.epoch + 1,
            progress.batch
        );
    }
    let args = progress.args.clone();
    let wall = WallClock {
        before: progress.wall_seconds,
        started,
    };
    watch_ctrl_c();

    let batches_per_epoch = train.len().div_ceil(args.batch_size);
    let total_steps = batches_per_epoch * args.epochs;
    let warmup_steps = (batches_per_epoch / 2).max(1);
    let mut batches_run = 0usize;

    while progress.epoch < args.epochs {
        let epoch = progress.epoch;
        let low_res = epoch < args.low_res_epochs.unwrap_or(0);
        let augmentation = if epoch + args.light_epochs >= args.epochs {
            Augmentation::light()
        } else {
            Augmentation::default()
        };
        let side = if low_res {
            args.low_res_side
        } else {
            INPUT_SIZE
        };
        let mut order: Vec<usize> = (0..train.len()).collect();
        order.shuffle(&mut StdRng::seed_from_u64(args.seed ^ (epoch as u64) << 32));
        let bar = epoch_bar(epoch, args.epochs, batches_per_epoch);
        bar.set_position(progress.batch as u64);
        let (loss_sum, correct, seen, seconds_before) = progress.partial;
        let mut totals = BatchTotals {
            loss_sum,
            correct,
            seen,
        };
        let epoch_start = Instant::now();

        for batch_index in progress.batch..batches_per_epoch {
            let indices = &order[batch_index * args.batch_size
                ..((batch_index + 1) * args.batch_size).min(train.len())];
            let (inputs, targets) = make_batch(
                &train,
                indices,
                &augmentation,
                args.seed,
                epoch,
                side,
                &device,
            )?;
            optimizer.lr = learning_rate(args.lr, optimizer.step, warmup_steps, total_steps);
            train_step(
                &net,
                &mut optimizer,
                &inputs,
                &targets,
                args.label_smoothing,
                &mut totals,
            )?;
            let elapsed = seconds_before + epoch_start.elapsed().as_secs_f64();
            bar.set_message(totals.message(elapsed));
            bar.inc(1);
            batches_run += 1;
            if bar.is_hidden() && (batch_index + 1) % (batches_per_epoch / 10).max(1) == 0 {
                // No terminal (a log file): a plain line every tenth of an epoch instead.
                println!(
                    "epoch {}/{} batch {}/{batches_per_epoch}: {}",
                    epoch + 1,
                    args.epochs,
                    batch_index + 1,
                    bar.message()
                );
            }

            let stop_requested =
                interrupted() || args.stop_after_batches.is_some_and(|n| batches_run >= n);
            if stop_requested {
                progress.batch = batch_index + 1;
                progress.optimizer_step = optimizer.step;
                progress.partial = (totals.loss_sum, totals.correct, totals.seen, elapsed);
                progress.wall_seconds = wall.seconds();
                save_checkpoint(&checkpoint, &varmap, &best_weights, &optimizer, &progress)?;
                bar.abandon_with_message("interrupted");
                println!("interrupted: checkpoint saved; continue with `genderlens train --resume` (same --out/--name)");
                std::process::exit(130);
            }
        }
        let seconds = seconds_before + epoch_start.elapsed().as_secs_f64();
        bar.finish_and_clear();

        let (val_metrics, val_loss) = evaluate_cache(&net, &val, &device)?;
        let record = EpochRecord {
            epoch: epoch + 1,
            input_side: side,
            train_loss: totals.mean_loss(),
            train_accuracy: totals.accuracy(),
            val_loss,
            val_accuracy: val_metrics.accuracy,
            seconds,
            images_per_second: totals.seen as f64 / seconds,
        };
        let summary = format!(
            "epoch {}/{} ({} px): train loss {:.4} acc {:.2}% | val loss {:.4} acc {:.2}% | {:.0} s, {:.0} img/s",
            record.epoch,
            args.epochs,
            side,
            record.train_loss,
            100.0 * record.train_accuracy,
            record.val_loss,
            100.0 * record.val_accuracy,
            record.seconds,
            record.images_per_second
        );
        progress.history.push(record);
        let lr_share = learning_rate(
            1.0,
            optimizer.step.saturating_sub(1),
            warmup_steps,
            total_steps,
        );
        match judge_epoch(
            EARLY_STOPPING_LR_SHARE,
            lr_share,
            val_loss,
            progress.best_val_loss,
        ) {
            EpochVerdict::Unwatched => {}
            EpochVerdict::Best => {
                progress.best_val_loss = val_loss;
                progress.epochs_without_improvement = 0;
                best_weights = snapshot(&varmap)?;
            }
            // Low-resolution epochs are validated at full size, where they are not yet
            // adapted: they never count towards early stopping.
            EpochVerdict::NoBetter if low_res => {}
            EpochVerdict::NoBetter => progress.epochs_without_improvement += 1,
        }
        progress.epoch += 1;
        progress.batch = 0;
        progress.partial = (0.0, 0, 0, 0.0);
        progress.optimizer_step = optimizer.step;
        progress.wall_seconds = wall.seconds();
        save_checkpoint(&checkpoint, &varmap, &best_weights, &optimizer, &progress)?;
        // Printed once the checkpoint holds the epoch: a run killed after this line loses
        // nothing of it.
        println!("{summary}");
        if progress.epochs_without_improvement >= args.patience {
            println!(
                "early stop: validation loss has not improved for {} epochs",
                args.patience
            );
            break;
        }
    }

    export(
        &args,
        &command,
        &best_weights,
        &progress,
        &train_files,
        &val_files,
        excluded,
        &train,
        &val,
        decode_seconds,
        &wall,
        &device,
    )?;
    std::fs::remove_file(&checkpoint).ok();
    Ok(())
}

/// `list` less the images named in the `--exclude` file, and how many those were.
pub(crate) fn without_excluded(
    list: FileList,
    exclude: Option<&Path>,
) -> Result<(FileList, usize)> {
    let Some(path) = exclude else {
        return Ok((list, 0));
    };
    let exclusions = Exclusions::read(path)?;
    let (list, removed) = exclusions.apply(list);
    println!(
        "Training: {removed} images left out ({} listed in {})",
        exclusions.len(),
        path.display()
    );
    Ok((list, removed))
}

pub(crate) fn limited(mut list: FileList, limit: Option<usize>) -> FileList {
    if let Some(limit) = limit {
        let mut taken = [0usize; 2];
        list.files.retain(|(_, label)| {
            taken[*label as usize] += 1;
            taken[*label as usize] <= limit
        });
    }
    list
}

fn load_split(name: &str, files: &FileList) -> FaceCache {
    let bar = ProgressBar::new(files.files.len() as u64).with_style(
        ProgressStyle::with_template(
            "decoding {prefix:10} [{bar:30}] {pos}/{len} {per_sec} ETA {eta}",
        )
        .expect("template")
        .progress_chars("=> "),
    );
    bar.set_prefix(name.to_string());
    let cache = FaceCache::load(files, &bar);
    bar.finish_and_clear();
    println!(
        "{name}: {} images ({} female, {} male), {} unreadable skipped",
        cache.len(),
        cache.labels.iter().filter(|&&l| l == 0).count(),
        cache.labels.iter().filter(|&&l| l == 1).count(),
        cache.skipped.len()
    );
    cache
}

fn epoch_bar(epoch: usize, epochs: usize, batches: usize) -> ProgressBar {
    let bar = ProgressBar::new(batches as u64).with_style(
        ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} ETA {eta}")
            .expect("template")
            .progress_chars("=> "),
    );
    bar.set_prefix(format!("{}/{}", epoch + 1, epochs));
    bar
}

/// Trainable variables by name: everything except batch-norm running statistics.
pub fn trainable(varmap: &VarMap) -> Vec<(String, Var)> {
    let data = varmap.data().lock().expect("varmap lock");
    let mut vars: Vec<(String, Var)> = data
        .iter()
        .filter(|(name, _)| !name.contains("running_"))
        .map(|(name, var)| (name.clone(), var.clone()))
        .collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars
}

pub(crate) fn snapshot(varmap: &VarMap) -> Result<HashMap<String, Tensor>> {
    let data = varmap.data().lock().expect("varmap lock");
    Ok(data
        .iter()
        .map(|(name, var)| (name.clone(), var.as_tensor().copy().expect("copy")))
        .collect())
}

pub(crate) fn make_batch(
    cache: &FaceCache,
    indices: &[usize],
    augmentation: &Augmentation,
    seed: u64,
    epoch: usize,
    side: usize,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let faces: Vec<_> = indices
        .par_iter()
        .map(|&i| {
            // One RNG per (epoch, image): batches are reproducible, also after --resume.
            let mut rng = StdRng::seed_from_u64(
                seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ ((epoch as u64) << 40) ^ i as u64,
            );
            let face = augmentation.apply(&cache.face(i), &mut rng);
            if side == INPUT_SIZE {
                face
            } else {
                triangle_resize(&face, side as u32, side as u32)
            }
        })
        .collect();
    let labels: Vec<u32> = indices.iter().map(|&i| cache.labels[i]).collect();
    let n = labels.len();
    Ok((
        square_faces_to_tensor(&faces, side, device)?,
        Tensor::from_vec(labels, n, device)?,
    ))
}

/// Loss and accuracy summed over the training batches of an epoch (or a fine-tuning run).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct BatchTotals {
    /// Mean batch loss times batch size, summed.
    pub loss_sum: f64,
    pub correct: usize,
    pub seen: usize,
}

impl BatchTotals {
    pub fn mean_loss(&self) -> f64 {
        self.loss_sum / self.seen.max(1) as f64
    }

    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.seen.max(1) as f64
    }

    /// The progress bar's message after `seconds` of steps.
    pub fn message(&self, seconds: f64) -> String {
        format!(
            "loss {:.3} acc {:.1}% {:.0} img/s",
            self.mean_loss(),
            100.0 * self.accuracy(),
            self.seen as f64 / seconds
        )
    }
}

/// One optimiser step on a batch (forward in training mode, smoothed cross-entropy,
/// backward, AdamW at the optimiser's current learning rate), counted into `totals`.
pub(crate) fn train_step(
    net: &GenderNet,
    optimizer: &mut AdamW,
    inputs: &Tensor,
    targets: &Tensor,
    label_smoothing: f64,
    totals: &mut BatchTotals,
) -> Result<()> {
    let logits = net.forward_t(inputs, true)?;
    let loss = smoothed_cross_entropy(&logits, targets, label_smoothing)?;
    optimizer.step(&loss.backward()?)?;
    let predicted = logits.argmax(1)?.to_vec1::<u32>()?;
    let truth = targets.to_vec1::<u32>()?;
    totals.correct += predicted.iter().zip(&truth).filter(|(p, t)| p == t).count();
    totals.loss_sum += loss.to_scalar::<f32>()? as f64 * truth.len() as f64;
    totals.seen += truth.len();
    Ok(())
}

/// Cross-entropy against targets smoothed towards the uniform distribution.
pub fn smoothed_cross_entropy(
    logits: &Tensor,
    targets: &Tensor,
    smoothing: f64,
) -> candle_core::Result<Tensor> {
    let classes = logits.dim(1)?;
    let log_probs = candle_nn::ops::log_softmax(logits, 1)?;
    let one_hot = candle_nn::encoding::one_hot(targets.clone(), classes, 1f32, 0f32)?;
    let soft = ((one_hot * (1.0 - smoothing))? + smoothing / classes as f64)?;
    (soft * log_probs)?.sum(1)?.mean_all()?.neg()
}

/// Prefix of the best epoch's weights inside a checkpoint (exported at the end even if the
/// run was resumed after them).
const BEST_PREFIX: &str = "best.";

fn save_checkpoint(
    path: &Path,
    varmap: &VarMap,
    best_weights: &HashMap<String, Tensor>,
    optimizer: &AdamW,
    progress: &Progress,
) -> Result<()> {
    let mut tensors = snapshot(varmap)?;
    tensors.extend(optimizer.state());
    tensors.extend(
        best_weights
            .iter()
            .map(|(name, t)| (format!("{BEST_PREFIX}{name}"), t.clone())),
    );
    let meta = serde_json::to_vec(progress)?;
    let n = meta.len();
    tensors.insert("meta.json".into(), Tensor::from_vec(meta, n, &Device::Cpu)?);
    write_atomically(path, |tmp| {
        Ok(candle_core::safetensors::save(&tensors, tmp)?)
    })
}

/// The settings of a resumed run: its own (data, images per class, schedule, …), except
/// where it is written (`--out`, `--name`, which found its checkpoint: the folder may have
/// moved) and how long it runs (`--epochs`, so a run can be extended).
fn resumed_settings(checkpoint: &HashMap<String, Tensor>, given: TrainArgs) -> Result<TrainArgs> {
    let saved = checkpoint_progress(checkpoint)?.args;
    Ok(TrainArgs {
        out: given.out,
        name: given.name,
        epochs: given.epochs,
        resume: true,
        stop_after_batches: given.stop_after_batches,
        ..saved
    })
}

fn read_checkpoint(path: &Path) -> Result<HashMap<String, Tensor>> {
    if !path.exists() {
        bail!("no checkpoint to resume at {}", path.display());
    }
    candle_core::safetensors::load(path, &Device::Cpu)
        .with_context(|| format!("reading checkpoint {}", path.display()))
}

fn checkpoint_progress(tensors: &HashMap<String, Tensor>) -> Result<Progress> {
    let meta = tensors
        .get("meta.json")
        .context("checkpoint has no meta.json")?
        .to_vec1::<u8>()?;
    serde_json::from_slice(&meta).context("checkpoint metadata")
}

/// Loads a checkpoint into the model and optimiser; returns the progress and the best
/// epoch's weights.
fn restore(
    tensors: &HashMap<String, Tensor>,
    varmap: &VarMap,
    optimizer: &mut AdamW,
) -> Result<(Progress, HashMap<String, Tensor>)> {
    let progress = checkpoint_progress(tensors)?;
    for (name, var) in varmap.data().lock().expect("varmap lock").iter() {
        let saved = tensors
            .get(name)
            .with_context(|| format!("checkpoint lacks tensor {name}"))?;
        var.set(saved)
            .with_context(|| format!("checkpoint tensor {name}"))?;
    }
    optimizer.load_state(tensors, progress.optimizer_step)?;
    let best = tensors
        .iter()
        .filter_map(|(name, t)| Some((name.strip_prefix(BEST_PREFIX)?.to_string(), t.clone())))
        .collect();
    Ok((progress, best))
}

/// Writes through a temporary file in the same folder, then renames: a killed process
/// never leaves a half-written file under the final name.
pub fn write_atomically(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    write(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

/// Applies `edit` to the model JSON at `path`, appends `command` to its `commands` and
/// rewrites it atomically; `Ok(false)` when there is no JSON beside the weights.
pub fn update_model_json(
    path: &Path,
    command: &str,
    edit: impl FnOnce(&mut serde_json::Value) -> Result<()>,
) -> Result<bool> {
    if !path.exists() {
        return Ok(false);
    }
    let text = std::fs::read_to_string(path)?;
    let mut json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    edit(&mut json)?;
    if let Some(commands) = json["commands"].as_array_mut() {
        commands.push(command.into());
    }
    write_atomically(path, |tmp| {
        Ok(std::fs::write(
            tmp,
            serde_json::to_string_pretty(&json)? + "\n",
        )?)
    })?;
    Ok(true)
}

#[derive(Serialize)]
struct ModelReport<'a> {
    name: &'a str,
    command: &'a str,
    /// All commands of the run when it was interrupted and resumed.
    commands: &'a [String],
    dtype: &'static str,
    weights_bytes: u64,
    input_size: usize,
    stage_channels: [usize; 4],
    data: serde_json::Value,
    settings: &'a TrainArgs,
    augmentation: Augmentation,
    /// The ranges of the last `settings.light_epochs` epochs (if any).
    light_augmentation: Augmentation,
    epochs_run: usize,
    decode_seconds: f64,
    train_seconds: f64,
    /// From the start of `train` to this report: decoding, every epoch, validation,
    /// calibration and export, summed over the processes of a resumed run (up to each one's
    /// last checkpoint; time between them is not counted).
    wall_seconds: f64,
    history: &'a [EpochRecord],
    validation: Metrics,
    validation_loss: f64,
    calibration: CalibrationReport,
}

/// How exported weights are stored (the model JSON's `dtype`).
pub const STORED_AS: &str = "int8+f16";

/// Exported form of trained weights: f16, then the large convolutions in 8 bits
/// ([`genderlens::quantize`]).
pub fn compact_weights(weights: &HashMap<String, Tensor>) -> Result<HashMap<String, Tensor>> {
    let half: HashMap<String, Tensor> = weights
        .iter()
        .map(|(k, v)| Ok((k.clone(), v.to_dtype(DType::F16)?)))
        .collect::<Result<_>>()?;
    Ok(genderlens::quantize::quantize(&half)?)
}

#[allow(clippy::too_many_arguments)]
fn export(
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
    let stored = compact_weights(weights)?;
    let model_path = args.out.join(format!("{}.safetensors", args.name));
    write_atomically(&model_path, |tmp| {
        Ok(candle_core::safetensors::save(&stored, tmp)?)
    })?;
    let calibration = calibrate_weights(&model_path, val, "Validation")?;
    let bytes = std::fs::read(&model_path)?;
    let net = genderlens::model::load_from_safetensors(&bytes, device)?;
    let (validation, validation_loss) = evaluate_cache(&net, val, device)?;
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
    let (curves, confusion) = crate::plots::charts_from_report(&json_path)?;
    println!("charts: {} and {}", curves.display(), confusion.display());
    Ok(())
}
