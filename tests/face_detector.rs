//! Our detector (`face-detector/`, a fork of rustface with faster inner loops) must find
//! exactly the faces rustface 0.1.7 finds: same boxes, same scores up to float rounding
//! (its MLP dot products add in a different order).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{dataset, sample, SOLVAY_JPEG};
use image::GrayImage;

const MODEL: &[u8] = include_bytes!("../src/assets/seeta_fd_frontal_v1.0.bin");

type Found = Vec<(i32, i32, u32, u32, f64)>;

fn upstream(image: &GrayImage) -> Found {
    let mut detector =
        rustface::create_detector_with_model(rustface::read_model(MODEL).expect("model"));
    detector.set_score_thresh(2.0);
    detector.set_pyramid_scale_factor(0.8);
    detector.set_slide_window_step(4, 4);
    let (w, h) = image.dimensions();
    detector
        .detect(&rustface::ImageData::new(image.as_raw(), w, h))
        .iter()
        .map(|f| {
            let b = f.bbox();
            (b.x(), b.y(), b.width(), b.height(), f.score())
        })
        .collect()
}

fn fork(image: &GrayImage) -> Found {
    let mut detector =
        face_detector::create_detector_with_model(face_detector::read_model(MODEL).expect("model"));
    detector.set_score_thresh(2.0);
    detector.set_pyramid_scale_factor(0.8);
    detector.set_slide_window_step(4, 4);
    let (w, h) = image.dimensions();
    detector
        .detect(&face_detector::ImageData::new(image.as_raw(), w, h))
        .iter()
        .map(|f| {
            let b = f.bbox();
            (b.x(), b.y(), b.width(), b.height(), f.score())
        })
        .collect()
}

fn assert_same_faces(name: &str, image: &GrayImage) -> usize {
    let (expected, got) = (upstream(image), fork(image));
    assert_eq!(expected.len(), got.len(), "{name}: {expected:?} vs {got:?}");
    for (e, g) in expected.iter().zip(&got) {
        assert_eq!(
            (e.0, e.1, e.2, e.3),
            (g.0, g.1, g.2, g.3),
            "{name}: boxes differ"
        );
        assert!(
            (e.4 - g.4).abs() <= 1e-4 * e.4.abs().max(1.0),
            "{name}: score {} vs {}",
            e.4,
            g.4
        );
    }
    got.len()
}

#[test]
fn group_photo_at_three_sizes_gives_the_upstream_faces() {
    let photo = image::load_from_memory(SOLVAY_JPEG)
        .expect("fixture")
        .to_luma8();
    let mut faces = 0;
    for width in [photo.width(), 1024, 640] {
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
