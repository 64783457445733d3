//! decode → detect → crop → classify: the one pipeline behind the CLI and the browser.

use crate::classifier::calibration::{verdict, verdict_for_face, Verdict};
use crate::classifier::crop::{crop_face, Framing};
use crate::classifier::preprocess::resize_to_input;
use crate::classifier::Classifier;
use crate::decode::decode_image;
use crate::detect::{FaceBox, FaceDetector};
use crate::error::Result;
use image::RgbImage;
use serde::Serialize;
use web_time::Instant;

/// Images are searched for faces at most this large (longer side, pixels): detection time
/// grows with the pixel count, and the detector finds faces down to about 10 px there (when
/// asked, a larger photo is also searched at full resolution for smaller faces, in tiles).
pub const MAX_WORKING_SIDE: u32 = 1024;

/// One classified face. `box` is (x, y, width, height) in pixels of the input image;
/// `label` is "female", "male" or "uncertain", `likely` the more probable class and
/// `confidence` its calibrated probability (see [`crate::classifier::calibration`]).
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
    /// The detector's five points (eyes, nose tip, mouth corners; see
    /// [`FaceBox::landmarks`]) in pixels of the input image; `None` with no detection.
    pub landmarks: Option<[[f32; 2]; 5]>,
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

/// The faces that pass a `max_faces` cut (the most confident detections first, as the
/// pipeline orders them) and a `min_confidence` floor on the label's confidence: the
/// command line's `--max-faces` and `--min-confidence`, the Python package's options.
pub fn kept_faces(
    faces: Vec<Face>,
    max_faces: Option<usize>,
    min_confidence: Option<f32>,
) -> Vec<Face> {
    faces
        .into_iter()
        .take(max_faces.unwrap_or(usize::MAX))
        .filter(|face| min_confidence.is_none_or(|p| face.verdict.confidence >= p))
        .collect()
}

pub struct Pipeline {
    detector: FaceDetector,
    classifier: Classifier,
    framing: Framing,
    small_faces: bool,
}

impl Pipeline {
    /// Faces are cropped as the classifier learned them ([`Classifier::framing`]).
    pub fn new(classifier: Classifier) -> Self {
        Self {
            detector: FaceDetector::new(),
            framing: classifier.framing(),
            classifier,
            small_faces: false,
        }
    }

    /// Crops faces as `framing` says instead of the classifier's: for a model in training,
    /// whose faces are cut before it exists.
    pub fn cropping_as(mut self, framing: Framing) -> Self {
        self.framing = framing;
        self
    }

    /// Searches photos larger than [`MAX_WORKING_SIDE`] at their full resolution too, for
    /// faces down to about 24 px ([`FaceDetector::detect_in_photo`]).
    pub fn searching_small_faces(mut self, small_faces: bool) -> Self {
        self.small_faces = small_faces;
        self
    }

    /// [`Self::searching_small_faces`] for the calls after this one.
    pub fn set_small_faces(&mut self, small_faces: bool) {
        self.small_faces = small_faces;
    }

    /// The pipeline with the classifier embedded in this build.
    pub fn embedded() -> Result<Self> {
        Ok(Self::new(Classifier::embedded()?))
    }

    pub fn analyze_bytes(&mut self, bytes: &[u8]) -> Result<Analysis> {
        self.analyze(&decode_image(bytes)?)
    }

    pub fn analyze(&mut self, image: &RgbImage) -> Result<Analysis> {
        let start = Instant::now();
        let (boxes, crops) = self.find_faces(image);
        let detected = Instant::now();
        let faces = self.classified(&boxes, &crops)?;
        Ok(Analysis {
            width: image.width(),
            height: image.height(),
            faces,
            detect_ms: (detected - start).as_secs_f64() * 1e3,
            classify_ms: detected.elapsed().as_secs_f64() * 1e3,
        })
    }

    /// Part `part` of `parts` of the search for faces in `image`, at most the working side
    /// ([`FaceDetector::detect_part`]): for a photo analysed by several workers at once,
    /// each searching a part, then each classifying a share ([`Self::classify_part`]).
    pub fn detect_part(&self, image: &RgbImage, part: usize, parts: usize) -> Vec<FaceBox> {
        self.detector.detect_part(image, part, parts)
    }

    /// The faces all the parts `found`, merged as [`Self::analyze`] would have them (most
    /// confident first), and this worker's share of them classified: every `parts`-th from
    /// `part` on, each with its place in the merged list, and the merged list's length.
    pub fn classify_part(
        &self,
        image: &RgbImage,
        found: Vec<FaceBox>,
        part: usize,
        parts: usize,
    ) -> Result<(usize, Vec<(usize, Face)>)> {
        let merged = FaceDetector::merge(found);
        let (places, boxes): (Vec<usize>, Vec<FaceBox>) = merged
            .iter()
            .enumerate()
            .skip(part)
            .step_by(parts.max(1))
            .map(|(i, b)| (i, *b))
            .unzip();
        let crops: Vec<RgbImage> = boxes
            .iter()
            .map(|b| crop_face(image, b, self.framing))
            .collect();
        let faces = self.classified(&boxes, &crops)?;
        Ok((merged.len(), places.into_iter().zip(faces).collect()))
    }

    /// The faces of `boxes`, whose crops are `crops`, classified and calibrated.
    fn classified(&self, boxes: &[FaceBox], crops: &[RgbImage]) -> Result<Vec<Face>> {
        let probabilities = self.classifier.p_male(crops)?;
        Ok(boxes
            .iter()
            .zip(probabilities)
            .map(|(b, p_male)| Face {
                bbox: [b.x, b.y, b.width, b.height],
                // The crop is cut from `image`: its size follows the box's height there
                // (`crop::crop_region`).
                verdict: verdict_for_face(p_male, b.height),
                p_male,
                detector_score: Some(b.score),
                landmarks: Some(b.landmarks),
            })
            .collect())
    }

    /// The faces [`Self::analyze`] classifies: boxes in `image`'s pixels, most confident
    /// first, each with its network-sized crop (also what `genderlens adapt` trains on).
    pub fn face_crops(&mut self, image: &RgbImage) -> (Vec<FaceBox>, Vec<RgbImage>) {
        self.find_faces(image)
    }

    /// [`Self::face_crops`]: each face cut from `image` itself, at its full resolution.
    fn find_faces(&mut self, image: &RgbImage) -> (Vec<FaceBox>, Vec<RgbImage>) {
        let boxes = self
            .detector
            .detect_in_photo(image, MAX_WORKING_SIDE, self.small_faces);
        let crops = boxes
            .iter()
            .map(|b| crop_face(image, b, self.framing))
            .collect();
        (boxes, crops)
    }

    /// Classifies the whole image as one face crop (for photos that are already crops).
    pub fn classify_whole(&self, image: &RgbImage) -> Result<Face> {
        let p_male = self.classifier.p_male(&[resize_to_input(image)])?[0];
        Ok(Face {
            bbox: [0.0, 0.0, image.width() as f32, image.height() as f32],
            verdict: verdict(p_male),
            p_male,
            detector_score: None,
            landmarks: None,
        })
    }

    pub fn classifier(&self) -> &Classifier {
        &self.classifier
    }
}
