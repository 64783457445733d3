//! `genderlens report DIR`: end-to-end accuracy of the full pipeline on a labelled folder
//! (`DIR/female`, `DIR/male`), broken down by sex, race and age band for the model card.

use crate::data::folders::FileList;
use crate::measure::ece::{CalibrationError, ECE_BINS};
use crate::measure::groups::{faces_calibration_error, group_rows, print_table, GroupRow};
use crate::measure::outcome::analyze_all;
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
    /// Of the detected faces' probabilities.
    #[serde(flatten)]
    calibration: CalibrationError,
    rows: Vec<GroupRow>,
}

pub fn run(args: ReportArgs) -> Result<()> {
    let files = FileList::scan(&args.dir)?;
    let outcomes = analyze_all(&files, &args.model)?;
    let rows = group_rows(&files, &outcomes);
    let calibration = faces_calibration_error(&files, &outcomes);

    print_table(&rows);
    println!(
        "\nCalibration of the detected faces ({ECE_BINS} bins): {calibration}; the floor is what \
         a perfectly calibrated model shows on as many faces by chance."
    );
    if args.json {
        let report = Report {
            dir: args.dir.display().to_string(),
            calibration,
            rows,
        };
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(())
}
