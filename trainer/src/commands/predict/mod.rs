//! `genderlens predict PATH...`: faces, labels and probabilities for image files and whole
//! folders of them. Results stream as each batch of images is done (text, `--jsonl` or
//! `--csv`, to standard output or `--out`), on every core, in a memory that does not grow with
//! the folder; `--resume` continues an interrupted stream. `--json` collects one array for
//! a few files.

mod inputs;
mod output;
mod shard;

use crate::model_arg::ModelArg;
use anyhow::{bail, Context, Result};
use genderlens::pipeline::kept_faces;
use genderlens::Pipeline;
use indicatif::{ProgressBar, ProgressStyle};
use inputs::{count_candidates, inputs, listed};
use output::{append, header, render, resume, Format, ImageResult};
use rayon::prelude::*;
use shard::Shard;
use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Images analysed between two writes: large enough to keep every core busy, small enough
/// that an interruption loses little and memory stays flat.
const BATCH: usize = 64;

#[derive(clap::Args, Debug)]
pub struct PredictArgs {
    /// Image files (JPEG, PNG, GIF, WebP, BMP) or folders, searched recursively for images
    /// (recognised by their content, whatever their names).
    #[arg(required_unless_present = "files_from")]
    pub paths: Vec<PathBuf>,
    /// Also the files or folders listed in FILE, one a line (`-`: standard input), read as
    /// they are needed: e.g. the output of `find` or a bucket listing.
    #[arg(long, value_name = "FILE")]
    pub files_from: Option<PathBuf>,
    /// Only shard K of N (0 ≤ K < N): a file's shard follows from a hash of its path relative
    /// to the folder given (or of the path given), so N machines running K = 0 … N−1 over the
    /// same library split it exactly, without talking to each other.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
    /// Print one JSON array (one object per image) as the last line of output: for a few
    /// files. For many, stream with --jsonl or --csv.
    #[arg(long, conflicts_with_all = ["jsonl", "csv", "out"])]
    pub json: bool,
    /// Stream one JSON object per image, one per line, as the images are done.
    #[arg(long, conflicts_with = "csv")]
    pub jsonl: bool,
    /// Stream CSV: one row per face; an image without faces or with an error gets one row.
    #[arg(long)]
    pub csv: bool,
    /// Write the --jsonl or --csv stream to this file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue an interrupted run: the images already in --out are skipped, and what the
    /// interruption left unfinished there is cut off and redone (no --out yet: a first run).
    #[arg(long, requires = "out")]
    pub resume: bool,
    /// Keep only the faces whose label is at least this sure (0.5–1).
    #[arg(long)]
    pub min_confidence: Option<f32>,
    /// Keep at most this many faces per image, the most confident detections first.
    #[arg(long)]
    pub max_faces: Option<usize>,
    /// Also search photos larger than 1 024 px at their full resolution, in tiles, for faces
    /// down to about 24 px there (a crowd in a phone photo); about a second more per
    /// 12-megapixel photo on one core.
    #[arg(long)]
    pub small_faces: bool,
    #[command(flatten)]
    pub model: ModelArg,
}

/// Counts for the summary line.
#[derive(Default)]
struct Totals {
    images: usize,
    faces: usize,
    errors: usize,
}

pub fn run(args: PredictArgs) -> Result<()> {
    if let Some(p) = args.min_confidence {
        if !(0.5..=1.0).contains(&p) {
            bail!("--min-confidence must be between 0.5 and 1, not {p}");
        }
    }
    let format = if args.jsonl {
        Some(Format::JsonLines)
    } else if args.csv {
        Some(Format::Csv)
    } else {
        None
    };
    if args.out.is_some() && format.is_none() {
        bail!("--out writes a stream: add --jsonl or --csv");
    }
    let mut sink: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(open_out(path, args.resume)?),
        None => Box::new(std::io::stdout()),
    };
    let done = match (&args.out, format, args.resume) {
        (Some(path), Some(format), true) => resume(path, format)?,
        _ => Default::default(),
    };
    if let (Some(format), Some(path)) = (format, &args.out) {
        if std::fs::metadata(path)?.len() == 0 {
            append(&mut sink, &header(format))?;
        }
    } else if let Some(format) = format {
        append(&mut sink, &header(format))?;
    }

    args.model.classifier()?; // fail early, once, on bad weights

    // A list is read once, as it goes: its length is not known before.
    let estimate = args.files_from.is_none().then(|| {
        let shards = args.shard.map_or(1, |s| s.count()) as usize;
        (count_candidates(&args.paths) / shards).saturating_sub(done.len())
    });
    let bar = progress_bar(estimate);
    let started = Instant::now();
    let mut totals = Totals::default();
    let mut collected = vec![];
    let wanted = |key: &str| args.shard.is_none_or(|s| s.holds(key));
    let listed = list_of(args.files_from.as_deref())?;
    let mut todo = inputs(args.paths.iter().cloned().chain(listed), &wanted)
        .map(|input| input.path)
        .filter(|path| !done.contains(&path.display().to_string()));
    loop {
        let batch: Vec<PathBuf> = todo.by_ref().take(BATCH).collect();
        if batch.is_empty() {
            break;
        }
        let results: Vec<ImageResult> = batch
            .par_iter()
            .map(|input| analyse(input, &args))
            .collect();
        for result in &results {
            totals.images += 1;
            totals.faces += result.faces.len();
            totals.errors += usize::from(result.error.is_some());
        }
        bar.inc(batch.len() as u64);
        bar.set_message(format!("{} faces, {} errors", totals.faces, totals.errors));
        match format {
            Some(format) => append(&mut sink, &render(&results, format)?)?,
            None => bar.suspend(|| print_text(&results)),
        }
        if args.json {
            collected.extend(results);
        }
    }
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string(&collected)?);
    }
    let seconds = started.elapsed().as_secs_f64();
    let peak = peak_memory_mb().map_or(String::new(), |mb| format!(", peak memory {mb:.0} MB"));
    eprintln!(
        "{} images ({} skipped as already done), {} faces, {} errors in {seconds:.1} s: \
         {:.1} images/s{peak}",
        totals.images,
        done.len(),
        totals.faces,
        totals.errors,
        totals.images as f64 / seconds.max(1e-9)
    );
    if totals.images > 0 && totals.errors == totals.images {
        bail!("no image could be processed");
    }
    Ok(())
}

