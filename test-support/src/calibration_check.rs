//! One check of the calibration, run natively and in the browser: the probability the
//! pipeline reports for a face is `calibration::p_male` of the network's raw logits at the
//! face's temperature from the embedded weights — and that temperature was really fitted.

use genderlens::classifier::calibration::{p_male, verdict};
use genderlens::classifier::preprocess::resize_to_input;
use genderlens::decode::decode_image;
use genderlens::Pipeline;

/// The (p_male, label, confidence) a whole-image classification of `bytes` must report.
pub fn expected_whole_image(bytes: &[u8]) -> (f32, &'static str, f32) {
    let pipeline = Pipeline::embedded().expect("embedded model");
    let classifier = pipeline.classifier();
    let image = decode_image(bytes).expect("test photo decodes");
    let face = resize_to_input(&image);
    let features = classifier.features(std::slice::from_ref(&face)).unwrap();
    let temperature = classifier.temperatures().for_face(&features[0]);
    assert!(
        temperature > 0.0 && (temperature - 1.0).abs() > 1e-3,
        "the embedded weights carry no fitted temperature ({temperature})"
    );
    let logits = classifier.logits(&[face]).unwrap()[0];
    let p = p_male(logits, temperature);
    assert!(
        (p - p_male(logits, 1.0)).abs() > 1e-4,
        "calibration changes nothing for this face"
    );
    let v = verdict(p);
    (p, v.label, v.confidence)
}
