//! Labelled images on disk and the batches made of them.

pub mod augment;
pub mod batch;
pub mod detected;
pub mod exclusions;
pub mod folders;
pub mod mixing;
