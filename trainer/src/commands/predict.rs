//! `genderlens predict IMAGE...`: faces, labels and probabilities per image.

use crate::model_arg::ModelArg;
use anyhow::{bail, Result};
use genderlens::Face;
use serde::Serialize;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct PredictArgs {
    /// Image files (JPEG, PNG, GIF, WebP, BMP).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Print one JSON array (one object per image) as the last line of output.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub model: ModelArg,
}

#[derive(Serialize)]
struct ImageResult {
    file: String,
    width: Option<u32>,
    height: Option<u32>,
    faces: Vec<Face>,
    error: Option<String>,
}

pub fn run(args: PredictArgs) -> Result<()> {
    let mut pipeline = args.model.pipeline()?;
    let mut results = Vec::with_capacity(args.images.len());
    for path in &args.images {
        let file = path.display().to_string();
        let outcome = std::fs::read(path)
            .map_err(|e| format!("cannot read file: {e}"))
            .and_then(|bytes| pipeline.analyze_bytes(&bytes).map_err(|e| e.to_string()));
        let result = match outcome {
            Ok(analysis) => {
                println!(
                    "{file}: {}×{}, {} face(s)",
                    analysis.width,
                    analysis.height,
                    analysis.faces.len()
                );
                for face in &analysis.faces {
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
                ImageResult {
                    file,
                    width: Some(analysis.width),
                    height: Some(analysis.height),
                    faces: analysis.faces,
                    error: None,
                }
            }
            Err(error) => {
                eprintln!("{file}: error: {error}");
                ImageResult {
                    file,
                    width: None,
                    height: None,
                    faces: vec![],
                    error: Some(error),
                }
            }
        };
        results.push(result);
    }
    if args.json {
        println!("{}", serde_json::to_string(&results)?);
    }
    if results.iter().all(|r| r.error.is_some()) {
        bail!("no image could be processed");
    }
    Ok(())
}
