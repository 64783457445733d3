//! Our detector (`face-detector/`, a fork of rustface with faster inner loops) must find
//! exactly the faces rustface 0.1.7 finds: same boxes, same scores up to float rounding
//! (its MLP dot products add in a different order).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::detector_equivalence::assert_same_faces;
use common::{dataset, sample, SOLVAY_JPEG};
use image::GrayImage;

#[test]
fn group_photo_at_three_sizes_gives_the_upstream_faces() {
    let photo = image::load_from_memory(SOLVAY_JPEG)
        .expect("fixture")
        .to_luma8();
    let mut faces = 0;
    for width in [photo.width(), 800, 640] {
        let height = photo.height() * width / photo.width();
        let scaled = image::imageops::resize(&photo, width, height, image::imageops::Triangle);
        faces += assert_same_faces(&format!("solvay {width} px"), &scaled);
    }
    // The comparison means something only if faces were found.
    assert!(faces >= 20, "{faces} faces");
}

#[test]
fn portraits_and_tight_crops_give_the_upstream_faces() {
    let mut images = Vec::new();
    for folder in ["utk-dev/female", "utk-dev/male", "gender/Validation/female"] {
        images.extend(sample(&dataset(folder), 15));
    }
    let mut faces = 0;
    for path in &images {
        let gray = image::open(path).expect("readable image").to_luma8();
        faces += assert_same_faces(&path.display().to_string(), &gray);
        // Tight crops are also searched inside a grey border, as the pipeline's retry does.
        let (w, h) = gray.dimensions();
        let mut padded = GrayImage::from_pixel(w * 3 / 2, h * 3 / 2, image::Luma([128]));
        image::imageops::replace(&mut padded, &gray, i64::from(w / 4), i64::from(h / 4));
        faces += assert_same_faces(&format!("{} padded", path.display()), &padded);
    }
    assert!(
        faces >= images.len(),
        "{faces} faces in {} images",
        images.len()
    );
}
