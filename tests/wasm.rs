//! The bindings in a real browser (`wasm-pack test --headless --firefox --release`).
#![cfg(target_arch = "wasm32")]

use genderlens::wasm::GenderLens;
use genderlens_test_support::corpus::{self, Expect};
use genderlens_test_support::detector_reference::assert_same_faces_as_the_reference;
use genderlens_test_support::{
    calibration_check, portrait_read_right, solvay_recall, PORTRAITS, SOLVAY_JPEG,
};
use js_sys::{Array, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn get(value: &JsValue, key: &str) -> JsValue {
    Reflect::get(value, &key.into()).unwrap()
}

fn faces(analysis: &JsValue) -> Array {
    Array::from(&get(analysis, "faces"))
}

/// A file's RGBA pixels and size, as the page hands them over after the browser decoded it
/// (decoded here by the Rust decoder the command line uses: the module has none of its own).
fn rgba(file: &[u8]) -> (Vec<u8>, u32, u32) {
    let image = genderlens::decode::decode_image(file).unwrap();
    let pixels = image.pixels().flat_map(|p| [p[0], p[1], p[2], 255]);
    (pixels.collect(), image.width(), image.height())
}

fn analyze(lens: &mut GenderLens, file: &[u8]) -> JsValue {
    let (pixels, width, height) = rgba(file);
    lens.analyze_rgba(&pixels, width, height, None).unwrap()
}

#[wasm_bindgen_test]
fn embedded_model_loads() {
    assert!(GenderLens::new().is_ok());
}

#[wasm_bindgen_test]
fn the_portraits_are_read_right() {
    let mut lens = GenderLens::new().unwrap();
    for (i, (_, photo)) in PORTRAITS.into_iter().enumerate() {
        let analysis = analyze(&mut lens, photo);
        let faces = faces(&analysis);
        assert!(faces.length() >= 1, "no face found");
        let face = faces.get(0);
        let label = get(&face, "label").as_string().unwrap();
        assert!(portrait_read_right(i, &label), "portrait {i}: {label}");
        let p_male = get(&face, "p_male").as_f64().unwrap();
        assert!((0.0..=1.0).contains(&p_male));
        assert_eq!(Array::from(&get(&face, "box")).length(), 4);
    }
}

#[wasm_bindgen_test]
fn the_simd_detector_finds_the_faces_the_reference_runtime_finds() {
    let compared = assert_same_faces_as_the_reference();
    assert!(compared.faces >= 32, "{compared:?}");
}

#[wasm_bindgen_test]
fn solvay_photo_yields_its_29_faces_with_landmarks() {
    let mut lens = GenderLens::new().unwrap();
    let analysis = analyze(&mut lens, SOLVAY_JPEG);
    assert_eq!(get(&analysis, "width").as_f64(), Some(1024.0));
    let faces = faces(&analysis);
    let boxes: Vec<[f32; 4]> = faces
        .iter()
        .map(|f| {
            let b = Array::from(&get(&f, "box"));
            std::array::from_fn(|i| b.get(i as u32).as_f64().unwrap() as f32)
        })
        .collect();
    assert_eq!(solvay_recall(&boxes, 1.0), (29, 0));
    for face in faces.iter() {
        assert_eq!(Array::from(&get(&face, "landmarks")).length(), 5);
    }
    assert!(get(&analysis, "detect_ms").as_f64().unwrap() >= 0.0);
}

#[wasm_bindgen_test]
fn every_corpus_file_is_inspected_and_refused_or_analysed_and_the_module_stays_usable() {
    let mut lens = GenderLens::new().unwrap();
    for file in corpus::bad_files(true) {
        let name = &file.name;
        // The page inspects each file before the browser decodes it: every bad file of the
        // corpus is refused by its header alone.
        match (file.expect, GenderLens::inspect_image(&file.bytes)) {
            (Expect::Error, Err(e)) => {
                // A code a program can act on (the npm package's GenderLensError.code).
                let code = get(&e, "code").as_string().unwrap_or_default();
                assert!(
                    matches!(code.as_str(), "not-an-image" | "truncated" | "too-large"),
                    "{name}: code {code:?}"
                );
                let message = e.dyn_into::<js_sys::Error>().unwrap().message();
                assert!(message.length() > 10, "{name}: unclear error {message}");
            }
            (Expect::NoFace, Ok(_)) => assert_eq!(
                faces(&analyze(&mut lens, &file.bytes)).length(),
                0,
                "{name}"
            ),
            (Expect::Face { upright }, Ok(header)) => {
                // The stored size, before the EXIF rotation the decoder applies.
                let stored = (
                    get(&header, "width").as_f64(),
                    get(&header, "height").as_f64(),
                );
                let turned = name.starts_with("exif-orientation-") && name[17..18] >= *"5";
                let (w, h) = if turned {
                    (upright.1, upright.0)
                } else {
                    upright
                };
                assert_eq!(stored, (Some(w as f64), Some(h as f64)), "{name}");
                let faces = faces(&analyze(&mut lens, &file.bytes));
                assert!(faces.length() >= 1, "{name}: no face");
                assert_eq!(
                    get(&faces.get(0), "label").as_string().unwrap(),
                    "male",
                    "{name}"
                );
            }
            (expect, Ok(_)) => panic!("{name}: expected {expect:?}, got a result"),
            (expect, Err(_)) => panic!("{name}: expected {expect:?}, got an error"),
        }
    }
    let bad_buffer = lens.analyze_rgba(&[0, 0, 0], 10, 10, None).unwrap_err();
    assert_eq!(
        get(&bad_buffer, "code").as_string().as_deref(),
        Some("unsupported-source")
    );
    assert!(GenderLens::inspect_image(b"GIF89a").is_err());
    // Still works after the errors.
    assert_eq!(faces(&analyze(&mut lens, SOLVAY_JPEG)).length(), 29);
}

#[wasm_bindgen_test]
fn the_browser_reports_the_same_calibrated_probability_as_native_code() {
    let lens = GenderLens::new().unwrap();
    for (_, photo) in PORTRAITS {
        let (p, label, confidence) = calibration_check::expected_whole_image(photo);
        let (pixels, width, height) = rgba(photo);
        let face = lens.classify_whole_rgba(&pixels, width, height).unwrap();
        assert_eq!(get(&face, "p_male").as_f64().unwrap() as f32, p);
        assert_eq!(get(&face, "label").as_string().unwrap(), label);
        assert_eq!(
            get(&face, "confidence").as_f64().unwrap() as f32,
            confidence
        );
    }
}
