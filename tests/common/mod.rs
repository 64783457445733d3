//! Shared helpers for the native integration tests.
#![allow(dead_code)]

pub mod calibration_check;
pub mod corpus;
pub mod detector_equivalence;

use std::path::PathBuf;

/// A folder of the shared data sets, which live beside the repository, never in it.
pub fn dataset(relative: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/datasets")
        .join(relative);
    assert!(
        path.is_dir(),
        "data set folder {} is missing (see README: Data)",
        path.display()
    );
    path
}

/// Every `step`-th file of a folder, in name order: a fixed, spread-out sample.
pub fn sample(dir: &PathBuf, count: usize) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let step = (files.len() / count).max(1);
    files.into_iter().step_by(step).take(count).collect()
}

pub const SOLVAY_JPEG: &[u8] = include_bytes!("../fixtures/solvay-1927.jpg");
