//! `genderlens calibrate`: refits the temperature of an existing model on labelled crops (see
//! `measure::temperature`; `train` and `adapt` do the same when they export).

use crate::data::folders::{FaceCache, FileList};
use crate::measure::temperature::{calibrate_weights, print_summary};
use crate::model_file::update_model_json;
use anyhow::Result;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct CalibrateArgs {
    /// Weights to calibrate; rewritten in place with the fitted temperature.
    #[arg(long, default_value = "models/genderlens.safetensors")]
    pub model: PathBuf,
    /// Labelled face crops (`female/`, `male/`) to fit on: the validation split.
    #[arg(long, default_value = "../shared/datasets/gender/Validation")]
    pub data: PathBuf,
}

pub fn run(args: CalibrateArgs, command: &str) -> Result<()> {
    let files = FileList::scan(&args.data)?;
    let cache = FaceCache::load(&files, &indicatif::ProgressBar::hidden());
    let report = calibrate_weights(&args.model, &cache, &args.data.display().to_string())?;
    print_summary(&report);
    let json_path = args.model.with_extension("json");
    if update_model_json(&json_path, command, |json| {
        json["calibration"] = serde_json::to_value(&report)?;
        Ok(())
    })? {
        println!("updated {}", json_path.display());
    }
    Ok(())
}
