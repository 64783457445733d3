//! `train` on several sources: photos prepared by `prepare` join the crops with their share
//! of every batch, cut by the product's detector, validated on their own, held-out photos
//! never among them.

use crate::helpers::{assert_success, genderlens, prepare, repo, run_genderlens, train_args};
use genderlens_test_support::{synthetic, PORTRAITS};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Photos in a folder of `split/class`.
fn count(dir: &Path, split: &str) -> usize {
    ["female", "male"]
        .iter()
        .map(|class| {
            std::fs::read_dir(dir.join(split).join(class))
                .unwrap()
                .count()
        })
        .sum()
}

/// A UTKFace-layout folder of the fixture portraits (loosely framed: 200 px around a face),
/// aged 5 to 74 by their names, prepared into `dir/photos` with two of them held out.
fn prepared_portraits(dir: &Path) -> PathBuf {
    let raw = dir.join("utk");
    std::fs::create_dir_all(&raw).unwrap();
    let mut names = vec![];
    for i in 0..24 {
        let (class, bytes) = PORTRAITS[i % PORTRAITS.len()];
        let gender = u8::from(class == "female");
        let name = format!(
            "{}_{gender}_{}_20170102{i:06}.jpg.chip.jpg",
            5 + 3 * i,
            i % 5
        );
        std::fs::write(raw.join(&name), bytes).unwrap();
        names.push(name);
    }
    let held_out = dir.join("held-out.txt");
    std::fs::write(&held_out, format!("{}\n{}\n", names[4], names[9])).unwrap();
    let photos = dir.join("photos");
    prepare("utkface", &raw, &photos, &held_out, &[]);
    photos
}

/// The children (under 16 by their names) among a prepared folder's training photos.
fn children_in_training(photos: &Path) -> usize {
    ["female", "male"]
        .iter()
        .flat_map(|class| std::fs::read_dir(photos.join("Training").join(class)).unwrap())
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            let age: u32 = name
                .to_str()
                .unwrap()
                .split('_')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            age < 16
        })
        .count()
}

/// The age calibration's report agrees with itself and with the weights: its temperatures
/// are stored exactly when they lower the largest source's calibration error.
fn assert_age_calibration(age: &Value, weights: &Path, faces: usize, children: usize) {
    assert_eq!(age["probe_faces"], faces);
    assert_eq!(age["probe_children"], children);
    let largest = |key: &str| {
        age[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|pair| pair[1].as_f64().unwrap())
            .fold(0.0, f64::max)
    };
    let stored = largest("ece_by_age") < largest("ece_single");
    assert_eq!(age["stored"], stored);
    let tensors = candle_core::safetensors::load(weights, &candle_core::Device::Cpu).unwrap();
    assert_eq!(
        tensors.contains_key("calibration.child_temperature"),
        stored
    );
    let classifier = genderlens::Classifier::from_safetensors(&std::fs::read(weights).unwrap());
    assert_eq!(classifier.unwrap().temperatures().child.is_some(), stored);
}

#[test]
fn prepared_photos_train_with_their_share_and_are_validated_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let crops = dir.path().join("crops");
    synthetic::kaggle_layout(&crops, 40, 10);
    let photos = prepared_portraits(dir.path());
    let (photo_train, photo_val) = (count(&photos, "Training"), count(&photos, "Validation"));
    assert_eq!(photo_train + photo_val, 22);

    let out = dir.path().join("out");
    let source = format!("utk={}", photos.display());
    let output = run_genderlens(&train_args(
        &crops,
        &out,
        "m",
        &[
            "--epochs",
            "1",
            "--channels",
            "16,24,40,64",
            "--photos",
            &source,
            "--share",
            "utk=0.25",
            "--boost",
            "0-15=3",
            "--age-weight",
            "0.5",
            "--crop-scale",
            "1.3",
        ],
    ));
    assert_success(&output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("each batch of 32: crops 24, utk 8"),
        "{stdout}"
    );
    // The children among the training photos (ages 5, 8, 11, 14 by their names).
    let children = children_in_training(&photos);
    assert!(children > 0);
    assert!(
        stdout.contains(&format!(
            "utk: {children} of {photo_train} faces boosted, {} draws a pass",
            photo_train + 2 * children
        )),
        "{stdout}"
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("m.json")).unwrap()).unwrap();
    let sources = report["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 2);
    assert_eq!(sources[0]["name"], "crops");
    assert_eq!(sources[0]["share"], 0.75);
    let utk = &sources[1];
    assert_eq!(
        (&utk["name"], &utk["framing"]),
        (&"utk".into(), &"photos".into())
    );
    // Every prepared photo was read and its face found; the held-out ones were never there.
    let training = &utk["data"]["training"];
    assert_eq!(training["used"], photo_train);
    assert_eq!(training["without_face"], 0);
    assert_eq!(utk["data"]["prepared"]["held_out_dropped"], 2);
    // Validated end to end on its own photos, by group.
    assert_eq!(utk["validation"]["images"], photo_val);
    let all = &utk["groups"][0];
    assert_eq!(
        (&all["group"], &all["images"]),
        (&"all".into(), &photo_val.into())
    );
    let ece = utk["ece"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&ece), "ECE {ece}");
    // A few validation photos: chance alone puts a calibrated model's error points high.
    let floor = utk["ece_floor"].as_f64().unwrap();
    assert!(floor > 0.0 && floor <= 1.0, "floor {floor}");
    // Each epoch records both sources; the calibration used both validation splits.
    let epoch = &report["history"][0];
    assert_eq!(epoch["sources"].as_array().unwrap().len(), 2);
    assert_eq!(
        report["calibration"]["images"],
        20 + utk["data"]["validation"]["used"].as_u64().unwrap()
    );
    // The age probe learnt from the training photos' ages.
    let weights = out.join("m.safetensors");
    assert_age_calibration(&report["age_calibration"], &weights, photo_train, children);
    // So did the age head, which only trained: the stored model has none of it.
    let age_loss = epoch["train_age_loss"].as_f64().unwrap();
    assert!(
        age_loss.is_finite() && age_loss > 0.0,
        "age loss {age_loss}"
    );
    assert_eq!(report["settings"]["age_weight"], 0.5);
    let tensors = candle_core::safetensors::load(&weights, &candle_core::Device::Cpu).unwrap();
    assert!(tensors.keys().all(|name| !name.starts_with("age_head")));
    assert!(tensors.contains_key("head.weight"));
    // The photos were cropped wider, and the product will crop them so.
    assert_eq!(report["settings"]["crop_scale"], 1.3);
    let scale = tensors["crop.scale"].to_vec1::<f32>().unwrap();
    assert_eq!(scale, [1.3]);
}

