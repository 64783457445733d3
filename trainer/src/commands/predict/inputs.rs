//! The images `predict` reads: files named on the command line, and every image below the
//! folders named there, recognised by content rather than by extension, in a stable order.

use std::io::Read;
use std::path::{Path, PathBuf};
use walkdir::WalkDir;

/// Every file to analyse under `paths`, lazily. A file named there is analysed whatever it
/// holds (a wrong one gets an error); folders are walked recursively in file-name order, and
/// of their files only those that start like an image are taken, checked as they come, so
/// memory does not grow with the folder. What cannot be read is reported on stderr and skipped.
pub fn inputs(paths: &[PathBuf]) -> impl Iterator<Item = PathBuf> + '_ {
    paths
        .iter()
        .flat_map(|path| -> Box<dyn Iterator<Item = PathBuf>> {
            if path.is_dir() {
                Box::new(files_below(path).filter(|p| looks_like_an_image(p)))
            } else {
                Box::new(std::iter::once(path.clone()))
            }
        })
}

/// How many files `inputs` will consider at most: files named, plus every file below the
/// folders (before the content check). For the progress bar's estimate.
pub fn count_candidates(paths: &[PathBuf]) -> usize {
    paths
        .iter()
        .map(|path| {
            if path.is_dir() {
                files_below(path).count()
            } else {
                1
            }
        })
        .sum()
}

fn files_below(dir: &Path) -> impl Iterator<Item = PathBuf> {
    WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_map(|entry| match entry {
            Ok(entry) => Some(entry),
            Err(error) => {
                eprintln!("skipping: {error}");
                None
            }
        })
        .filter(|entry| entry.file_type().is_file())
        .map(|entry| entry.into_path())
}

/// Whether the file starts like one of the formats the pipeline decodes.
pub fn looks_like_an_image(path: &Path) -> bool {
    let mut head = [0u8; 16];
    let Ok(read) = std::fs::File::open(path).and_then(|mut f| f.read(&mut head)) else {
        return false;
    };
    let head = &head[..read];
    head.starts_with(&[0xFF, 0xD8, 0xFF])
        || head.starts_with(b"\x89PNG\r\n\x1a\n")
        || head.starts_with(b"GIF87a")
        || head.starts_with(b"GIF89a")
        || (head.starts_with(b"RIFF") && head.get(8..12) == Some(b"WEBP"))
        || head.starts_with(b"BM")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_walked_in_order_and_only_images_are_taken() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("b/c");
        std::fs::create_dir_all(&nested).unwrap();
        std::fs::write(dir.path().join("z.jpg"), [0xFF, 0xD8, 0xFF, 0xE0, 0, 0]).unwrap();
        std::fs::write(nested.join("photo.dat"), b"\x89PNG\r\n\x1a\n....").unwrap();
        std::fs::write(dir.path().join("a.jpg"), b"just text").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"more text").unwrap();
        let named = dir.path().join("notes.txt");
        let paths = [dir.path().to_path_buf(), named.clone()];
        let found: Vec<PathBuf> = inputs(&paths).collect();
        assert_eq!(
            found,
            [nested.join("photo.dat"), dir.path().join("z.jpg"), named]
        );
        assert_eq!(count_candidates(&paths), 5);
    }
}
