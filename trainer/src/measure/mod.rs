//! How good a model is: its logits on cached faces, metrics, the fitted temperature and the
//! calibration error, the pipeline's outcome per labelled image, tables by group.

pub mod age_calibration;
pub mod ece;
pub mod end_to_end;
pub mod groups;
pub mod logits;
pub mod metrics;
pub mod nll;
pub mod outcome;
pub mod temperature;
