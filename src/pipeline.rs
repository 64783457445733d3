//! decode → detect → crop → classify: the one pipeline behind the CLI and the browser.

use crate::calibration::{verdict, verdict_for_face, Verdict};
use crate::classifier::Classifier;
use crate::crop::{crop_face, CropScale};
use crate::decode::decode_image;
use crate::detect::{luma, FaceBox, FaceDetector, MIN_FACE, WINDOW};
use crate::error::Result;
use crate::preprocess::{fit_within, resize_to_input};
use image::{GrayImage, Luma, RgbImage};
use serde::Serialize;
use web_time::Instant;

/// Images are searched for faces at most this large (longer side, pixels): detection time
/// grows with the pixel count, and faces that matter stay above the detector's ~40 px.
pub const MAX_WORKING_SIDE: u32 = 1024;
/// When nothing is found, the image is searched again inside a border of this fraction of
/// its size: tightly framed portraits leave the detector no context around the face.
const RETRY_PADDING: f32 = 0.25;
/// Faces below the detector's window are searched for when the search at the window's size
/// found nothing or found a face smaller than this many windows: faces come in crowds, and
/// a crowd at the limit of what is found goes on below it (down to half its smallest face).
/// Portraits skip the search.
const SMALL_FACE_WINDOWS: f32 = 2.0;
/// The search below the window enlarges the working image to at most this many pixels
/// (its cost grows with them): a 640 px group photo is searched down to 20 px faces, a
/// 1024 px one down to about 30 px.
const SMALL_FACE_SEARCH_PIXELS: f32 = 1.3e6;
/// Boxes found below the window that overlap a larger face by more than this are the same
/// face found twice (the detector's own final suppression uses the same threshold).
const SAME_FACE_IOU: f32 = 0.3;

/// One classified face. `box` is (x, y, width, height) in pixels of the input image;
/// `label` is "female", "male" or "uncertain", `likely` the more probable class and
/// `confidence` its calibrated probability (see [`crate::calibration`]).
#[derive(Clone, Debug, Serialize)]
pub struct Face {
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    #[serde(flatten)]
    pub verdict: Verdict,
    /// Calibrated probability of "male".
    pub p_male: f32,
    /// Detector confidence; `None` when the whole image was classified as one face.
    pub detector_score: Option<f32>,
}

/// Faces found in one image, most confident detection first, with timings.
#[derive(Clone, Debug, Serialize)]
pub struct Analysis {
    pub width: u32,
    pub height: u32,
    pub faces: Vec<Face>,
    /// Detection, including cutting out the face crops.
    pub detect_ms: f64,
    pub classify_ms: f64,
}

pub struct Pipeline {
    detector: FaceDetector,
    classifier: Classifier,
    crop_scale: CropScale,
}

impl Pipeline {
    /// Faces are cropped as the classifier learned them ([`Classifier::crop_scale`]).
    pub fn new(classifier: Classifier) -> Self {
        Self {
            detector: FaceDetector::new(),
            crop_scale: classifier.crop_scale(),
            classifier,
        }
    }

    /// Crops faces at `scale` instead of the classifier's: for a model in training, whose
    /// faces are cut before it exists.
    pub fn cropping_at(mut self, scale: CropScale) -> Self {
        self.crop_scale = scale;
        self
    }

    /// The pipeline with the classifier embedded in this build.
    pub fn embedded() -> Result<Self> {
        Ok(Self::new(Classifier::embedded()?))
    }

    pub fn analyze_bytes(&mut self, bytes: &[u8]) -> Result<Analysis> {
        self.analyze(&decode_image(bytes)?)
    }

    pub fn analyze(&mut self, image: &RgbImage) -> Result<Analysis> {
        self.analyze_searching(image, BelowWindow::WhenHinted)
    }

    /// [`Self::analyze`] without the search below the detector's window: for live video,
    /// where the frame rate matters more than faces under 40 px (it would cost a frame with
    /// no face, or a small one, several times the time).
    pub fn analyze_frame(&mut self, image: &RgbImage) -> Result<Analysis> {
        self.analyze_searching(image, BelowWindow::Never)
    }

    fn analyze_searching(&mut self, image: &RgbImage, below: BelowWindow) -> Result<Analysis> {
        let start = Instant::now();
        let (boxes, crops, scale) = self.find_faces(image, below);
        let detected = Instant::now();
        let probabilities = self.classifier.p_male(&crops)?;
        let faces = boxes
            .iter()
            .zip(probabilities)
            .map(|(b, p_male)| Face {
                bbox: [b.x, b.y, b.width, b.height],
                // The crop's resolution is the working image's.
                verdict: verdict_for_face(p_male, b.width / scale),
                p_male,
                detector_score: Some(b.score),
            })
            .collect();
        Ok(Analysis {
            width: image.width(),
            height: image.height(),
            faces,
            detect_ms: (detected - start).as_secs_f64() * 1e3,
            classify_ms: detected.elapsed().as_secs_f64() * 1e3,
        })
    }

