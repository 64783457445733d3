//! The `genderlens` command line: JSON shapes, exit codes, training, resume, bad data.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn genderlens(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_genderlens"))
        .args(args)
        .output()
        .expect("run genderlens")
}

/// `genderlens train` on `data`, written to `out` under `name` in batches of 32, then `extra`.
fn train_args(data: &Path, out: &Path, name: &str, extra: &[&str]) -> Vec<String> {
    let (data, out) = (data.to_str().unwrap(), out.to_str().unwrap());
    [
        "train",
        "--data",
        data,
        "--out",
        out,
        "--name",
        name,
        "--batch-size",
        "32",
    ]
    .iter()
    .chain(extra)
    .map(|s| s.to_string())
    .collect()
}

fn run_genderlens(args: &[String]) -> Output {
    genderlens(&args.iter().map(|s| s.as_str()).collect::<Vec<_>>())
}

fn last_json_line(output: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_else(|| {
        panic!(
            "no output; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    serde_json::from_str(line).unwrap_or_else(|e| panic!("last line is not JSON ({e}): {line}"))
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn dataset(relative: &str) -> PathBuf {
    let path = repo().join("../shared/datasets").join(relative);
    assert!(
        path.is_dir(),
        "data set folder {} is missing",
        path.display()
    );
    path
}

/// Links the first `count` files of `from` (name order) into `to`.
fn link_sample(from: &Path, to: &Path, count: usize) {
    std::fs::create_dir_all(to).unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(from)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files.into_iter().take(count) {
        std::os::unix::fs::symlink(&file, to.join(file.file_name().unwrap())).unwrap();
    }
}

/// A small dataset in the Kaggle layout, linked from the shared one.
fn small_dataset(dir: &Path, per_class_train: usize, per_class_val: usize) {
    for (split, count) in [("Training", per_class_train), ("Validation", per_class_val)] {
        for class in ["female", "male"] {
            link_sample(
                &dataset(&format!("gender/{split}/{class}")),
                &dir.join(split).join(class),
                count,
            );
        }
    }
}

/// A folder with `female/` and `male/` holding `count` files of each from `source/<class>`.
fn labelled_folder(dir: &Path, source: &str, count: usize) {
    for class in ["female", "male"] {
        link_sample(
            &dataset(&format!("{source}/{class}")),
            &dir.join(class),
            count,
        );
    }
}

/// Runs `eval DIR --mode MODE --json [--model MODEL]`, requires success, returns the JSON line.
fn eval_json(dir: &Path, mode: &str, model: Option<&Path>) -> Value {
    let dir = dir.to_str().unwrap();
    let mut args = vec!["eval", dir, "--mode", mode, "--json"];
    if let Some(model) = model {
        args.extend(["--model", model.to_str().unwrap()]);
    }
    let output = genderlens(&args);
    assert_success(&output);
    last_json_line(&output)
}

fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

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
fn eval_crop_reports_metrics_from_true_labels() {
    let dir = tempfile::tempdir().unwrap();
    labelled_folder(dir.path(), "gender/Validation", 60);
    let m = eval_json(dir.path(), "crop", None);
    assert_eq!(m["images"], 120);
    let confusion: Vec<Vec<u64>> = serde_json::from_value(m["confusion"].clone()).unwrap();
    assert_eq!(confusion[0].iter().sum::<u64>(), 60, "row 0 = true female");
    assert_eq!(confusion[1].iter().sum::<u64>(), 60, "row 1 = true male");
    let accuracy = m["accuracy"].as_f64().unwrap();
    assert!((accuracy - (confusion[0][0] + confusion[1][1]) as f64 / 120.0).abs() < 1e-9);
    assert!(accuracy > 0.9, "accuracy {accuracy}");
    for key in [
        "accuracy_female",
        "accuracy_male",
        "precision",
        "recall",
        "f1",
        "ms_per_image",
        "faces_found",
    ] {
        assert!(m[key].is_number(), "{key} missing");
    }
}

#[test]
fn eval_detect_counts_faces_found() {
    let dir = tempfile::tempdir().unwrap();
    labelled_folder(dir.path(), "utk-dev", 20);
    std::fs::write(dir.path().join("male/blank.png"), []).unwrap();
    let m = eval_json(dir.path(), "detect", None);
    assert_eq!(m["images"], 41);
    assert_eq!(m["unreadable"], 1);
    assert!(m["faces_found"].as_u64().unwrap() >= 38);
    assert!(m["accuracy"].as_f64().unwrap() > 0.8);
}

#[test]
fn eval_of_a_folder_without_classes_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = genderlens(&["eval", dir.path().to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("female/"));
}

/// The tab-separated lines of an `eval --mistakes` file, header checked and removed.
fn mistake_lines(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("file\ttruth\tpredicted\tp_male"));
    lines
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

#[test]
fn eval_lists_its_mistakes_and_training_can_leave_them_out() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    small_dataset(&data, 60, 20);
    // Ten women filed as men: label errors the model should contradict with confidence.
    let swapped = 10;
    let mut women: Vec<PathBuf> = std::fs::read_dir(dataset("gender/Validation/female"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    women.sort();
    for (i, woman) in women.iter().rev().take(swapped).enumerate() {
        let link = data.join(format!("Training/male/swapped-{i}.jpg"));
        std::os::unix::fs::symlink(woman, link).unwrap();
    }
    let training = data.join("Training");
    let (all, confident) = (dir.path().join("all.tsv"), dir.path().join("confident.tsv"));
    let eval = |list: &Path, min_confidence: &str| {
        let output = genderlens(&[
            "eval",
            training.to_str().unwrap(),
            "--json",
            "--mistakes",
            list.to_str().unwrap(),
            "--mistakes-min-confidence",
            min_confidence,
        ]);
        assert_success(&output);
        last_json_line(&output)
    };
    let metrics = eval(&all, "0.5");
    eval(&confident, "0.9");

    // Every wrong answer is listed once, with the answer the confusion matrix counted.
    let confusion: Vec<Vec<usize>> = serde_json::from_value(metrics["confusion"].clone()).unwrap();
    let lines = mistake_lines(&all);
    assert_eq!(lines.len(), confusion[0][1] + confusion[1][0]);
    let confidence = |line: &Vec<String>| {
        let p_male: f64 = line[3].parse().unwrap();
        assert_eq!(line[2], if p_male >= 0.5 { "male" } else { "female" });
        assert_ne!(line[1], line[2], "only mistakes are listed: {line:?}");
        0.5 + (p_male - 0.5).abs()
    };
    let confidences: Vec<f64> = lines.iter().map(confidence).collect();
    assert!(
        confidences.windows(2).all(|w| w[0] >= w[1]),
        "most confident first: {confidences:?}"
    );
    // The confident list is the head of the full one.
    let head: Vec<Vec<String>> = lines
        .iter()
        .zip(&confidences)
        .filter(|(_, &c)| c >= 0.9)
        .map(|(l, _)| l.clone())
        .collect();
    assert_eq!(mistake_lines(&confident), head);
    let caught = head.iter().filter(|l| l[0].contains("swapped-")).count();
    assert!(caught >= 8, "{caught} of {swapped} swapped labels listed");

    // Training leaves exactly the listed images out, and records how many.
    let out = dir.path().join("out");
    let args = train_args(
        &data,
        &out,
        "clean",
        &["--epochs", "1", "--exclude", confident.to_str().unwrap()],
    );
    assert_success(&run_genderlens(&args));
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("clean.json")).unwrap()).unwrap();
    assert_eq!(report["data"]["training"]["excluded"], head.len());
    assert_eq!(
        report["data"]["training"]["used"],
        120 + swapped - head.len()
    );
}

#[test]
fn training_learns_skips_bad_files_and_writes_the_model_report() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    small_dataset(&data, 400, 150);
    std::fs::write(
        data.join("Training/female/broken.jpg"),
        b"\xFF\xD8\xFF\xE0 broken",
    )
    .unwrap();
    std::fs::write(data.join("Training/male/readme.txt"), "not an image").unwrap();
    let out = dir.path().join("out");
    let output = genderlens(&[
        "train",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--name",
        "tiny",
        // Runs are not bit-reproducible (parallel float sums): in four runs, 3 epochs
        // ended at 0.64-0.76 validation accuracy, too close to the floor below; in three, 4
        // epochs at 0.74-0.78; with the default first half on 48 px faces, four runs at
        // 0.74-0.79.
        "--epochs",
        "4",
    ]);
    assert_success(&output);
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("tiny.json")).unwrap()).unwrap();
    assert_eq!(report["data"]["training"]["unreadable"], 2);
    assert_eq!(report["data"]["training"]["used"], 800);
    assert_eq!(report["history"].as_array().unwrap().len(), 4);
    // Wall time covers decoding and the epochs' steps, and validation and export besides.
    let seconds = |key: &str| report[key].as_f64().unwrap();
    assert!(seconds("wall_seconds") > seconds("decode_seconds") + seconds("train_seconds"));
    let accuracy = report["validation"]["accuracy"].as_f64().unwrap();
    assert!(
        accuracy > 0.65,
        "validation accuracy {accuracy} after 4 small epochs"
    );
    assert!(report["command"]
        .as_str()
        .unwrap()
        .starts_with("genderlens train"));
    for chart in ["tiny-curves.png", "tiny-confusion.png"] {
        let image = image::open(out.join(chart))
            .unwrap_or_else(|e| panic!("{chart} is a PNG: {e}"))
            .to_rgb8();
        let colours: std::collections::HashSet<[u8; 3]> = image.pixels().map(|p| p.0).collect();
        assert!(
            colours.len() > 20,
            "{chart} has content, not a blank canvas"
        );
    }
    // The report's numbers are re-measurable with `eval` on the exported weights.
    let eval = eval_json(
        &data.join("Validation"),
        "crop",
        Some(&out.join("tiny.safetensors")),
    );
    let measured = eval["accuracy"].as_f64().unwrap();
    assert!(
        (measured - accuracy).abs() < 1e-9,
        "eval {measured} vs report {accuracy}"
    );
    assert!(
        !out.join("tiny.checkpoint.safetensors").exists(),
        "checkpoint removed after a finished run"
    );
}

