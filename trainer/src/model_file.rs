//! The files a training run leaves: weights in their stored form, the model JSON beside them
//! (with each epoch's record), and the atomic writes that keep a killed process from leaving
//! a half-written one.

use anyhow::{Context, Result};
use candle_core::{DType, Tensor};
use genderlens::classifier::crop::{Framing, CROP_ALIGNED_TENSOR, CROP_SCALE_TENSOR};
use genderlens::classifier::model::INPUT_SIZE;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// One epoch of a training run, as the model JSON's `history` and the charts have it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    /// Side of the training faces this epoch (validation always runs at full size).
    #[serde(default = "full_input_side")]
    pub input_side: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    /// The age head's mean loss (`train --age-weight`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_age_loss: Option<f64>,
    pub val_loss: f64,
    pub val_accuracy: f64,
    pub seconds: f64,
    pub images_per_second: f64,
    /// Each source's validation faces, when there are several; `val_loss` and
    /// `val_accuracy` are then their means, each source weighing the same.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<SourceScore>,
}

/// One source's validation at the end of an epoch.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SourceScore {
    pub name: String,
    pub val_loss: f64,
    pub val_accuracy: f64,
}

/// Records written before small-face epochs existed trained at full size throughout.
fn full_input_side() -> usize {
    INPUT_SIZE
}

/// Writes through a temporary file in the same folder, then renames: a killed process
/// never leaves a half-written file under the final name.
pub fn write_atomically(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    write(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

/// Applies `edit` to the tensors of the weights file at `path` and rewrites it atomically
/// (for what is stored beside the weights: calibration, crop scale).
pub fn edit_weights_file(
    path: &Path,
    edit: impl FnOnce(&mut HashMap<String, Tensor>) -> Result<()>,
) -> Result<()> {
    let mut tensors = candle_core::safetensors::load(path, &candle_core::Device::Cpu)
        .with_context(|| format!("reading {}", path.display()))?;
    edit(&mut tensors)?;
    write_atomically(path, |tmp| {
        Ok(candle_core::safetensors::save(&tensors, tmp)?)
    })
}

/// Stores the crop framing the model learned with beside its weights, in f32: the product
/// must cut exactly these crops. Box-framed models carry no alignment tensor, so their
/// files stay as they were.
pub fn write_framing(path: &Path, framing: Framing) -> Result<()> {
    edit_weights_file(path, |tensors| {
        let scale = Tensor::new(&[framing.scale.0], &candle_core::Device::Cpu)?;
        tensors.insert(CROP_SCALE_TENSOR.into(), scale);
        if framing.aligned {
            let aligned = Tensor::new(&[1f32], &candle_core::Device::Cpu)?;
            tensors.insert(CROP_ALIGNED_TENSOR.into(), aligned);
        }
        Ok(())
    })
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

/// Writes `weights` in their stored form ([`compact_weights`]) to `path`, atomically.
pub fn save_compact(path: &Path, weights: &HashMap<String, Tensor>) -> Result<()> {
    let stored = compact_weights(weights)?;
    write_atomically(path, |tmp| {
        Ok(candle_core::safetensors::save(&stored, tmp)?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model JSON as `train` writes it, after `calibrate` set a temperature of 0.5: keys in
    /// their written (not alphabetical) order, floats with all their digits.
    const CALIBRATED: &str = r#"{
  "name": "m",
  "commands": [
    "genderlens train",
    "genderlens calibrate"
  ],
  "history": [
    {
      "val_loss": 0.46400707333595115,
      "seconds": 187.531014929
    }
  ],
  "calibration": {
    "temperature": 0.5
  }
}
"#;

    #[test]
    fn a_model_json_rewrite_changes_only_what_was_edited() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.json");
        let trained = CALIBRATED
            .replace("0.5\n", "0.6039634\n")
            .replace(",\n    \"genderlens calibrate\"", "");
        std::fs::write(&path, &trained).unwrap();
        let edited = update_model_json(&path, "genderlens calibrate", |json| {
            json["calibration"]["temperature"] = 0.5.into();
            Ok(())
        })
        .unwrap();
        assert!(edited);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), CALIBRATED);
        assert!(!update_model_json(&dir.path().join("none.json"), "x", |_| Ok(())).unwrap());
    }
}
