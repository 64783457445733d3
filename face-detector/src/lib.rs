// This file is part of the open-source port of SeetaFace engine, which originally includes three modules:
//      SeetaFace Detection, SeetaFace Alignment, and SeetaFace Identification.
//
// This file is part of the SeetaFace Detection module, containing codes implementing the face detection method described in the following paper:
//
//      Funnel-structured cascade for multi-view face detection with alignment awareness,
//      Shuzhe Wu, Meina Kan, Zhenliang He, Shiguang Shan, Xilin Chen.
//      In Neurocomputing (under review)
//
// Copyright (C) 2016, Visual Information Processing and Learning (VIPL) group,
// Institute of Computing Technology, Chinese Academy of Sciences, Beijing, China.
//
// As an open-source face recognition engine: you can redistribute SeetaFace source codes
// and/or modify it under the terms of the BSD 2-Clause License.
//
// You should have received a copy of the BSD 2-Clause License along with the software.
// If not, see < https://opensource.org/licenses/BSD-2-Clause>.

//! SeetaFace frontal face detection (funnel-structured cascade): a fork of rustface 0.1.7 whose
//! inner loops are rewritten for speed (see README.md); the API and the detections are
//! rustface's.
//!
//! ## Tier-up
//! Browsers run a wasm function first as quickly compiled baseline code (several times
//! slower, worst for SIMD) and swap in optimised code once it is hot, but only for its next
//! call: a loop inside one long call stays on baseline code to its end. The first photo
//! after the page opens would run each per-image loop that way, so the kernels are called
//! per row (or per 1 024 windows) and kept out of line in wasm
//! (`#[cfg_attr(target_arch = "wasm32", inline(never))]`): after the first rows the rest
//! of the image runs optimised. Natively nothing changes.

mod classifier;
mod common;
mod detector;
mod feat;
mod math;
pub mod model;

pub use crate::common::FaceInfo;
pub use crate::common::ImageData;
pub use crate::common::Rectangle;
pub use crate::model::{dequantise, load_model, read_model, read_model_with_floats, Floats, Model};

pub use crate::detector::Detector;
use crate::detector::FuStDetector;
use std::io;

/// Create a face detector, based on a file with model description.
pub fn create_detector(path_to_model: &str) -> Result<Box<dyn Detector>, io::Error> {
    let model = load_model(path_to_model)?;
    Ok(create_detector_with_model(model))
}

/// Create a face detector, based on the provided model.
pub fn create_detector_with_model(model: Model) -> Box<dyn Detector> {
    Box::new(FuStDetector::new(model))
}
