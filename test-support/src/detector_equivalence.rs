//! Runs rustface 0.1.7 and our fork (`face-detector/`) on the same image and requires the
//! same faces: same boxes, scores equal up to float rounding (the fork's MLP dot products
//! add in a different order). Used natively and in the browser, where the fork's wasm SIMD
//! paths run.

use image::GrayImage;

const MODEL: &[u8] = include_bytes!("../../src/assets/seeta_fd_frontal_v1.0.bin");

type Found = Vec<(i32, i32, u32, u32, f64)>;

/// The faces `$detector` (a crate with rustface's API) finds in `$image`, with the
/// pipeline's settings (`src/detect.rs`) for faces of the window's size and larger.
macro_rules! faces_found_by {
    ($detector:ident, $image:expr) => {{
        let image: &GrayImage = $image;
        let model = $detector::read_model(MODEL).expect("model");
        let mut detector = $detector::create_detector_with_model(model);
        // rustface searches from the image as given down, whatever the minimum face size;
        // ours enlarges the image for faces below the 40 px window, so compare at 40.
        detector.set_min_face_size(40);
        detector.set_score_thresh(2.0);
        detector.set_pyramid_scale_factor(0.8);
        detector.set_slide_window_step(4, 4);
        let (w, h) = image.dimensions();
        detector
            .detect(&$detector::ImageData::new(image.as_raw(), w, h))
            .iter()
            .map(|f| {
                let b = f.bbox();
                (b.x(), b.y(), b.width(), b.height(), f.score())
            })
            .collect::<Found>()
    }};
}

pub fn assert_same_faces(name: &str, image: &GrayImage) -> usize {
    let expected = faces_found_by!(rustface, image);
    let got = faces_found_by!(face_detector, image);
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
