//! The settings of `genderlens adapt`.

use serde::Serialize;
use std::path::PathBuf;

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
