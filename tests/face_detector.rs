//! Our detector (`face-detector/`, a fork of rustface with faster inner loops) must find
//! exactly the faces rustface 0.1.7 finds: same boxes, same scores up to float rounding
//! (its MLP dot products add in a different order).
#![cfg(not(target_arch = "wasm32"))]

use genderlens_test_support::data::{dataset, sample};
use genderlens_test_support::detector_equivalence::assert_same_faces;
use genderlens_test_support::{PORTRAITS, SOLVAY_JPEG};
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

/// The image as given and inside a grey border, as the pipeline's retry for tight crops
/// searches it; returns the faces found in both.
fn same_faces_plain_and_padded(name: &str, gray: &GrayImage) -> usize {
    let (w, h) = gray.dimensions();
    let mut padded = GrayImage::from_pixel(w * 3 / 2, h * 3 / 2, image::Luma([128]));
    image::imageops::replace(&mut padded, gray, i64::from(w / 4), i64::from(h / 4));
    assert_same_faces(name, gray) + assert_same_faces(&format!("{name} padded"), &padded)
}

#[test]
fn the_portrait_fixtures_give_the_upstream_faces() {
    let mut faces = 0;
    for (i, (_, bytes)) in PORTRAITS.iter().enumerate() {
        let gray = image::load_from_memory(bytes).unwrap().to_luma8();
        faces += same_faces_plain_and_padded(&format!("portrait {i}"), &gray);
    }
    assert!(faces >= PORTRAITS.len(), "{faces} faces");
}

#[test]
fn portraits_and_tight_crops_of_the_data_sets_give_the_upstream_faces() {
    let check = "portraits_and_tight_crops_of_the_data_sets_give_the_upstream_faces";
    let mut images = Vec::new();
    for folder in ["utk-dev/female", "utk-dev/male", "gender/Validation/female"] {
        let Some(dir) = dataset(check, folder) else {
            return;
        };
        images.extend(sample(&dir, 15));
    }
    let mut faces = 0;
    for path in &images {
        let gray = image::open(path).expect("readable image").to_luma8();
        faces += same_faces_plain_and_padded(&path.display().to_string(), &gray);
    }
    assert!(
        faces >= images.len(),
        "{faces} faces in {} images",
        images.len()
    );
}
