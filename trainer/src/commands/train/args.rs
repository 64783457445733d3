//! The settings of `genderlens train`, also stored in its checkpoints.

use anyhow::{bail, Result};
use genderlens::classifier::crop::{CropScale, Framing};
use genderlens::classifier::model::STAGE_CHANNELS;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(clap::Args, Clone, Debug, Serialize, Deserialize)]
pub struct TrainArgs {
    /// Dataset in the Kaggle layout: Training/{female,male}, Validation/{female,male}.
    #[arg(long, default_value = "../shared/datasets/gender")]
    pub data: PathBuf,
    /// More training data, NAME=DIR (repeatable): loosely framed photos in the same layout,
    /// e.g. made by `genderlens prepare`. Their faces are found and cropped by the product's
    /// own detector, as at inference; validated end to end on their own.
    #[arg(long = "photos", value_name = "NAME=DIR")]
    #[serde(default)]
    pub photos: Vec<String>,
    /// A source's share of every batch, NAME=FRACTION (repeatable; `crops` is --data).
    /// Sources without one split the rest in proportion to their number of faces.
    #[arg(long = "share", value_name = "NAME=FRACTION")]
    #[serde(default)]
    pub shares: Vec<String>,
    /// Draw a group's faces more often within their source, AGES[:SEX]=TIMES (repeatable),
    /// e.g. 0-15=2 or 60+:female=3; the age is read from the file names (UTKFace,
    /// All-Age-Faces), files without one are drawn once a pass.
    #[arg(long = "boost", value_name = "AGES[:SEX]=TIMES")]
    #[serde(default)]
    pub boosts: Vec<String>,
    /// Also teach the network each face's age band, with this weight on that loss beside the
    /// sex's (0: off). Ages come from the file names (UTKFace, All-Age-Faces); faces without
    /// one teach only the sex. The age head is not stored with the model.
    #[arg(long, default_value_t = 0.0)]
    #[serde(default)]
    pub age_weight: f64,
    /// How much of the head around each detected face the photos' crops take, as a multiple
    /// of the tight, Kaggle-like crop (1); stored with the model, so the product crops the
    /// same. Crop folders (--data) are read as they are.
    #[arg(long, default_value_t = 1.0)]
    #[serde(default = "tight_crops")]
    pub crop_scale: f32,
    /// Cut the photos' faces turned and sized on the detector's five points (an aligned
    /// crop) instead of along the box; stored with the model, so the product crops the same.
    #[arg(long)]
    #[serde(default)]
    pub align: bool,
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
    /// Leave these `Training/` images out (of every source): a list of paths (first tab-separated field of
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

/// Checkpoints written before `--crop-scale` existed cropped faces tightly.
fn tight_crops() -> f32 {
    CropScale::TIGHT.0
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
    /// `--crop-scale` (checked) and `--align`.
    pub fn framing(&self) -> Result<Framing> {
        Ok(Framing {
            scale: CropScale::checked(self.crop_scale)
                .map_err(|e| anyhow::anyhow!("--crop-scale: {e}"))?,
            aligned: self.align,
        })
    }

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
