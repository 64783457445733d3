//! The crop framing constants of `src/crop.rs`, measured again: where the Kaggle training
//! crops (the classifier's tight framing) lie relative to the box the detector finds for the
//! same face, each crop searched inside a grey border of half its size on every side.
#![cfg(not(target_arch = "wasm32"))]

use genderlens::classifier::crop::{
    CANONICAL_POINTS, CROP_CENTRE_BELOW_BOX, CROP_HEIGHT_PER_BOX, CROP_WIDTH_PER_BOX,
};
use genderlens::detect::FaceDetector;
use genderlens_test_support::data::{dataset, sample};
use image::{Rgb, RgbImage};

fn median(mut values: Vec<f32>) -> f32 {
    values.sort_by(f32::total_cmp);
    values[values.len() / 2]
}

#[test]
fn the_tight_crop_lies_where_crop_rs_says_relative_to_the_detector_box() {
    let check = "the_tight_crop_lies_where_crop_rs_says_relative_to_the_detector_box";
    let detector = FaceDetector::new();
    let (mut widths, mut heights, mut below, mut missed) = (vec![], vec![], vec![], 0);
    // Each of the five points' x and y relative to the crop's centre, in box heights.
    let mut points = vec![vec![]; 10];
    for class in ["female", "male"] {
        let Some(dir) = dataset(check, &format!("gender/Training/{class}")) else {
            return;
        };
        for path in sample(&dir, 200) {
            let crop = image::open(&path).expect("readable image").to_rgb8();
            let (w, h) = crop.dimensions();
            let mut padded = RgbImage::from_pixel(2 * w, 2 * h, Rgb([128, 128, 128]));
            image::imageops::replace(&mut padded, &crop, i64::from(w / 2), i64::from(h / 2));
            let Some(face) = detector.detect(&padded).into_iter().next() else {
                missed += 1;
                continue;
            };
            let (cx, cy) = (
                (w / 2) as f32 + w as f32 / 2.0,
                (h / 2) as f32 + h as f32 / 2.0,
            );
            for (i, [x, y]) in face.landmarks.iter().enumerate() {
                points[2 * i].push((x - cx) / face.height);
                points[2 * i + 1].push((y - cy) / face.height);
            }
            widths.push(w as f32 / face.height);
            heights.push(h as f32 / face.height);
            below.push((cy - face.y - face.height / 2.0) / face.height);
            assert!(
                (cx - face.x - face.width / 2.0).abs() < 0.2 * face.height,
                "{}",
                path.display()
            );
        }
    }
    assert!(
        missed <= 4,
        "no face found in {missed} of 400 training crops"
    );
    let measured = [median(widths), median(heights), median(below)];
    let stated = [
        CROP_WIDTH_PER_BOX,
        CROP_HEIGHT_PER_BOX,
        CROP_CENTRE_BELOW_BOX,
    ];
    println!("crop framing measured (width, height, centre below the box's): {measured:?}");
    let canonical: Vec<f32> = points.into_iter().map(median).collect();
    println!("the five points measured (x, y from the crop's centre): {canonical:?}");
    for (m, s) in canonical.iter().zip(CANONICAL_POINTS.as_flattened()) {
        assert!(
            (m - s).abs() < 0.02,
            "measured {canonical:?}, crop.rs says {CANONICAL_POINTS:?}"
        );
    }
    for (m, s) in measured.iter().zip(stated) {
        assert!(
            (m - s).abs() < 0.02,
            "measured {measured:?}, crop.rs says {stated:?}"
        );
    }
}