    /// The faces [`Self::analyze`] classifies: boxes in `image`'s pixels, most confident
    /// first, each with its network-sized crop (also what `genderlens adapt` trains on).
    pub fn face_crops(&mut self, image: &RgbImage) -> (Vec<FaceBox>, Vec<RgbImage>) {
        let (boxes, crops, _) = self.find_faces(image, BelowWindow::WhenHinted);
        (boxes, crops)
    }

    /// [`Self::face_crops`] and the factor from the working image's pixels to `image`'s.
    fn find_faces(
        &mut self,
        image: &RgbImage,
        below: BelowWindow,
    ) -> (Vec<FaceBox>, Vec<RgbImage>, f32) {
        let (working, scale) = fit_within(image, MAX_WORKING_SIDE);
        // The detector sees grey levels: converted once for all its searches.
        let gray = luma(&working);
        let mut boxes = self.detect_with_retry(&gray);
        if below == BelowWindow::WhenHinted && wants_smaller_faces(&boxes) {
            let min_side = smallest_face_searched(&working, &boxes);
            for small in self.detector.detect_below_window(&gray, min_side) {
                if boxes.iter().all(|b| b.iou(&small) <= SAME_FACE_IOU) {
                    boxes.push(small);
                }
            }
            boxes.sort_by(|a, b| b.score.total_cmp(&a.score));
        }
        let crops = boxes
            .iter()
            .map(|b| crop_face(&working, b, self.crop_scale))
            .collect();
        let boxes = boxes
            .into_iter()
            .map(|b| FaceBox {
                x: b.x * scale,
                y: b.y * scale,
                width: b.width * scale,
                height: b.height * scale,
                ..b
            })
            .collect();
        (boxes, crops, scale)
    }

    /// Classifies the whole image as one face crop (for photos that are already crops).
    pub fn classify_whole(&self, image: &RgbImage) -> Result<Face> {
        let p_male = self.classifier.p_male(&[resize_to_input(image)])?[0];
        Ok(Face {
            bbox: [0.0, 0.0, image.width() as f32, image.height() as f32],
            verdict: verdict(p_male),
            p_male,
            detector_score: None,
        })
    }

    pub fn classifier(&self) -> &Classifier {
        &self.classifier
    }

    fn detect_with_retry(&mut self, image: &GrayImage) -> Vec<FaceBox> {
        let faces = self.detector.detect(image);
        if !faces.is_empty() {
            return faces;
        }
        let (w, h) = image.dimensions();
        let (px, py) = (
            (w as f32 * RETRY_PADDING) as u32,
            (h as f32 * RETRY_PADDING) as u32,
        );
        let mut padded = GrayImage::from_pixel(w + 2 * px, h + 2 * py, Luma([128]));
        image::imageops::replace(&mut padded, image, px as i64, py as i64);
        self.detector
            .detect(&padded)
            .into_iter()
            .map(|b| FaceBox {
                x: b.x - px as f32,
                y: b.y - py as f32,
                ..b
            })
            .collect()
    }
}

/// Whether faces below the detector's window are searched for.
#[derive(Clone, Copy, PartialEq)]
enum BelowWindow {
    /// When the first search found no face or a small one ([`wants_smaller_faces`]).
    WhenHinted,
    Never,
}

fn wants_smaller_faces(found: &[FaceBox]) -> bool {
    found
        .iter()
        .map(|b| b.width)
        .reduce(f32::min)
        .is_none_or(|smallest| smallest < SMALL_FACE_WINDOWS * WINDOW as f32)
}

/// The smallest face side (pixels) searched for in `image`: half the smallest face `found`
/// (a crowd goes on below its smallest faces, not without end), twice enlarged at most,
/// [`SMALL_FACE_SEARCH_PIXELS`] at most.
fn smallest_face_searched(image: &RgbImage, found: &[FaceBox]) -> u32 {
    let pixels = image.width() as f32 * image.height() as f32;
    let enlargement = (SMALL_FACE_SEARCH_PIXELS / pixels).sqrt();
    let crowd = found.iter().map(|b| b.width / 2.0).reduce(f32::min);
    let side = (WINDOW as f32 / enlargement).max(crowd.unwrap_or(0.0));
    (side.ceil() as u32).clamp(MIN_FACE, WINDOW)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(width: f32) -> FaceBox {
        FaceBox {
            x: 0.0,
            y: 0.0,
            width,
            height: width,
            score: 1.0,
        }
    }

    #[test]
    fn the_search_below_the_window_goes_down_to_half_the_smallest_face_found() {
        let group = RgbImage::new(640, 436);
        // Nothing found: as deep as the enlargement allows (2×: 20 px).
        assert_eq!(smallest_face_searched(&group, &[]), MIN_FACE);
        assert_eq!(smallest_face_searched(&group, &[face(42.0)]), 21);
        assert_eq!(
            smallest_face_searched(&group, &[face(90.0), face(60.0)]),
            30
        );
        // Faces of two windows and more: nothing left to search below the window.
        assert_eq!(smallest_face_searched(&group, &[face(100.0)]), WINDOW);
        // A larger photo is enlarged less (1.3 megapixels at most).
        let large = RgbImage::new(1024, 698);
        assert_eq!(smallest_face_searched(&large, &[face(42.0)]), 30);
    }
}
