//! Face detection with the SeetaFace funnel cascade (our fork of rustface in
//! `face-detector/`), the model embedded in the build.

use crate::seeta_format::{transcode, Floats};
use face_detector::{Detector, ImageData};
use image::{GrayImage, RgbImage};
use serde::Serialize;

/// SeetaFace frontal detector model, BSD-2-Clause (see `assets/SEETAFACE-LICENSE`), packed
/// with f16 numbers by the build script.
static SEETA_MODEL_F16: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/seeta_fd_frontal_f16.bin"));

/// A detected face in the coordinates of the image given to [`FaceDetector::detect`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct FaceBox {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
    /// Detector confidence (SeetaFace score; higher is surer).
    pub score: f32,
}

pub struct FaceDetector {
    detector: Box<dyn Detector>,
}

impl FaceDetector {
    pub fn new() -> Self {
        let stream = transcode(SEETA_MODEL_F16, Floats::F16, Floats::F32)
            .expect("the build script packed a valid model");
        let model =
            face_detector::read_model(&stream[..]).expect("embedded SeetaFace model is valid");
        let mut detector = face_detector::create_detector_with_model(model);
        detector.set_min_face_size(20);
        detector.set_score_thresh(2.0);
        detector.set_pyramid_scale_factor(0.8);
        detector.set_slide_window_step(4, 4);
        Self { detector }
    }

    /// Faces in `image`, most confident first.
    pub fn detect(&mut self, image: &RgbImage) -> Vec<FaceBox> {
        let gray: GrayImage = image::imageops::grayscale(image);
        let (w, h) = gray.dimensions();
        // The detector's sliding window is 40 px; smaller images cannot contain a face.
        if w < 40 || h < 40 {
            return vec![];
        }
        let mut faces: Vec<FaceBox> = self
            .detector
            .detect(&ImageData::new(gray.as_raw(), w, h))
            .into_iter()
            .map(|f| {
                let b = f.bbox();
                FaceBox {
                    x: b.x() as f32,
                    y: b.y() as f32,
                    width: b.width() as f32,
                    height: b.height() as f32,
                    score: f.score() as f32,
                }
            })
            .collect();
        faces.sort_by(|a, b| b.score.total_cmp(&a.score));
        faces
    }
}

impl Default for FaceDetector {
    fn default() -> Self {
        Self::new()
    }
}
