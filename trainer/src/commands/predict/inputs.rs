//! The images `predict` reads: files named on the command line or listed in a file
//! (`--files-from`), and every image below the folders named there, recognised by content
//! rather than by extension, in a stable order.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use walkdir::WalkDir;

/// One file to analyse, and the name `--shard` decides by: its path relative to the folder it
/// was found below (machines that mount a library at different places agree on it), or the
/// path as it was given.
pub struct Input {
    pub path: PathBuf,
    pub key: String,
}

/// Every file to analyse under `paths` whose key `wanted` accepts (`--shard`), lazily. A
/// file named there is analysed whatever it holds (a wrong one gets an error); folders are
/// walked recursively in file-name order, and of their files only those that start like an
/// image are taken, checked as they come (after `wanted`: a shard opens only its own files),
/// so memory does not grow with the folder. What cannot be read is reported on stderr and
/// skipped.
pub fn inputs<'a>(
    paths: impl IntoIterator<Item = PathBuf> + 'a,
    wanted: &'a (dyn Fn(&str) -> bool + 'a),
) -> impl Iterator<Item = Input> + 'a {
    paths
        .into_iter()
        .flat_map(move |path| -> Box<dyn Iterator<Item = Input> + 'a> {
            if path.is_dir() {
                let root = path.clone();
                Box::new(
                    files_below(&path)
                        .map(move |p| Input {
                            key: key_below(&root, &p),
                            path: p,
                        })
                        .filter(move |input| {
                            wanted(&input.key) && looks_like_an_image(&input.path)
                        }),
                )
            } else {
                let input = Input {
                    key: slashed(&path),
                    path,
                };
                Box::new(wanted(&input.key).then_some(input).into_iter())
            }
        })
}

/// The paths listed in `reader`, one a line (a file or a folder, as on the command line),
/// read as they are needed; blank lines are skipped, a line that is not text is reported.
pub fn listed(reader: impl BufRead) -> impl Iterator<Item = PathBuf> {
    reader
        .lines()
        .enumerate()
        .filter_map(|(i, line)| match line {
            Ok(line) => {
                let line = line.strip_suffix('\r').unwrap_or(&line);
                (!line.trim().is_empty()).then(|| PathBuf::from(line))
            }
            Err(error) => {
                eprintln!("skipping line {} of the file list: {error}", i + 1);
                None
            }
        })
}

fn key_below(root: &Path, path: &Path) -> String {
    slashed(path.strip_prefix(root).unwrap_or(path))
}

/// A path with `/` between its parts, the same on every system.
fn slashed(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
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
        let found: Vec<Input> = inputs(paths.clone(), &|_| true).collect();
        assert_eq!(
            found.iter().map(|i| i.path.clone()).collect::<Vec<_>>(),
            [
                nested.join("photo.dat"),
                dir.path().join("z.jpg"),
                named.clone()
            ]
        );
        // Keys below a folder are relative to it; a named file keeps its path.
        assert_eq!(found[0].key, "b/c/photo.dat");
        assert_eq!(found[1].key, "z.jpg");
        assert_eq!(found[2].key, slashed(&named));
        assert_eq!(count_candidates(&paths), 5);
        // What a shard does not want is never opened; a named file is left out too.
        let only_z: Vec<Input> = inputs(paths.clone(), &|key| key == "z.jpg").collect();
        assert_eq!(only_z.len(), 1);
    }

    #[test]
    fn a_file_list_gives_one_path_a_line() {
        let list = "a.jpg\r\n\n  \nphotos/b c.png\n";
        let paths: Vec<PathBuf> = listed(list.as_bytes()).collect();
        assert_eq!(
            paths,
            [PathBuf::from("a.jpg"), PathBuf::from("photos/b c.png")]
        );
    }
}
