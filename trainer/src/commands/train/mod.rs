//! `genderlens train`: the training loop. Its settings are in `args`, its data and each
//! source's share of a batch in `sources`, what an interrupted run saves in `checkpoint`, the
//! exported model and its report in `export`.

mod args;
mod boost;
mod checkpoint;
mod export;
mod sources;

pub use args::TrainArgs;

use crate::data::augment::Augmentation;
use crate::data::batch::make_batch;
use crate::data::folders::FaceCache;
use crate::data::mixing::Mixer;
use crate::measure::logits::metrics_and_loss;
use crate::model_file::{EpochRecord, SourceScore};
use crate::training::adam::AdamW;
use crate::training::age_task::{AgeTargets, AGE_BAND_STARTS};
use crate::training::interrupt::{interrupted, watch_ctrl_c};
use crate::training::schedule::{
    judge_epoch, learning_rate, EpochVerdict, EARLY_STOPPING_LR_SHARE,
};
use crate::training::step::{snapshot, train_step, trainable, AgeTask, BatchTotals};
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use checkpoint::{
    read_checkpoint, restore, resumed_settings, save_checkpoint, Progress, WallClock,
};
use genderlens::classifier::model::{GenderNet, INPUT_SIZE};
use indicatif::{ProgressBar, ProgressStyle};
use sources::{load_sources, Source};
use std::time::Instant;

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
    let boosts = boost::parse_all(&args.boosts)?;
    if args.low_res_side < 16 || args.low_res_side > INPUT_SIZE {
        bail!(
            "--low-res-side must be between 16 and {INPUT_SIZE} (four 2x2 poolings), not {}",
            args.low_res_side
        );
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;

    let started = Instant::now();
    let sources = load_sources(&args)?;
    let decode_seconds = started.elapsed().as_secs_f64();
    let mut train = FaceCache::default();
    for source in &sources {
        train.append(&source.train.faces);
    }
    // Each training face's age as its file name gives it: for `--boost`, and in pool order
    // for `--age-weight`.
    let source_ages: Vec<Vec<Option<u32>>> = sources.iter().map(|s| s.train.ages()).collect();
    let ages = source_ages.concat();
    let age_task = args.age_weight > 0.0;
    if age_task && ages.iter().all(Option::is_none) {
        bail!(
            "--age-weight: no training file name gives an age (UTKFace and All-Age-Faces names do)"
        );
    }

    let device = Device::Cpu;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
    let net = if age_task {
        GenderNet::with_age_head(vb, args.stage_channels()?, AGE_BAND_STARTS.len())?
    } else {
        GenderNet::with_channels(vb, args.stage_channels()?)?
    };
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

    let repeats = boost::source_repeats(&boosts, &sources, &source_ages);
    let shares: Vec<f64> = sources.iter().map(|s| s.share).collect();
    let mut mixer = Mixer::new(&repeats, &shares, args.batch_size, args.seed)?;
    if sources.len() > 1 {
        let mix: Vec<String> = sources
            .iter()
            .zip(mixer.per_batch())
            .map(|(s, n)| format!("{} {n}", s.name))
            .collect();
        println!("each batch of {}: {}", args.batch_size, mix.join(", "));
    }
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
        let bar = epoch_bar(epoch, args.epochs, batches_per_epoch);
        bar.set_position(progress.batch as u64);
        let (loss_sum, correct, seen, seconds_before) = progress.partial;
        let mut totals = BatchTotals {
            loss_sum,
            correct,
            seen,
            ..BatchTotals::default()
        };
        let epoch_start = Instant::now();

        for batch_index in progress.batch..batches_per_epoch {
            let indices = mixer.batch(epoch * batches_per_epoch + batch_index);
            let (inputs, targets) = make_batch(
                &train,
                &indices,
                &augmentation,
                args.seed,
                epoch,
                side,
                &device,
            )?;
            let age_targets = age_task
                .then(|| AgeTargets::of_batch(&ages, &indices, &device))
                .transpose()?;
            optimizer.lr = learning_rate(args.lr, optimizer.step, warmup_steps, total_steps);
            train_step(
                &net,
                &mut optimizer,
                &inputs,
                &targets,
                args.label_smoothing,
                age_targets.as_ref().map(|targets| AgeTask {
                    targets,
                    weight: args.age_weight,
                }),
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

        let scores = validate(&net, &sources, &device)?;
        let mean =
            |f: fn(&SourceScore) -> f64| scores.iter().map(f).sum::<f64>() / scores.len() as f64;
        let val_loss = mean(|s| s.val_loss);
        let record = EpochRecord {
            epoch: epoch + 1,
            input_side: side,
            train_loss: totals.mean_loss(),
            train_accuracy: totals.accuracy(),
            train_age_loss: totals.age_loss(),
            val_loss,
            val_accuracy: mean(|s| s.val_accuracy),
            seconds,
            images_per_second: totals.seen as f64 / seconds,
            sources: if scores.len() > 1 { scores } else { vec![] },
        };
        let per_source: String = record
            .sources
            .iter()
            .map(|s| {
                format!(
                    " | {} {:.4} {:.2}%",
                    s.name,
                    s.val_loss,
                    100.0 * s.val_accuracy
                )
            })
            .collect();
        let age_loss = record
            .train_age_loss
            .map(|l| format!(" age loss {l:.3}"))
            .unwrap_or_default();
        let summary = format!(
            "epoch {}/{} ({} px): train loss {:.4} acc {:.2}%{age_loss} | val loss {:.4} acc {:.2}%{per_source} | {:.0} s, {:.0} img/s",
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

    export::export_model(
        &args,
        &command,
        &best_weights,
        &progress,
        &sources,
        decode_seconds,
        &wall,
    )?;
    std::fs::remove_file(&checkpoint).ok();
    Ok(())
}

/// Each source's validation loss and accuracy on its faces (photos: the detected ones).
fn validate(net: &GenderNet, sources: &[Source], device: &Device) -> Result<Vec<SourceScore>> {
    sources
        .iter()
        .map(|source| {
            let (metrics, loss) = metrics_and_loss(net, &source.val.faces, device)?;
            Ok(SourceScore {
                name: source.name.clone(),
                val_loss: loss,
                val_accuracy: metrics.accuracy,
            })
        })
        .collect()
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