/// `train` on a tiny crops folder with `extra`, which must fail: its standard error.
fn refused_training(extra: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let crops = dir.path().join("crops");
    synthetic::kaggle_layout(&crops, 4, 2);
    let output = run_genderlens(&train_args(&crops, &dir.path().join("out"), "x", extra));
    assert!(!output.status.success());
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn the_age_target_needs_file_names_that_give_ages() {
    let stderr = refused_training(&["--age-weight", "0.5"]);
    assert!(
        stderr.contains("no training file name gives an age"),
        "{stderr}"
    );
}

#[test]
fn a_crop_scale_outside_what_makes_a_face_crop_is_refused() {
    let stderr = refused_training(&["--crop-scale", "5"]);
    assert!(
        stderr.contains("--crop-scale: a crop scale of 5"),
        "{stderr}"
    );
}

#[test]
fn shares_that_name_no_source_or_leave_one_without_room_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let crops = dir.path().join("crops");
    synthetic::kaggle_layout(&crops, 4, 2);
    let photos = format!("more={}", crops.display());
    for (share, says) in [
        ("nobody=0.5", "not a source"),
        ("more=1", "sum to 1"),
        ("more=x", "a fraction"),
    ] {
        let output = run_genderlens(&train_args(
            &crops,
            &dir.path().join("out"),
            "x",
            &["--photos", &photos, "--share", share],
        ));
        assert!(!output.status.success(), "--share {share} accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(says), "--share {share}: {stderr}");
    }
    let output = genderlens(&["train", "--photos", "no-equals-sign"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("NAME=VALUE"));
}

#[test]
fn calibrate_fits_the_age_probe_on_prepared_photos() {
    let dir = tempfile::tempdir().unwrap();
    let crops = dir.path().join("crops");
    synthetic::kaggle_layout(&crops, 2, 10);
    let photos = prepared_portraits(dir.path());
    let model = dir.path().join("m.safetensors");
    std::fs::copy(repo().join("models/genderlens.safetensors"), &model).unwrap();
    // As `train` reports its sources; `other` was not calibrated on here.
    let before = r#"{"commands": ["genderlens train"], "sources": [
        {"name": "crops", "ece": 9}, {"name": "utk", "ece": 9}, {"name": "other", "ece": 9}]}"#;
    std::fs::write(dir.path().join("m.json"), before).unwrap();
    let source = format!("utk={}", photos.display());
    let output = genderlens(&[
        "calibrate",
        "--model",
        model.to_str().unwrap(),
        "--data",
        crops.join("Validation").to_str().unwrap(),
        "--photos",
        &source,
    ]);
    assert_success(&output);
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("m.json")).unwrap()).unwrap();
    // One temperature on the crops' and the photos' validation faces together.
    let photo_val = count(&photos, "Validation");
    assert_eq!(report["calibration"]["images"], 20 + photo_val);
    let age = &report["age_calibration"];
    let names: Vec<&str> = age["ece_single"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| pair[0].as_str().unwrap())
        .collect();
    assert_eq!(names, ["crops", "utk"]);
    let (faces, children) = (count(&photos, "Training"), children_in_training(&photos));
    assert_age_calibration(age, &model, faces, children);
    // Each source calibrated on is measured again at the stored temperatures.
    let sources = &report["sources"];
    for source in &sources.as_array().unwrap()[..2] {
        assert_ne!(source["ece"], 9);
        assert!(source["ece_floor"].as_f64().unwrap() > 0.0, "{source}");
    }
    assert_eq!(sources[1]["validation"]["images"], photo_val);
    assert_eq!(sources[1]["groups"][0]["images"], photo_val);
    assert_eq!(sources[2], serde_json::json!({"name": "other", "ece": 9}));
    let output = genderlens(&[
        "calibrate",
        "--model",
        model.to_str().unwrap(),
        "--photos",
        "x",
    ]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("NAME=DIR"));
}
