//! Stored models: damaged weights, `calibrate` and `quantize` rewriting a model and its report.

use crate::helpers::{assert_success, eval_json, genderlens, has_data, labelled_folder, repo};
use serde_json::Value;

#[test]
fn damaged_weights_are_a_clear_error_naming_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let weights = std::fs::read(repo().join("models/genderlens.safetensors")).unwrap();
    let truncated = dir.path().join("truncated.safetensors");
    std::fs::write(&truncated, &weights[..weights.len() / 2]).unwrap();

    let mut tensors =
        candle_core::safetensors::load_buffer(&weights, &candle_core::Device::Cpu).unwrap();
    let head = tensors["head.weight"].t().unwrap().contiguous().unwrap();
    tensors.insert("head.weight".into(), head);
    let wrong_shape = dir.path().join("wrong-shape.safetensors");
    candle_core::safetensors::save(&tensors, &wrong_shape).unwrap();

    let photo = repo().join("tests/fixtures/solvay-1927.jpg");
    for (file, expected) in [
        (&truncated, ["tensor `", "truncated"]),
        (&wrong_shape, ["head.weight", "shape mismatch"]),
    ] {
        let output = genderlens(&[
            "predict",
            "--model",
            file.to_str().unwrap(),
            photo.to_str().unwrap(),
        ]);
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr);
        for needle in expected {
            assert!(stderr.contains(needle), "{needle:?} not in {stderr}");
        }
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn calibrate_fits_a_temperature_into_the_weights_and_the_report() {
    if !has_data(
        "calibrate_fits_a_temperature_into_the_weights_and_the_report",
        &["gender"],
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.safetensors");
    std::fs::copy(repo().join("models/genderlens.safetensors"), &model).unwrap();
    std::fs::write(
        dir.path().join("m.json"),
        r#"{"commands": ["genderlens train"]}"#,
    )
    .unwrap();
    let val = dir.path().join("val");
    labelled_folder(&val, "gender/Validation", 150);
    let output = genderlens(&[
        "calibrate",
        "--model",
        model.to_str().unwrap(),
        "--data",
        val.to_str().unwrap(),
    ]);
    assert_success(&output);
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("m.json")).unwrap()).unwrap();
    let calibration = &report["calibration"];
    assert_eq!(calibration["images"], 300);
    let t = calibration["temperature"].as_f64().unwrap();
    assert!(t > 0.05 && t < 20.0, "{t}");
    assert!(calibration["nll_after"].as_f64() <= calibration["nll_before"].as_f64());
    assert_eq!(report["commands"].as_array().unwrap().len(), 2);
    // The rewritten weights carry that temperature and still load.
    let tensors = candle_core::safetensors::load(&model, &candle_core::Device::Cpu).unwrap();
    let stored = tensors["calibration.temperature"].to_vec1::<f32>().unwrap()[0];
    assert!((f64::from(stored) - t).abs() < 1e-6);
    let bytes = std::fs::read(&model).unwrap();
    let classifier = genderlens::Classifier::from_safetensors(&bytes).unwrap();
    assert_eq!(classifier.temperatures().base, stored);
}

#[test]
fn quantize_stores_eight_bit_convolutions_and_re_measures_the_model() {
    if !has_data(
        "quantize_stores_eight_bit_convolutions_and_re_measures_the_model",
        &["gender"],
    ) {
        return;
    }
    use candle_core::{DType, Device};
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.safetensors");
    // An f16 model, as `train` exported them before 8-bit storage.
    let committed =
        candle_core::safetensors::load(repo().join("models/genderlens.safetensors"), &Device::Cpu)
            .unwrap();
    let half: std::collections::HashMap<_, _> = genderlens::quantize::dequantize(committed)
        .unwrap()
        .into_iter()
        .map(|(name, t)| (name, t.to_dtype(DType::F16).unwrap()))
        .collect();
    candle_core::safetensors::save(&half, &model).unwrap();
    let f16_bytes = std::fs::metadata(&model).unwrap().len();
    std::fs::copy(
        repo().join("models/genderlens.json"),
        dir.path().join("m.json"),
    )
    .unwrap();
    let val = dir.path().join("val");
    labelled_folder(&val, "gender/Validation", 150);
    let quantize = || {
        genderlens(&[
            "quantize",
            "--model",
            model.to_str().unwrap(),
            "--data",
            val.to_str().unwrap(),
        ])
    };
    let commands_before =
        serde_json::from_str::<Value>(&std::fs::read_to_string(dir.path().join("m.json")).unwrap())
            .unwrap()["commands"]
            .as_array()
            .unwrap()
            .len();
    assert_success(&quantize());

    let bytes = std::fs::read(&model).unwrap();
    assert!(
        (bytes.len() as u64) < f16_bytes * 6 / 10,
        "{} of {f16_bytes} bytes",
        bytes.len()
    );
    let stored = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).unwrap();
    assert_eq!(stored["stage3.conv.weight"].dtype(), DType::U8);
    assert_eq!(stored["stage3.conv.weight.scale"].dims(), &[192]);
    assert_eq!(
        stored["stage0.conv.weight"].dtype(),
        DType::F16,
        "the first layer stays f16"
    );
    // The report holds what anyone re-measures on the stored weights.
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("m.json")).unwrap()).unwrap();
    assert_eq!(report["dtype"], "int8+f16");
    assert_eq!(report["weights_bytes"], bytes.len());
    assert_eq!(report["validation"]["images"], 300);
    assert_eq!(
        report["commands"].as_array().unwrap().len(),
        commands_before + 1
    );
    assert_eq!(
        eval_json(&val, "crop", Some(&model))["confusion"],
        report["validation"]["confusion"]
    );
    assert!(report["validation"]["accuracy"].as_f64().unwrap() > 0.9);
    assert!(dir.path().join("m-confusion.png").is_file());

    let again = quantize();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already stored in 8 bits"));
}
