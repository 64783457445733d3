//! `genderlens prepare SOURCE DIR --out OUT`: turns a public data set of everyday faces into
//! the folder layout `train` reads (`OUT/Training/{female,male}`, `OUT/Validation/{female,male}`),
//! linking (or, across file systems, copying) its photos.
//!
//! - `utkface`: a folder of `age_gender_race_date.jpg.chip.jpg` files (gender 0 male, 1 female);
//!   names without those fields are skipped and counted.
//! - `all-age-faces`: the data set's root, with `original images/` and the label lists
//!   `image sets/train_.txt` and `image sets/val_.txt` (`NAME LABEL`, 1 male, 0 female).
//!
//! The photos named in the held-out list are dropped first, before anything reads them; the
//! split is decided by a hash of each file name, so it is the same on every machine and run.
//! `OUT/prepare.json` records the source, the counts and what was dropped or skipped.

use crate::digest::fnv1a;
use crate::model_file::write_atomically;
use anyhow::{bail, Context, Result};
use genderlens::classifier::model::CLASSES;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// UTKFace's aligned and cropped photos (all ages, five race groups).
    Utkface,
    /// All-Age-Faces (mostly East Asian, ages 2–80, loosely cropped).
    AllAgeFaces,
}

#[derive(clap::Args, Debug)]
pub struct PrepareArgs {
    /// Which data set DIR holds.
    #[arg(value_enum)]
    pub source: Source,
    /// The data set as downloaded (see the module documentation for each layout).
    pub dir: PathBuf,
    /// Where the Training/ and Validation/ folders are made (must not exist yet, or be empty).
    #[arg(long)]
    pub out: PathBuf,
    /// Photos never to use (one file name per line): kept for independent testing.
    #[arg(long, default_value = "../shared/datasets/held-out-names.txt")]
    pub held_out: PathBuf,
    /// Prepare without a held-out list (a data set downloaded on its own).
    #[arg(long, conflicts_with = "held_out")]
    pub no_held_out: bool,
    /// Also drop every photo whose file name appears anywhere under DIR (repeatable): e.g. a
    /// test folder cut from the same source, which training must not see either.
    #[arg(long = "drop-names-in", value_name = "DIR")]
    pub drop_names_in: Vec<PathBuf>,
    /// Share of the photos that go to Validation/.
    #[arg(long, default_value_t = 0.15)]
    pub validation_share: f64,
}

/// One labelled photo of the source.
struct Labelled {
    path: PathBuf,
    /// 0 female, 1 male, as everywhere in the trainer.
    class: u32,
}

#[derive(Serialize)]
struct Report {
    source: Source,
    dir: String,
    /// The held-out list applied (`None`: --no-held-out).
    held_out: Option<String>,
    validation_share: f64,
    /// Photos per split and class.
    counts: BTreeMap<String, usize>,
    held_out_dropped: usize,
    /// The folders of `--drop-names-in` and the photos dropped because of them.
    drop_names_in: Vec<String>,
    names_in_dropped: usize,
    /// Names without the fields the labels come from.
    unlabelled_skipped: usize,
    /// Files that are not readable images.
    unreadable_skipped: usize,
}

