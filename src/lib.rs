//! GenderLens: face detection (YuNet) + gender classification (a small CNN), one pipeline
//! shared by the trainer, the command line and the browser.

pub mod calibration;
pub mod classifier;
pub mod crop;
pub mod decode;
pub mod detect;
pub(crate) mod error;
pub mod inference;
pub mod inspect;
pub(crate) mod int_conv;
#[cfg(not(target_arch = "wasm32"))]
pub mod model;
pub mod ops;
pub mod pipeline;
pub mod preprocess;
#[cfg(not(target_arch = "wasm32"))]
pub mod quantize;
pub mod temperature;
#[cfg(target_arch = "wasm32")]
pub mod wasm;
pub(crate) mod weights;

pub use classifier::Classifier;
pub use error::{Error, Result};
pub use pipeline::{Analysis, Face, Pipeline};
