//! A labelled folder of photos measured as the product sees it: detect, crop, classify, a
//! photo without a face counting as wrong; overall, calibration error, and by group.

use crate::data::folders::FileList;
use crate::measure::ece::CalibrationError;
use crate::measure::groups::{faces_calibration_error, group_rows, GroupRow};
use crate::measure::metrics::Metrics;
use crate::measure::outcome::analyze_all;
use crate::model_arg::ModelArg;
use anyhow::Result;
use std::path::Path;

pub struct EndToEnd {
    pub metrics: Metrics,
    pub calibration: CalibrationError,
    pub groups: Vec<GroupRow>,
}

pub fn end_to_end(files: &FileList, model_path: &Path) -> Result<EndToEnd> {
    let model = ModelArg {
        model: Some(model_path.to_path_buf()),
    };
    let outcomes = analyze_all(files, &model)?;
    let truth: Vec<u32> = files.files.iter().map(|f| f.1).collect();
    let predicted: Vec<u32> = outcomes
        .iter()
        .zip(&truth)
        .map(|(o, &t)| o.predicted_or_wrong(t))
        .collect();
    Ok(EndToEnd {
        metrics: Metrics::from_predictions(&truth, &predicted),
        calibration: faces_calibration_error(files, &outcomes),
        groups: group_rows(files, &outcomes),
    })
}
