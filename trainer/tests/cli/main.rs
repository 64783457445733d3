//! The `genderlens` command line: JSON shapes, exit codes, training, resume, bad data. One
//! test binary; each module covers a group of commands, `helpers` runs the CLI and builds
//! the small data folders they need.

mod adapt;
mod eval_report;
mod helpers;
mod mixed;
mod models;
mod predict;
mod prepare;
mod train;
