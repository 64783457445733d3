//! Face detection with the SeetaFace funnel cascade (our fork of rustface in
//! `face-detector/`), the model embedded in the build.

use face_detector::{Detector, Floats, ImageData, Model};
use image::{GrayImage, RgbImage};
use serde::Serialize;

/// SeetaFace frontal detector model, BSD-2-Clause (see `assets/SEETAFACE-LICENSE`), packed
/// with 8-bit boosted-classifier weights by the build script.
static SEETA_MODEL: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/seeta_fd_frontal_q8.bin"));

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

/// The side of the detector's square window: faces this size and larger are found in the
/// image as given.
pub const WINDOW: u32 = 40;
/// The smallest face the detector searches for (its pyramid is enlarged at most twice).
pub const MIN_FACE: u32 = 20;

pub struct FaceDetector {
    detector: Box<dyn Detector>,
}

impl FaceDetector {
    pub fn new() -> Self {
        // Read with its packed numbers as they are: no unpacked f32 copy of the stream first.
        let model = face_detector::read_model_with_floats(SEETA_MODEL, Floats::Q8)
            .expect("the build script packed a valid model");
        Self::with_model(model)
    }

    fn with_model(model: Model) -> Self {
        let mut detector = face_detector::create_detector_with_model(model);
        detector.set_score_thresh(2.0);
        detector.set_pyramid_scale_factor(0.8);
        detector.set_slide_window_step(4, 4);
        Self { detector }
    }

    /// Faces of the detector's window size (40 px) and larger in `gray` (see [`luma`]), most
    /// confident first.
    pub fn detect(&mut self, gray: &GrayImage) -> Vec<FaceBox> {
        self.search(gray, WINDOW, 0)
    }

    /// Faces from `min_side` (at least 20) up to the window size: the image is searched on
    /// enlarged pyramid levels, about `(40 / min_side)²` times its pixels at the largest.
    pub fn detect_below_window(&mut self, gray: &GrayImage, min_side: u32) -> Vec<FaceBox> {
        if min_side >= WINDOW {
            return vec![];
        }
        self.search(gray, min_side, WINDOW)
    }

    /// `max_side` 0: no upper limit.
    fn search(&mut self, gray: &GrayImage, min_side: u32, max_side: u32) -> Vec<FaceBox> {
        let (w, h) = gray.dimensions();
        // Enlarged for `min_side`, the image must still hold one window.
        if w.min(h) < min_side.clamp(MIN_FACE, WINDOW) {
            return vec![];
        }
        self.detector.set_min_face_size(min_side.max(MIN_FACE));
        self.detector.set_max_face_size(max_side);
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

impl FaceBox {
    /// Intersection over union of two boxes.
    pub fn iou(&self, other: &FaceBox) -> f32 {
        let w = (self.x + self.width).min(other.x + other.width) - self.x.max(other.x);
        let h = (self.y + self.height).min(other.y + other.height) - self.y.max(other.y);
        if w <= 0.0 || h <= 0.0 {
            return 0.0;
        }
        let intersection = w * h;
        intersection / (self.width * self.height + other.width * other.height - intersection)
    }
}

/// `imageops::grayscale` (Rec. 709 weights in integers, so the same bytes) on whole rows of
/// bytes: the generic version walks pixels through iterators and took 3-4 % of detection.
pub fn luma(image: &RgbImage) -> GrayImage {
    let (w, h) = image.dimensions();
    let mut gray = GrayImage::new(w, h);
    if w == 0 {
        return gray;
    }
    // A call per row: see "Tier-up" in the detector's lib.rs.
    for (rgb, out) in image
        .as_raw()
        .chunks_exact(3 * w as usize)
        .zip(gray.chunks_exact_mut(w as usize))
    {
        luma_row(rgb, out);
    }
    gray
}

#[cfg_attr(target_arch = "wasm32", inline(never))]
fn luma_row(rgb: &[u8], out: &mut [u8]) {
    for (p, out) in rgb.chunks_exact(3).zip(out) {
        let sum = 2126 * u32::from(p[0]) + 7152 * u32::from(p[1]) + 722 * u32::from(p[2]);
        *out = (sum / 10_000) as u8;
    }
}

impl Default for FaceDetector {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seeta_format::transcode;

    #[test]
    fn the_packed_model_read_directly_finds_what_its_unpacked_f32_copy_finds() {
        let unpacked = transcode(SEETA_MODEL, Floats::Q8, Floats::F32).unwrap();
        let mut reference =
            FaceDetector::with_model(face_detector::read_model(&unpacked[..]).unwrap());
        let photo = image::load_from_memory(include_bytes!("../tests/fixtures/solvay-1927.jpg"))
            .unwrap()
            .to_rgb8();
        let photo = luma(&photo);
        let faces = FaceDetector::new().detect(&photo);
        assert!(faces.len() >= 20, "{} faces", faces.len());
        assert_eq!(faces, reference.detect(&photo));
    }

    #[test]
    fn luma_equals_the_generic_grayscale_conversion() {
        // Every byte value in every channel, including the extremes where rounding differs.
        let image = RgbImage::from_fn(256, 7, |x, y| {
            let v = x as u8;
            image::Rgb(match y {
                0 => [v, 0, 0],
                1 => [0, v, 0],
                2 => [0, 0, v],
                3 => [v, v, v],
                4 => [v, 255 - v, v.wrapping_mul(37)],
                5 => [255, 255, v],
                _ => [v.wrapping_mul(91), v.wrapping_mul(13), 255 - v],
            })
        });
        assert_eq!(luma(&image), image::imageops::grayscale(&image));
        assert_eq!(luma(&RgbImage::new(0, 0)).dimensions(), (0, 0));
    }
}
