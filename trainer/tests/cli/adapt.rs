//! `adapt`: cross-validated fine-tuning, resuming, bad arguments.

use crate::helpers::{
    assert_success, eval_json, genderlens, has_data, labelled_folder, repo, small_dataset,
};
use serde_json::Value;

#[test]
fn adapt_cross_validates_on_the_target_photos_resumes_and_exports_a_recalibrated_model() {
    if !has_data(
        "adapt_cross_validates_on_the_target_photos_resumes_and_exports_a_recalibrated_model",
        &["gender", "utk-dev"],
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    small_dataset(&data, 100, 60);
    let target = dir.path().join("target");
    labelled_folder(&target, "utk-dev", 12);
    std::fs::write(target.join("female/notes.txt"), "not an image").unwrap();
    let base = dir.path().join("base.safetensors");
    std::fs::copy(repo().join("models/genderlens.safetensors"), &base).unwrap();
    std::fs::copy(
        repo().join("models/genderlens.json"),
        base.with_extension("json"),
    )
    .unwrap();
    let out = dir.path().join("out");
    let args = [
        "adapt",
        target.to_str().unwrap(),
        "--model",
        base.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--name",
        "adapted",
        "--folds",
        "3",
        "--steps",
        "4",
        "--batch-size",
        "16",
    ];
    // Interrupted after two of the three folds: their results are saved, nothing exported.
    let output = genderlens(&[&args[..], &["--stop-after-folds", "2"]].concat());
    assert_eq!(output.status.code(), Some(130), "{output:?}");
    let progress = out.join("adapted.adapt-progress.json");
    assert!(progress.is_file());
    assert!(!out.join("adapted.safetensors").exists());
    // A resume with other settings would mix two experiments: refused, progress kept.
    let output = genderlens(
        &[
            &args[..12],
            &["--steps", "5", "--batch-size", "16", "--resume"],
        ]
        .concat(),
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("other settings"));
    assert!(progress.is_file());

    // Balancing changes nothing of the folds, so a resumed run may turn it on.
    let output = genderlens(&[&args[..], &["--resume", "--balance"]].concat());
    assert_success(&output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    for fold in ["fold 1/3", "fold 2/3"] {
        assert!(
            stdout.contains(&format!("{fold}: done by an earlier process")),
            "{stdout}"
        );
    }
    assert!(stdout.contains("fold 3/3: 4 steps"), "{stdout}");
    assert!(!progress.exists(), "the finished run removes its progress");

    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("adapted.json")).unwrap()).unwrap();
    let cv = &report["adaptation"]["cross_validation"];
    assert_eq!(cv["images"], 25, "{cv}");
    let found = cv["faces_found"].as_u64().unwrap();
    assert!((22..=24).contains(&found), "faces found {found}");
    for side in ["before", "after", "balanced"] {
        // Every image is predicted once (by the fold model that did not train on it); the
        // unreadable file and images without a face count as wrong.
        let confusion: Vec<Vec<u64>> =
            serde_json::from_value(cv[side]["confusion"].clone()).unwrap();
        assert_eq!(confusion[0].iter().sum::<u64>(), 13, "{side}: true female");
        assert_eq!(confusion[1].iter().sum::<u64>(), 12, "{side}: true male");
        assert!(cv[side]["accuracy"].as_f64().unwrap() <= found as f64 / 25.0);
    }
    assert_eq!(cv["groups"][0]["images"], 25);
    // Every fold ran: the out-of-fold calibration error is measured, beside its floor.
    for key in ["ece", "ece_floor"] {
        assert!((0.0..=1.0).contains(&cv[key].as_f64().unwrap()), "{cv}");
    }
    assert_eq!(cv["fold_offsets"].as_array().unwrap().len(), 3);
    assert_eq!(cv["balance_applied"], true);
    let adaptation = &report["adaptation"];
    assert!(adaptation["balancing_offset"].as_f64().unwrap().is_finite());
    assert_eq!(
        adaptation["decision_offset"],
        adaptation["balancing_offset"]
    );
    // The base model's history stays; the adaptation is recorded after it.
    assert!(report["history"].as_array().is_some_and(|h| !h.is_empty()));
    let commands = report["commands"].as_array().unwrap();
    assert!(commands
        .last()
        .unwrap()
        .as_str()
        .unwrap()
        .starts_with("genderlens adapt "));
    let adapt_commands = report["adaptation"]["commands"].as_array().unwrap();
    assert_eq!(
        adapt_commands.len(),
        2,
        "the interrupted and the resuming command"
    );
    assert!(adapt_commands[1]
        .as_str()
        .unwrap()
        .ends_with("--resume --balance"));
    assert_eq!(report["validation"]["images"], 120);
    assert!(report["calibration"]["temperature"].as_f64().unwrap() > 0.0);

    let model = out.join("adapted.safetensors");
    assert_ne!(
        std::fs::read(&model).unwrap(),
        std::fs::read(&base).unwrap()
    );
    // Its faces were cut as the base model's, and the product must cut them so.
    let framing = |path: &std::path::Path| {
        genderlens::Classifier::from_safetensors(&std::fs::read(path).unwrap())
            .unwrap()
            .framing()
    };
    assert_eq!(framing(&model), framing(&base));
    let stored = candle_core::safetensors::load(&model, &candle_core::Device::Cpu).unwrap();
    assert!(stored.contains_key(genderlens::classifier::crop::CROP_SCALE_TENSOR));
    eval_json(&target, "detect", Some(&model));
}

#[test]
fn adapt_needs_two_folds_and_an_existing_folder() {
    let output = genderlens(&["adapt", "no-such-folder", "--folds", "1"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--folds"));
    let output = genderlens(&["adapt", "no-such-folder"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no-such-folder"));
    let out = tempfile::tempdir().unwrap();
    let output = genderlens(&[
        "adapt",
        "no-such-folder",
        "--out",
        out.path().to_str().unwrap(),
        "--resume",
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no interrupted adapt run"));
}
