//! `genderlens plot [REPORT]`: redraws the training curves and confusion matrix of a model
//! report.

use crate::charts::charts_from_report;
use anyhow::Result;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct PlotArgs {
    /// The model report written by `train`; the PNGs are written beside it.
    #[arg(default_value = "models/genderlens.json")]
    pub report: PathBuf,
}

pub fn run(args: PlotArgs) -> Result<()> {
    let (curves, confusion) = charts_from_report(&args.report)?;
    println!("wrote {} and {}", curves.display(), confusion.display());
    Ok(())
}
