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

/// How closely ours matched the reference: faces compared, the largest difference of a box
/// corner or landmark coordinate (pixels) and of a score.
#[derive(Debug)]
pub struct Compared {
    pub faces: usize,
    pub worst_pixels: f32,
    pub worst_score: f32,
}

/// Checks every photo of the reference and says how closely they matched. A face the
/// reference scores clearly above the product's threshold must be found by ours and match
/// it; ours may find no face the reference does not list, and none it scores clearly
/// below the threshold ("clearly": by more than [`SCORE`]).
pub fn assert_same_faces_as_the_reference() -> Compared {
    let reference: Reference = serde_json::from_str(REFERENCE).expect("reference.json parses");
    // Everything the reference lists, so a near-threshold face is compared too.
    let detector = FaceDetector::new().with_threshold(reference.reported_score);
    let mut compared = Compared {
        faces: 0,
        worst_pixels: 0.0,
        worst_score: 0.0,
    };
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
                compared.worst_pixels = compared.worst_pixels.max((g - x).abs());
                assert!(
                    (g - x).abs() <= PIXELS,
                    "{}: box {got:?} vs {:?}",
                    photo.file,
                    e.bbox
                );
            }
            for (g, x) in f.landmarks.iter().zip(&e.landmarks) {
                let apart = (g[0] - x[0]).abs().max((g[1] - x[1]).abs());
                compared.worst_pixels = compared.worst_pixels.max(apart);
                assert!(
                    (g[0] - x[0]).abs() <= PIXELS && (g[1] - x[1]).abs() <= PIXELS,
                    "{}: landmarks {:?} vs {:?}",
                    photo.file,
                    f.landmarks,
                    e.landmarks
                );
            }
            compared.worst_score = compared.worst_score.max((f.score - e.score).abs());
            assert!(
                (f.score - e.score).abs() <= SCORE,
                "{}: score {} vs {}",
                photo.file,
                f.score,
                e.score
            );
            compared.faces += 1;
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
