//! The trained CNN behind a small API: face crops in, calibrated probabilities out.

use crate::calibration::{self, TEMPERATURE_TENSOR};
use crate::error::{Error, Result};
use crate::inference::{floats, InferenceNet};
use crate::weights::check_layout;
use image::RgbImage;
use safetensors::SafeTensors;

#[cfg(embedded_model)]
static EMBEDDED_WEIGHTS: &[u8] = include_bytes!("../models/genderlens.safetensors");

pub struct Classifier {
    net: InferenceNet,
    temperature: f32,
}

impl Classifier {
    /// Loads weights written by `genderlens train` (8-bit, f16 or f32 safetensors), with the
    /// calibration temperature stored beside them (1 when the file has none). A truncated
    /// file or a wrong-shaped tensor is an error naming the problem.
    pub fn from_safetensors(bytes: &[u8]) -> Result<Self> {
        let invalid = |e: String| Error::Model(format!("cannot load weights: {e}"));
        check_layout(bytes).map_err(invalid)?;
        // Parsed once: the network and the temperature come from the same tensors (on the
        // browser's start-up path every pass over the file counts).
        let stored = SafeTensors::deserialize(bytes).map_err(|e| invalid(e.to_string()))?;
        let temperature = read_temperature(&stored).map_err(invalid)?;
        let net = InferenceNet::from_tensors(&stored).map_err(invalid)?;
        if !(temperature.is_finite() && temperature > 0.0) {
            return Err(Error::Model(format!(
                "cannot load weights: `{TEMPERATURE_TENSOR}` is {temperature}, not a positive number"
            )));
        }
        Ok(Self { net, temperature })
    }

    /// The model embedded at build time from `models/genderlens.safetensors`.
    pub fn embedded() -> Result<Self> {
        #[cfg(embedded_model)]
        return Self::from_safetensors(EMBEDDED_WEIGHTS);
        #[cfg(not(embedded_model))]
        Err(Error::NoEmbeddedModel)
    }

    /// The calibration temperature applied to every probability this classifier returns.
    pub fn temperature(&self) -> f32 {
        self.temperature
    }

    /// Raw logits `[female, male]` per face; faces must already be network-sized.
    pub fn logits(&self, faces: &[RgbImage]) -> Result<Vec<[f32; 2]>> {
        let mut logits = Vec::with_capacity(faces.len());
        for chunk in faces.chunks(FACES_PER_PASS) {
            logits.extend(self.net.logits(chunk).map_err(Error::Model)?);
        }
        Ok(logits)
    }

    /// Calibrated P(male) for each face; faces must already be network-sized (see
    /// `crop`/`preprocess`).
    pub fn p_male(&self, faces: &[RgbImage]) -> Result<Vec<f32>> {
        Ok(self
            .logits(faces)?
            .into_iter()
            .map(|l| calibration::p_male(l, self.temperature))
            .collect())
    }
}

/// Faces per forward pass. One at a time is the fastest per face: a pass over 32 faces
/// spills its 9×-sized convolution columns out of the caches and cost 2.6-3.3 ms per face
/// natively against 1.7-1.9 ms for single faces (one thread, `genderlens bench`); in the
/// browser's worker both take the same time (24 faces: 162 ms either way).
const FACES_PER_PASS: usize = 1;

fn read_temperature(file: &SafeTensors) -> std::result::Result<f32, String> {
    match file.tensor(TEMPERATURE_TENSOR) {
        Ok(view) => floats(&view, TEMPERATURE_TENSOR)?
            .first()
            .copied()
            .ok_or_else(|| format!("`{TEMPERATURE_TENSOR}` is empty")),
        Err(_) => Ok(1.0),
    }
}
