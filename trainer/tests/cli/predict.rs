//! `predict`: one result or error per image, with the JSON the README documents.

use crate::helpers::{assert_success, genderlens, last_json_line, repo};
use genderlens_test_support::corpus;

#[test]
fn predict_json_has_one_object_per_image_with_errors_inline() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("notes.jpg");
    std::fs::write(&bad, "this is text").unwrap();
    let fixture = repo().join("tests/fixtures/solvay-1927.jpg");
    let output = genderlens(&[
        "predict",
        fixture.to_str().unwrap(),
        bad.to_str().unwrap(),
        "--json",
    ]);
    assert!(output.status.success(), "one good image: exit 0");
    let results = last_json_line(&output);
    let results = results.as_array().unwrap();
    assert_eq!(results.len(), 2);
    let good = &results[0];
    assert_eq!(good["width"], 1024);
    assert_eq!(good["height"], 698);
    assert!(good["error"].is_null());
    let faces = good["faces"].as_array().unwrap();
    assert!(faces.len() >= 20, "{} faces", faces.len());
    for face in faces {
        assert_eq!(face["box"].as_array().unwrap().len(), 4);
        assert!(["female", "male", "uncertain"].contains(&face["label"].as_str().unwrap()));
        assert!(["female", "male"].contains(&face["likely"].as_str().unwrap()));
        assert!(face["confidence"].as_f64().unwrap() >= 0.5);
        let p = face["p_male"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&p));
    }
    assert!(results[1]["error"]
        .as_str()
        .unwrap()
        .contains("not a supported image"));
    assert_eq!(results[1]["faces"].as_array().unwrap().len(), 0);

    let only_bad = genderlens(&["predict", bad.to_str().unwrap(), "--json"]);
    assert!(
        !only_bad.status.success(),
        "every file failed: non-zero exit"
    );
    assert!(last_json_line(&only_bad)[0]["error"].is_string());
}

#[test]
fn predict_gives_a_result_or_an_error_for_every_corpus_file() {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus::bad_files(true);
    let paths: Vec<String> = files
        .iter()
        .map(|f| {
            let path = dir.path().join(&f.name);
            std::fs::write(&path, &f.bytes).unwrap();
            path.to_str().unwrap().to_string()
        })
        .collect();
    let mut args = vec!["predict", "--json"];
    args.extend(paths.iter().map(|p| p.as_str()));
    let output = genderlens(&args);
    assert_success(&output);
    let results = last_json_line(&output);
    for (file, result) in files.iter().zip(results.as_array().unwrap()) {
        let name = &file.name;
        let faces = result["faces"].as_array().unwrap();
        match file.expect {
            corpus::Expect::Error => {
                assert!(result["error"].as_str().unwrap().len() > 10, "{name}")
            }
            corpus::Expect::NoFace => assert!(faces.is_empty() && result["error"].is_null()),
            corpus::Expect::Face { upright } => {
                assert_eq!(result["width"], upright.0, "{name}");
                assert_eq!(result["height"], upright.1, "{name}");
                assert_eq!(faces[0]["likely"], "male", "{name}");
            }
        }
    }
}
