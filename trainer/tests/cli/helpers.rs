//! Running the CLI and making the data folders the tests use.

use genderlens_test_support::data;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn genderlens(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_genderlens"))
        .args(args)
        .output()
        .expect("run genderlens")
}

/// `genderlens train` on `data`, written to `out` under `name` in batches of 32, then `extra`.
pub fn train_args(data: &Path, out: &Path, name: &str, extra: &[&str]) -> Vec<String> {
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

/// `genderlens prepare SOURCE DIR --out OUT --held-out LIST` with 30 % for validation, then
/// `extra`; its `prepare.json`.
pub fn prepare(source: &str, dir: &Path, out: &Path, held_out: &Path, extra: &[&str]) -> Value {
    let output = genderlens(
        &[
            "prepare",
            source,
            dir.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--held-out",
            held_out.to_str().unwrap(),
            "--validation-share",
            "0.3",
        ]
        .iter()
        .chain(extra)
        .copied()
        .collect::<Vec<_>>(),
    );
    assert_success(&output);
    serde_json::from_str(&std::fs::read_to_string(out.join("prepare.json")).unwrap()).unwrap()
}

pub fn run_genderlens(args: &[String]) -> Output {
    genderlens(&args.iter().map(|s| s.as_str()).collect::<Vec<_>>())
}

pub fn last_json_line(output: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_else(|| {
        panic!(
            "no output; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    serde_json::from_str(line).unwrap_or_else(|e| panic!("last line is not JSON ({e}): {line}"))
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Whether the data-set folders a check needs are there (else it is skipped, or fails when
/// CI=true; see `genderlens_test_support::data`).
pub fn has_data(check: &str, folders: &[&str]) -> bool {
    folders
        .iter()
        .all(|folder| data::dataset(check, folder).is_some())
}

/// A folder of the data sets, after `has_data` said they are there.
pub fn dataset(relative: &str) -> PathBuf {
    data::root().join(relative)
}

/// Links the first `count` files of `from` (name order) into `to`.
pub fn link_sample(from: &Path, to: &Path, count: usize) {
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
pub fn small_dataset(dir: &Path, per_class_train: usize, per_class_val: usize) {
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
pub fn labelled_folder(dir: &Path, source: &str, count: usize) {
    for class in ["female", "male"] {
        link_sample(
            &dataset(&format!("{source}/{class}")),
            &dir.join(class),
            count,
        );
    }
}

/// Runs `eval DIR --mode MODE --json [--model MODEL]`, requires success, returns the JSON line.
pub fn eval_json(dir: &Path, mode: &str, model: Option<&Path>) -> Value {
    let dir = dir.to_str().unwrap();
    let mut args = vec!["eval", dir, "--mode", mode, "--json"];
    if let Some(model) = model {
        args.extend(["--model", model.to_str().unwrap()]);
    }
    let output = genderlens(&args);
    assert_success(&output);
    last_json_line(&output)
}

pub fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
