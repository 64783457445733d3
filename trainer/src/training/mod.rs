//! What `train` and `adapt` both run: the optimiser, its schedule, one step, Ctrl-C.

pub mod adam;
pub mod age_task;
pub mod interrupt;
pub mod schedule;
pub mod step;
