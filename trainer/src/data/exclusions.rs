//! `--exclude FILE`: training images to leave out, such as the suspected label errors that
//! `genderlens eval --mistakes` lists.
//!
//! An image is named by its class folder and file name (`male/012345.jpg`), so a list made
//! from one copy of the data set applies to another copy elsewhere.

use crate::data::folders::FileList;
use anyhow::{bail, Context, Result};
use std::collections::HashSet;
use std::path::Path;

/// The images named in an exclusion list.
#[derive(Debug)]
pub struct Exclusions {
    names: HashSet<String>,
}

impl Exclusions {
    /// Reads a list with one image path per line; only the first tab-separated field counts,
    /// so `eval --mistakes` output (with its `file` header) can be passed as it is.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the exclusion list {}", path.display()))?;
        let mut names = HashSet::new();
        for (number, line) in text.lines().enumerate() {
            let field = line.split('\t').next().unwrap_or("").trim();
            if field.is_empty() || (number == 0 && field == "file") {
                continue;
            }
            match key(Path::new(field)) {
                Some(key) => names.insert(key),
                None => bail!(
                    "{} line {}: `{field}` is not a path of the form <class>/<file>",
                    path.display(),
                    number + 1
                ),
            };
        }
        Ok(Self { names })
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// `list` without the excluded images, and how many were removed.
    pub fn apply(&self, mut list: FileList) -> (FileList, usize) {
        let before = list.files.len();
        list.files
            .retain(|(path, _)| key(path).is_none_or(|k| !self.names.contains(&k)));
        let removed = before - list.files.len();
        (list, removed)
    }
}

/// `class/file` of an image path.
fn key(path: &Path) -> Option<String> {
    let file = path.file_name()?.to_str()?;
    let class = path.parent()?.file_name()?.to_str()?;
    Some(format!("{class}/{file}"))
}

/// `list` less the images named in the `--exclude` file, and how many those were.
pub fn without_excluded(list: FileList, exclude: Option<&Path>) -> Result<(FileList, usize)> {
    let Some(path) = exclude else {
        return Ok((list, 0));
    };
    let exclusions = Exclusions::read(path)?;
    let (list, removed) = exclusions.apply(list);
    println!(
        "Training: {removed} images left out ({} listed in {})",
        exclusions.len(),
        path.display()
    );
    Ok((list, removed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn list(paths: &[(&str, u32)]) -> FileList {
        FileList {
            files: paths.iter().map(|(p, l)| (PathBuf::from(p), *l)).collect(),
        }
    }

    #[test]
    fn images_are_matched_by_class_folder_and_name_wherever_the_data_set_lies() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("exclusions-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let file = dir.join("suspects.tsv");
        std::fs::write(
            &file,
            "file\ttruth\tpredicted\tp_male\n\
             /elsewhere/Training/male/2.jpg\tmale\tfemale\t0.02\n\
             \n\
             female/3.jpg\n",
        )?;
        let exclusions = Exclusions::read(&file)?;
        assert_eq!(exclusions.len(), 2);
        let (kept, removed) = exclusions.apply(list(&[
            ("data/Training/female/2.jpg", 0),
            ("data/Training/male/2.jpg", 1),
            ("data/Training/female/3.jpg", 0),
            ("data/Training/male/3.jpg", 1),
        ]));
        assert_eq!(removed, 2);
        let kept: Vec<_> = kept.files.iter().map(|(p, _)| p.clone()).collect();
        assert_eq!(
            kept,
            [
                PathBuf::from("data/Training/female/2.jpg"),
                PathBuf::from("data/Training/male/3.jpg")
            ]
        );
        // A bare file name could match either class: refused, naming the line.
        std::fs::write(&file, "2.jpg\n")?;
        let error = Exclusions::read(&file).unwrap_err().to_string();
        assert!(error.contains("line 1"), "{error}");
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
