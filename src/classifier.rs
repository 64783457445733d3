//! The trained CNN behind a small API: face crops in, calibrated probabilities out.

use crate::calibration::{self, TEMPERATURE_TENSOR};
use crate::error::{candle_message, Error, Result};
use crate::model::{load_from_tensors, GenderNet};
use crate::preprocess::faces_to_tensor;
use crate::weights::check_layout;
use candle_core::{Device, Tensor};
use image::RgbImage;
use std::collections::HashMap;

#[cfg(embedded_model)]
static EMBEDDED_WEIGHTS: &[u8] = include_bytes!("../models/genderlens.safetensors");

pub struct Classifier {
    net: GenderNet,
    temperature: f32,
    device: Device,
}

impl Classifier {
    /// Loads weights written by `genderlens train` (f16 or f32 safetensors), with the
    /// calibration temperature stored beside them (1 when the file has none). A truncated
    /// file or a wrong-shaped tensor is an error naming the problem.
    pub fn from_safetensors(bytes: &[u8]) -> Result<Self> {
        let device = Device::Cpu;
        check_layout(bytes).map_err(|e| Error::Model(format!("cannot load weights: {e}")))?;
        let invalid = |e: candle_core::Error| {
            Error::Model(format!("cannot load weights: {}", candle_message(&e)))
        };
        // Parsed once: the network and the temperature come from the same tensors (on the
        // browser's start-up path every pass over the file counts).
        let stored = candle_core::safetensors::load_buffer(bytes, &device).map_err(invalid)?;
        let temperature = read_temperature(&stored).map_err(invalid)?;
        let net = load_from_tensors(stored, &device).map_err(invalid)?;
        if !(temperature.is_finite() && temperature > 0.0) {
            return Err(Error::Model(format!(
                "cannot load weights: `{TEMPERATURE_TENSOR}` is {temperature}, not a positive number"
            )));
        }
        Ok(Self {
            net,
            temperature,
            device,
        })
    }

    /// The model embedded at build time from `models/genderlens.safetensors`.
    pub fn embedded() -> Result<Self> {
        #[cfg(embedded_model)]
        return Self::from_safetensors(EMBEDDED_WEIGHTS);
        #[cfg(not(embedded_model))]
        Err(Error::NoEmbeddedModel)
    }

    /// The network, for callers that need logits (evaluation, training tools).
    pub fn net(&self) -> &GenderNet {
        &self.net
    }

    /// The calibration temperature applied to every probability this classifier returns.
    pub fn temperature(&self) -> f32 {
        self.temperature
    }

    /// Raw logits `[female, male]` per face; faces must already be network-sized.
    pub fn logits(&self, faces: &[RgbImage]) -> Result<Vec<[f32; 2]>> {
        if faces.is_empty() {
            return Ok(vec![]);
        }
        let mut logits = Vec::with_capacity(faces.len());
        for chunk in faces.chunks(FACES_PER_PASS) {
            logits.extend(self.net.logits(&faces_to_tensor(chunk, &self.device)?)?);
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

fn read_temperature(tensors: &HashMap<String, Tensor>) -> candle_core::Result<f32> {
    match tensors.get(TEMPERATURE_TENSOR) {
        Some(t) => t
            .to_dtype(candle_core::DType::F32)?
            .flatten_all()?
            .get(0)?
            .to_scalar::<f32>(),
        None => Ok(1.0),
    }
}