/// The process's peak resident memory, where the system tells it (Linux).
fn peak_memory_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The paths of `--files-from`, if given.
fn list_of(file: Option<&Path>) -> Result<Box<dyn Iterator<Item = PathBuf>>> {
    Ok(match file {
        None => Box::new(std::iter::empty()),
        Some(path) if path == Path::new("-") => Box::new(listed(std::io::stdin().lock())),
        Some(path) => {
            let file = std::fs::File::open(path)
                .with_context(|| format!("opening the file list {}", path.display()))?;
            Box::new(listed(std::io::BufReader::new(file)))
        }
    })
}

fn open_out(path: &Path, resume: bool) -> Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    if resume {
        // A first try resumes nothing: a scheduler's retried task runs the same command.
        options.append(true).create(true);
    } else {
        options.write(true).create(true).truncate(true);
    }
    options
        .open(path)
        .with_context(|| format!("opening {}", path.display()))
}

thread_local! {
    /// Each worker thread's own pipeline (a detector is not shared between threads), built
    /// on its first image and kept for the run.
    static PIPELINE: RefCell<Option<Pipeline>> = const { RefCell::new(None) };
}

/// Analyses one image on the pipeline of the worker thread running it.
fn analyse(path: &PathBuf, args: &PredictArgs) -> ImageResult {
    let file = path.display().to_string();
    let outcome = std::fs::read(path)
        .map_err(|e| format!("cannot read file: {e}"))
        .and_then(|bytes| {
            PIPELINE.with_borrow_mut(|pipeline| {
                let pipeline = match pipeline {
                    Some(pipeline) => pipeline,
                    None => pipeline.insert(
                        args.model
                            .pipeline()
                            .map_err(|e| e.to_string())?
                            .searching_small_faces(args.small_faces),
                    ),
                };
                pipeline.analyze_bytes(&bytes).map_err(|e| e.to_string())
            })
        });
    match outcome {
        Ok(analysis) => ImageResult {
            file,
            width: Some(analysis.width),
            height: Some(analysis.height),
            faces: kept_faces(analysis.faces, args.max_faces, args.min_confidence),
            error: None,
        },
        Err(error) => ImageResult {
            file,
            width: None,
            height: None,
            faces: vec![],
            error: Some(error),
        },
    }
}

fn progress_bar(estimate: Option<usize>) -> ProgressBar {
    let template = match estimate {
        Some(_) => "{pos}/~{len} images [{bar:30}] {per_sec} ETA {eta} {msg}",
        None => "{pos} images {per_sec} {msg}",
    };
    ProgressBar::with_draw_target(
        estimate.map(|n| n as u64),
        indicatif::ProgressDrawTarget::stderr(),
    )
    .with_style(
        ProgressStyle::with_template(template)
            .expect("template")
            .progress_chars("=> "),
    )
}

/// The human-readable listing (no --json, --jsonl or --csv).
fn print_text(results: &[ImageResult]) {
    for result in results {
        let file = &result.file;
        if let Some(error) = &result.error {
            eprintln!("{file}: error: {error}");
            continue;
        }
        println!(
            "{file}: {}×{}, {} face(s)",
            result.width.unwrap_or(0),
            result.height.unwrap_or(0),
            result.faces.len()
        );
        for face in &result.faces {
            let [x, y, w, h] = face.bbox;
            let v = face.verdict;
            let shown = if v.label == v.likely {
                v.label.to_string()
            } else {
                format!("{} ({})", v.label, v.likely)
            };
            println!(
                "  {shown:>18} {:5.1}%  at ({x:.0}, {y:.0}) {w:.0}×{h:.0}",
                100.0 * v.confidence
            );
        }
    }
}
