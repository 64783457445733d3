//! The classifier: the trained CNN behind a small API, face crops in, calibrated
//! probabilities out; and its parts — the crop from a detector box (`crop`), the network's
//! input (`preprocess`), its inference pass (`inference`) and, for the trainer, its
//! definition in candle (`model`; `block_net` and its `blocks`: the efficient network of
//! inverted-residual blocks being measured as its successor), and the logits' calibration
//! (`calibration`, `temperature`).

#[cfg(not(target_arch = "wasm32"))]
pub mod block_net;
#[cfg(not(target_arch = "wasm32"))]
pub mod blocks;
pub mod calibration;
pub mod crop;
pub mod inference;
#[cfg(not(target_arch = "wasm32"))]
pub mod model;
pub mod preprocess;
pub mod temperature;

use crate::error::{Error, Result};
use crate::weights::check_layout;
use crop::Framing;
use image::RgbImage;
use inference::InferenceNet;
use safetensors::SafeTensors;
use temperature::Temperatures;

#[cfg(embedded_model)]
static EMBEDDED_WEIGHTS: &[u8] = include_bytes!("../../models/genderlens.safetensors");

pub struct Classifier {
    net: InferenceNet,
    temperatures: Temperatures,
    framing: Framing,
}

/// One face's raw logits `[female, male]` and the temperature its probability takes.
#[derive(Clone, Copy, Debug)]
pub struct Output {
    pub logits: [f32; 2],
    pub temperature: f32,
}

impl Output {
    pub fn p_male(&self) -> f32 {
        calibration::p_male(self.logits, self.temperature)
    }
}

impl Classifier {
    /// Loads weights written by `genderlens train` (8-bit, f16 or f32 safetensors), with the
    /// calibration stored beside them (`temperature`; none: a temperature of 1) and the crop
    /// framing (none: tight crops along the box). A truncated
    /// file or a wrong-shaped tensor is an error naming the problem.
    pub fn from_safetensors(bytes: &[u8]) -> Result<Self> {
        let invalid = |e: String| Error::Model(format!("cannot load weights: {e}"));
        check_layout(bytes).map_err(invalid)?;
        // Parsed once: the network and the temperatures come from the same tensors (on the
        // browser's start-up path every pass over the file counts).
        let stored = SafeTensors::deserialize(bytes).map_err(|e| invalid(e.to_string()))?;
        let net = InferenceNet::from_tensors(&stored).map_err(invalid)?;
        let temperatures =
            Temperatures::from_tensors(&stored, net.feature_width()).map_err(invalid)?;
        let framing = Framing::from_tensors(&stored).map_err(invalid)?;
        Ok(Self {
            net,
            temperatures,
            framing,
        })
    }

    /// The model embedded at build time from `models/genderlens.safetensors`.
    pub fn embedded() -> Result<Self> {
        #[cfg(embedded_model)]
        return Self::from_safetensors(EMBEDDED_WEIGHTS);
        #[cfg(not(embedded_model))]
        Err(Error::NoEmbeddedModel)
    }

    /// The stored calibration: the temperature of every face, or adults' and children's
    /// with the age probe that chooses between them.
    pub fn temperatures(&self) -> &Temperatures {
        &self.temperatures
    }

    /// How the faces this model learned were framed: every crop it classifies must be cut
    /// so (see [`crate::Pipeline`]).
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Raw logits `[female, male]` per face; faces must already be network-sized.
    pub fn logits(&self, faces: &[RgbImage]) -> Result<Vec<[f32; 2]>> {
        let mut logits = Vec::with_capacity(faces.len());
        for chunk in faces.chunks(FACES_PER_PASS) {
            logits.extend(self.net.logits(chunk).map_err(Error::Model)?);
        }
        Ok(logits)
    }

    /// The features the network's head reads (and the age probe), per face; for fitting
    /// what reads them.
    pub fn features(&self, faces: &[RgbImage]) -> Result<Vec<Vec<f32>>> {
        let mut features = Vec::with_capacity(faces.len());
        for chunk in faces.chunks(FACES_PER_PASS) {
            features.extend(self.net.features(chunk).map_err(Error::Model)?);
        }
        Ok(features)
    }

    /// The logits of one face's [`features`](Self::features).
    pub fn head(&self, features: &[f32]) -> [f32; 2] {
        self.net.head(features)
    }

    /// Logits and temperature per face; faces must already be network-sized.
    pub fn outputs(&self, faces: &[RgbImage]) -> Result<Vec<Output>> {
        Ok(self
            .features(faces)?
            .iter()
            .map(|features| Output {
                logits: self.net.head(features),
                temperature: self.temperatures.for_face(features),
            })
            .collect())
    }

    /// Calibrated P(male) for each face; faces must already be network-sized (see
    /// `crop`/`preprocess`).
    pub fn p_male(&self, faces: &[RgbImage]) -> Result<Vec<f32>> {
        Ok(self.outputs(faces)?.iter().map(Output::p_male).collect())
    }
}

/// Faces per forward pass. One at a time is the fastest per face: a pass over 32 faces
/// spills its 9×-sized convolution columns out of the caches and cost 2.6-3.3 ms per face
/// natively against 1.7-1.9 ms for single faces (one thread, `genderlens bench`); in the
/// browser's worker both take the same time (24 faces: 162 ms either way).
const FACES_PER_PASS: usize = 1;