pub fn run(args: PrepareArgs) -> Result<()> {
    if !(0.0..1.0).contains(&args.validation_share) {
        bail!("--validation-share must be at least 0 and below 1");
    }
    let held_out = if args.no_held_out {
        HashSet::new()
    } else {
        read_held_out(&args.held_out)?
    };
    let mut report = Report {
        source: args.source,
        dir: args.dir.display().to_string(),
        held_out: (!args.no_held_out).then(|| args.held_out.display().to_string()),
        validation_share: args.validation_share,
        counts: BTreeMap::new(),
        held_out_dropped: 0,
        drop_names_in: args
            .drop_names_in
            .iter()
            .map(|d| d.display().to_string())
            .collect(),
        names_in_dropped: 0,
        unlabelled_skipped: 0,
        unreadable_skipped: 0,
    };
    let listed = match args.source {
        Source::Utkface => utkface(&args.dir, &mut report)?,
        Source::AllAgeFaces => all_age_faces(&args.dir, &mut report)?,
    };
    let (kept, dropped) = without_names(listed, &held_out);
    report.held_out_dropped = dropped;
    let (kept, dropped) = without_names(kept, &names_under(&args.drop_names_in)?);
    report.names_in_dropped = dropped;
    if args.out.exists() && std::fs::read_dir(&args.out)?.next().is_some() {
        bail!(
            "{} is not empty: prepare into a new folder",
            args.out.display()
        );
    }
    for split in ["Training", "Validation"] {
        for class in CLASSES {
            std::fs::create_dir_all(args.out.join(split).join(class))?;
        }
    }
    for photo in kept {
        if image::ImageReader::open(&photo.path)
            .and_then(|r| r.with_guessed_format())
            .ok()
            .and_then(|r| r.into_dimensions().ok())
            .is_none()
        {
            report.unreadable_skipped += 1;
            continue;
        }
        let name = file_name(&photo.path);
        let split = if in_validation(&name, args.validation_share) {
            "Validation"
        } else {
            "Training"
        };
        let class = CLASSES[photo.class as usize];
        let target = args.out.join(split).join(class).join(&name);
        if std::fs::hard_link(&photo.path, &target).is_err() {
            std::fs::copy(&photo.path, &target).with_context(|| {
                format!("copying {} to {}", photo.path.display(), target.display())
            })?;
        }
        *report.counts.entry(format!("{split}/{class}")).or_default() += 1;
    }
    let json = serde_json::to_string_pretty(&report)? + "\n";
    write_atomically(&args.out.join("prepare.json"), |tmp| {
        Ok(std::fs::write(tmp, &json)?)
    })?;
    println!(
        "{}: {:?}; {} held-out photos and {} named in --drop-names-in folders dropped, {} without \
         labels and {} unreadable skipped",
        args.out.display(),
        report.counts,
        report.held_out_dropped,
        report.names_in_dropped,
        report.unlabelled_skipped,
        report.unreadable_skipped
    );
    Ok(())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

fn read_held_out(path: &Path) -> Result<HashSet<String>> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "reading the held-out list {} (pass --held-out FILE, or --no-held-out for a data set \
             downloaded on its own)",
            path.display()
        )
    })?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| file_name(Path::new(l)))
        .collect())
}

/// The photos whose file names are not in `names`, and how many were dropped.
fn without_names(photos: Vec<Labelled>, names: &HashSet<String>) -> (Vec<Labelled>, usize) {
    let before = photos.len();
    let kept: Vec<Labelled> = photos
        .into_iter()
        .filter(|photo| !names.contains(&file_name(&photo.path)))
        .collect();
    let dropped = before - kept.len();
    (kept, dropped)
}

/// Every file name under the folders (recursively); a missing folder is an error.
fn names_under(dirs: &[PathBuf]) -> Result<HashSet<String>> {
    let mut names = HashSet::new();
    for dir in dirs {
        if !dir.is_dir() {
            bail!("--drop-names-in: {} is not a folder", dir.display());
        }
        for entry in walkdir::WalkDir::new(dir) {
            let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
            if entry.file_type().is_file() {
                names.insert(file_name(entry.path()));
            }
        }
    }
    Ok(names)
}

/// Whether a photo goes to Validation/: FNV-1a of its name, so the split never depends on the
/// machine, the order of the files or the run.
fn in_validation(name: &str, share: f64) -> bool {
    (fnv1a(name.bytes()) % 10_000) as f64 / 10_000.0 < share
}

fn sorted_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// UTKFace: the label is the name's second field (0 male, 1 female).
fn utkface(dir: &Path, report: &mut Report) -> Result<Vec<Labelled>> {
    let mut photos = vec![];
    for path in sorted_files(dir)? {
        let name = file_name(&path);
        let fields: Vec<&str> = name.split('_').collect();
        let labelled = (fields.len() >= 4)
            .then(|| {
                (
                    fields[0].parse::<u32>().ok(),
                    fields[1],
                    fields[2].parse::<u32>().ok(),
                )
            })
            .and_then(|(age, gender, race)| match (age, gender, race) {
                (Some(_), "0", Some(_)) => Some(1),
                (Some(_), "1", Some(_)) => Some(0),
                _ => None,
            });
        match labelled {
            Some(class) => photos.push(Labelled { path, class }),
            None => report.unlabelled_skipped += 1,
        }
    }
    Ok(photos)
}

/// All-Age-Faces: the labels of both of its lists (1 male, 0 female); its own train/val split
/// is not used, so that every source is split the same way.
fn all_age_faces(root: &Path, report: &mut Report) -> Result<Vec<Labelled>> {
    let images = root.join("original images");
    let mut photos = vec![];
    for list in ["train_.txt", "val_.txt"] {
        let path = root.join("image sets").join(list);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading the label list {}", path.display()))?;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let mut parts = line.split_whitespace();
            let class = match (parts.next(), parts.next()) {
                (Some(name), Some("1")) => Some((name, 1)),
                (Some(name), Some("0")) => Some((name, 0)),
                _ => None,
            };
            match class {
                Some((name, class)) => photos.push(Labelled {
                    path: images.join(name),
                    class,
                }),
                None => report.unlabelled_skipped += 1,
            }
        }
    }
    photos.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(photos)
}