#[test]
fn an_interrupted_run_resumes_from_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    small_dataset(&data, 100, 50);
    let out = dir.path().join("out");
    let train = |out: &Path, extra: &[&str]| {
        run_genderlens(&train_args(
            &data,
            out,
            "r",
            &[&["--epochs", "2"], extra].concat(),
        ))
    };
    // 2 × 60 training images / 32 = 4 batches per epoch: stop in the middle of epoch 2.
    let first = train(
        &out,
        &[
            "--limit",
            "60",
            "--low-res-epochs",
            "1",
            "--channels",
            "16,24,40,64",
            "--stop-after-batches",
            "6",
        ],
    );
    assert_eq!(
        first.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(out.join("r.checkpoint.safetensors").exists());
    assert!(
        !out.join("r.safetensors").exists(),
        "no model before the run finishes"
    );
    // The run's folder moved, and the command repeats only where and how long: the run
    // keeps its own settings (60 images per class, a small-face first epoch).
    let moved = dir.path().join("moved");
    std::fs::rename(&out, &moved).unwrap();
    let resumed_at = std::time::Instant::now();
    let second = train(&moved, &["--resume"]);
    let second_process = resumed_at.elapsed().as_secs_f64();
    assert_success(&second);
    assert!(String::from_utf8_lossy(&second.stdout).contains("resuming at epoch 2 batch 2"));
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(moved.join("r.json")).unwrap()).unwrap();
    assert_eq!(
        report["data"]["training"]["used"], 120,
        "{}",
        report["data"]
    );
    assert_eq!(report["settings"]["out"], moved.to_str().unwrap());
    let history = report["history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "epochs 1 and 2, none repeated or lost");
    assert_eq!(history[1]["epoch"], 2);
    // Both processes' time counts: more than the second process took, and more than the
    // steps of both epochs.
    let wall = report["wall_seconds"].as_f64().unwrap();
    let steps: f64 = history.iter().map(|h| h["seconds"].as_f64().unwrap()).sum();
    assert!(
        wall > second_process && wall > steps,
        "{wall} s: second process {second_process} s, steps {steps} s"
    );
    // The resumed run keeps the first run's schedule: one small-face epoch, then full size;
    // and its network: the widths it started with, which the stored weights carry.
    assert_eq!(history[0]["input_side"], 48);
    assert_eq!(history[1]["input_side"], 64);
    assert_eq!(
        report["stage_channels"],
        serde_json::json!([16, 24, 40, 64])
    );
    let weights = moved.join("r.safetensors");
    let stored_bytes = std::fs::metadata(&weights).unwrap().len();
    assert!(
        stored_bytes < 100_000,
        "{stored_bytes} bytes: the default widths take 226 kB"
    );
    let eval = eval_json(&data.join("Validation"), "crop", Some(&weights));
    assert_eq!(eval["confusion"], report["validation"]["confusion"]);
}

