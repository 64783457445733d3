//! Our detector against the reference runtime: OpenCV's FaceDetectorYN ran YuNet-s's ONNX
//! file on the committed photos (`tests/fixtures/detector/reference.py` wrote what it found).
//! Run natively and in the browser, where the wasm SIMD kernels run.

use genderlens::decode::decode_image;
use genderlens::detect::{FaceBox, FaceDetector, SCORE_THRESHOLD};
use serde::Deserialize;

const REFERENCE: &str = include_str!("../../tests/fixtures/detector/reference.json");

/// Box corners and landmarks within this many pixels, scores within this much.
pub const PIXELS: f32 = 1.0;
pub const SCORE: f32 = 0.02;

#[derive(Deserialize)]
struct Reference {
    reported_score: f32,
    images: Vec<Photo>,
}

#[derive(Deserialize)]
struct Photo {
    file: String,
    faces: Vec<Expected>,
}

#[derive(Deserialize)]
struct Expected {
    #[serde(rename = "box")]
    bbox: [f32; 4],
    landmarks: [[f32; 2]; 5],
    score: f32,
}

fn fixture(file: &str) -> &'static [u8] {
    match file {
        "solvay-1927.jpg" => crate::SOLVAY_JPEG,
        "faces/collins.jpg" => crate::COLLINS_JPEG,
        "faces/einstein.jpg" => crate::EINSTEIN_JPEG,
        "faces/planck.jpg" => crate::PLANCK_JPEG,
        other => panic!("the reference names an unknown photo {other}"),
    }
}

/// Checks every photo of the reference; returns how many faces were compared. A face the
/// reference scores clearly above the product's threshold must be found by ours and match
/// it; ours may find no face the reference does not list, and none it scores clearly
/// below the threshold ("clearly": by more than [`SCORE`]).
pub fn assert_same_faces_as_the_reference() -> usize {
    let reference: Reference = serde_json::from_str(REFERENCE).expect("reference.json parses");
    // Everything the reference lists, so a near-threshold face is compared too.
    let detector = FaceDetector::new().with_threshold(reference.reported_score);
    let mut compared = 0;
    for photo in &reference.images {
        let image = decode_image(fixture(&photo.file)).expect("fixture decodes");
        let ours = detector.search(&image);
        for e in &photo.faces {
            let matched = ours
                .iter()
                .find(|f| centre_distance(f, &e.bbox) < PIXELS * 2.0);
            let Some(f) = matched else {
                assert!(
                    e.score < SCORE_THRESHOLD + SCORE,
                    "{}: ours misses the face at {:?} (reference score {})",
                    photo.file,
                    e.bbox,
                    e.score
                );
                continue;
            };
            let corners = |b: [f32; 4]| [b[0], b[1], b[0] + b[2], b[1] + b[3]];
            let got = corners([f.x, f.y, f.width, f.height]);
            for (g, x) in got.iter().zip(corners(e.bbox)) {
                assert!(
                    (g - x).abs() <= PIXELS,
                    "{}: box {got:?} vs {:?}",
                    photo.file,
                    e.bbox
                );
            }
            for (g, x) in f.landmarks.iter().zip(&e.landmarks) {
                assert!(
                    (g[0] - x[0]).abs() <= PIXELS && (g[1] - x[1]).abs() <= PIXELS,
                    "{}: landmarks {:?} vs {:?}",
                    photo.file,
                    f.landmarks,
                    e.landmarks
                );
            }
            assert!(
                (f.score - e.score).abs() <= SCORE,
                "{}: score {} vs {}",
                photo.file,
                f.score,
                e.score
            );
            compared += 1;
        }
        for f in &ours {
            let listed = photo
                .faces
                .iter()
                .any(|e| centre_distance(f, &e.bbox) < PIXELS * 2.0);
            assert!(
                listed || f.score < reference.reported_score + SCORE,
                "{}: ours finds a face the reference does not: {f:?}",
                photo.file
            );
        }
    }
    compared
}

fn centre_distance(f: &FaceBox, b: &[f32; 4]) -> f32 {
    let (fx, fy) = (f.x + f.width / 2.0, f.y + f.height / 2.0);
    (fx - b[0] - b[2] / 2.0).hypot(fy - b[1] - b[3] / 2.0)
}
