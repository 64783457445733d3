//! The data sets live beside the repository (`../shared/datasets`), never in it. A check that
//! needs one runs when it is there; on a fresh clone without it the check is skipped with one
//! line on the terminal, unless `CI=true`, where a missing folder fails the check.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Where the data sets are looked for: `GENDERLENS_DATASETS`, else `../shared/datasets`
/// beside the repository.
pub fn root() -> PathBuf {
    match std::env::var_os("GENDERLENS_DATASETS") {
        Some(dir) => PathBuf::from(dir),
        None => normalised(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets")),
    }
}

/// `path` with its `..` and `.` steps resolved by name (the folder need not exist), so that
/// skip lines name the folder a person would look for.
fn normalised(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Whether missing data fails a check instead of skipping it.
pub fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The folder `relative` of the data sets, or `None` (after saying so) when it is missing and
/// data is not required. `check` names the test in the skip line.
pub fn dataset(check: &str, relative: &str) -> Option<PathBuf> {
    let path = root().join(relative);
    if path.is_dir() {
        return Some(path);
    }
    assert!(
        !required(),
        "{check}: data set folder {} is missing (CI=true requires it; see README: Data)",
        path.display()
    );
    // Straight to the terminal: the test harness captures `eprintln!` of passing tests.
    let _ = writeln!(
        std::io::stderr(),
        "skipped {check}: no data set folder {}",
        path.display()
    );
    None
}

/// Every `step`-th file of a folder, in name order: a fixed, spread-out sample.
pub fn sample(dir: &Path, count: usize) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let step = (files.len() / count).max(1);
    files.into_iter().step_by(step).take(count).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_lines_name_the_folder_without_steps_back() {
        assert_eq!(
            normalised(Path::new("/a/b/test-support/../../shared/./datasets")),
            PathBuf::from("/a/shared/datasets")
        );
        assert!(!root()
            .components()
            .any(|c| c == std::path::Component::ParentDir));
    }
}
