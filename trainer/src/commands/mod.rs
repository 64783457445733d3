//! One module per subcommand: its arguments and `run`. Commands share code only through the
//! modules beside this one (data, training, measure, model_file, charts, model_arg), never
//! through each other.

pub mod adapt;
pub mod bench;
pub mod bench_train;
pub mod calibrate;
pub mod eval;
pub mod import_detector;
pub mod plot;
pub mod predict;
pub mod prepare;
pub mod quantize;
pub mod report;
pub mod train;
