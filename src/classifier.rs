//! The trained CNN behind a small API: face crops in, probabilities out.

use crate::error::{candle_message, Error, Result};
use crate::model::{load_from_safetensors, GenderNet};
use crate::preprocess::faces_to_tensor;
use crate::weights::check_layout;
use candle_core::Device;
use image::RgbImage;

#[cfg(embedded_model)]
static EMBEDDED_WEIGHTS: &[u8] = include_bytes!("../models/genderlens.safetensors");

pub struct Classifier {
    net: GenderNet,
    device: Device,
}

impl Classifier {
    /// Loads weights written by `genderlens train` (f16 or f32 safetensors). A truncated
    /// file or a wrong-shaped tensor is an error naming the problem.
    pub fn from_safetensors(bytes: &[u8]) -> Result<Self> {
        let device = Device::Cpu;
        check_layout(bytes).map_err(|e| Error::Model(format!("cannot load weights: {e}")))?;
        let net = load_from_safetensors(bytes, &device)
            .map_err(|e| Error::Model(format!("cannot load weights: {}", candle_message(&e))))?;
        Ok(Self { net, device })
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

    /// P(male) for each face; faces must already be network-sized (see `crop`/`preprocess`).
    pub fn p_male(&self, faces: &[RgbImage]) -> Result<Vec<f32>> {
        if faces.is_empty() {
            return Ok(vec![]);
        }
        Ok(self.net.p_male(&faces_to_tensor(faces, &self.device)?)?)
    }
}
