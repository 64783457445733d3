//! GenderLens: face detection (rustface) + gender classification (candle CNN), one pipeline
//! shared by the trainer, the command line and the browser.

pub mod calibration;
pub mod classifier;
pub mod crop;
pub mod decode;
pub mod detect;
pub mod error;
pub mod int_conv;
pub mod model;
pub mod ops;
pub mod pipeline;
pub mod preprocess;
pub mod quantize;
pub mod seeta_format;
#[cfg(target_arch = "wasm32")]
pub mod wasm;
pub mod weights;

pub use classifier::Classifier;
pub use error::{Error, Result};
pub use pipeline::{Analysis, Face, Pipeline};