#[test]
fn channels_other_than_four_positive_widths_are_a_clear_error() {
    for bad in ["24,48,96", "24,48,0,192", "24,48,96,192,256"] {
        let output = genderlens(&["train", "--channels", bad]);
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("--channels takes four positive widths"),
            "{bad}: {stderr}"
        );
    }
}

#[test]
fn a_low_resolution_side_the_network_cannot_pool_is_a_clear_error() {
    let output = genderlens(&["train", "--low-res-epochs", "2", "--low-res-side", "8"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--low-res-side must be between 16 and 64"),
        "{stderr}"
    );
}

#[test]
fn training_without_a_validation_folder_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    for class in ["female", "male"] {
        link_sample(
            &dataset(&format!("gender/Training/{class}")),
            &dir.path().join("Training").join(class),
            5,
        );
    }
    let output = genderlens(&[
        "train",
        "--data",
        dir.path().to_str().unwrap(),
        "--out",
        dir.path().join("o").to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Validation") && stderr.contains("does not exist"),
        "{stderr}"
    );
}

#[test]
fn a_killed_run_resumes_without_losing_a_completed_epoch() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    small_dataset(&data, 60, 30);
    let out = dir.path().join("out");
    let args = |epochs: &str| train_args(&data, &out, "k", &["--epochs", epochs]);
    // Far more epochs than it gets: SIGKILL right after the second epoch's summary line.
    let mut child = Command::new(env!("CARGO_BIN_EXE_genderlens"))
        .args(args("50"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut summaries = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if line.contains(": train loss") {
            summaries.push(line);
            if summaries.len() == 2 {
                child.kill().unwrap(); // SIGKILL: no handler runs
                break;
            }
        }
    }
    assert!(!child.wait().unwrap().success());
    assert_eq!(summaries.len(), 2, "the run ended before two epochs");
    assert!(
        !out.join("k.safetensors").exists(),
        "no model from a killed run"
    );

    let resumed = run_genderlens(&[args("3"), vec!["--resume".into()]].concat());
    assert_success(&resumed);
    assert!(
        String::from_utf8_lossy(&resumed.stdout).contains("resuming at epoch 3 batch 0"),
        "{}",
        String::from_utf8_lossy(&resumed.stdout)
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("k.json")).unwrap()).unwrap();
    let history = report["history"].as_array().unwrap();
    assert_eq!(history.len(), 3);
    for (record, line) in history.iter().zip(&summaries) {
        let val_loss = format!("val loss {:.4}", record["val_loss"].as_f64().unwrap());
        assert!(
            line.contains(&val_loss),
            "{line} vs {val_loss}: epoch redone"
        );
    }
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

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

#[path = "../../tests/common/corpus.rs"]
mod corpus;

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

/// End-to-end accuracy measured on utk-dev with this model: 95.0 % (the model was fine-tuned
/// on utk-dev by `genderlens adapt`, so this is not an estimate for unseen photos: that is the
/// 94.3 % out of fold in the model JSON). A regression of about two points fails here.
const UTK_DEV_ACCURACY_FLOOR: f64 = 0.93;

#[test]
fn utk_dev_report_keeps_its_accuracy_and_lists_every_group() {
    let utk = dataset("utk-dev");
    let output = genderlens(&["report", utk.to_str().unwrap(), "--json"]);
    assert_success(&output);
    let report = last_json_line(&output);
    let rows = report["rows"].as_array().unwrap();
    let find = |group: &str, value: &str| {
        rows.iter()
            .find(|r| r["group"] == group && r["value"] == value)
            .unwrap_or_else(|| panic!("no row for {group} {value}"))
    };
    let all = find("all", "all");
    assert_eq!(all["images"], 1000);
    let accuracy = all["accuracy"].as_f64().unwrap();
    assert!(
        accuracy >= UTK_DEV_ACCURACY_FLOOR,
        "utk-dev end to end {accuracy} < floor {UTK_DEV_ACCURACY_FLOOR}"
    );
    // Each breakdown covers every image, and the groups utk-dev has are all there.
    for (group, values) in [
        ("sex", &["female", "male"][..]),
        ("race", &["White", "Black", "Asian", "Indian", "Other"][..]),
        ("age", &["18–29", "30–49", "50+"][..]),
    ] {
        let rows_of_group: Vec<_> = rows.iter().filter(|r| r["group"] == group).collect();
        let total: u64 = rows_of_group
            .iter()
            .map(|r| r["images"].as_u64().unwrap())
            .sum();
        assert_eq!(total, 1000, "{group} rows do not add up");
        for value in values {
            let row = find(group, value);
            assert!(
                row["images"].as_u64().unwrap() >= 20,
                "{group} {value}: {row}"
            );
            assert!((0.0..=1.0).contains(&row["accuracy"].as_f64().unwrap()));
        }
    }
    assert_eq!(find("sex", "female")["images"], 500);
    let ece = report["ece"].as_f64().unwrap();
    assert!((0.0..0.2).contains(&ece), "ECE {ece}");
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(table.contains("| race | Black | "), "{table}");
}

#[test]
fn calibrate_fits_a_temperature_into_the_weights_and_the_report() {
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
    assert_eq!(classifier.temperature(), stored);
}

#[test]
fn quantize_stores_eight_bit_convolutions_and_re_measures_the_model() {
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

#[test]
fn adapt_cross_validates_on_the_target_photos_resumes_and_exports_a_recalibrated_model() {
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
