//! A training run's checkpoint: weights, optimiser moments, the best epoch's weights and the
//! run's position and history, in one safetensors file written atomically every epoch and on
//! Ctrl-C, so `--resume` continues where it stopped.

use super::args::TrainArgs;
use crate::model_file::{write_atomically, EpochRecord};
use crate::training::adam::AdamW;
use crate::training::step::snapshot;
use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

/// Everything besides tensors that a checkpoint must restore.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Progress {
    pub args: TrainArgs,
    /// Next epoch to run (0-based) and the batch within it to start from.
    pub epoch: usize,
    pub batch: usize,
    pub optimizer_step: usize,
    pub history: Vec<EpochRecord>,
    /// Infinite until an epoch is watched (see [`crate::training::schedule`]); JSON writes it as null.
    #[serde(deserialize_with = "infinity_if_null")]
    pub best_val_loss: f64,
    pub epochs_without_improvement: usize,
    /// Partial sums of the interrupted epoch: (loss·n, correct, n, seconds).
    pub partial: (f64, usize, usize, f64),
    /// Every command that worked on this run (the first, then each --resume).
    #[serde(default)]
    pub commands: Vec<String>,
    /// Wall-clock seconds the run's earlier processes spent up to their last checkpoint.
    #[serde(default)]
    pub wall_seconds: f64,
}

fn infinity_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
}

/// Wall-clock time of a run across the processes of `--resume`.
pub struct WallClock {
    pub before: f64,
    pub started: Instant,
}

impl WallClock {
    pub fn seconds(&self) -> f64 {
        self.before + self.started.elapsed().as_secs_f64()
    }
}

/// Prefix of the best epoch's weights inside a checkpoint (exported at the end even if the
/// run was resumed after them).
const BEST_PREFIX: &str = "best.";

pub fn save_checkpoint(
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
pub fn resumed_settings(
    checkpoint: &HashMap<String, Tensor>,
    given: TrainArgs,
) -> Result<TrainArgs> {
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

pub fn read_checkpoint(path: &Path) -> Result<HashMap<String, Tensor>> {
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
pub fn restore(
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
