//! `genderlens report DIR`: end-to-end accuracy of the full pipeline on a labelled folder
//! (`DIR/female`, `DIR/male`), broken down by sex, race and age band for the model card.

use crate::data::folders::FileList;
use crate::measure::groups::{faces_ece, group_rows, print_table, GroupRow};
use crate::measure::outcome::analyze_all;
use crate::measure::temperature::ECE_BINS;
use crate::model_arg::ModelArg;
use anyhow::Result;
use serde::Serialize;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// Folder with `female/` and `male/` subfolders (e.g. utk-dev).
    pub dir: PathBuf,
    /// Print the report as one JSON object on the last line.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub model: ModelArg,
}

#[derive(Serialize)]
struct Report {
    dir: String,
    /// Expected calibration error of the detected faces' probabilities.
    ece: f64,
    rows: Vec<GroupRow>,
}

pub fn run(args: ReportArgs) -> Result<()> {
    let files = FileList::scan(&args.dir)?;
    let outcomes = analyze_all(&files, &args.model)?;
    let rows = group_rows(&files, &outcomes);
    let ece = faces_ece(&files, &outcomes);

    print_table(&rows);
    println!(
        "\nExpected calibration error of the detected faces: {:.2} % ({ECE_BINS} bins).",
        100.0 * ece
    );
    if args.json {
        let report = Report {
            dir: args.dir.display().to_string(),
            ece,
            rows,
        };
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(())
}
