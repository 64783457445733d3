//! GenderLens: face detection (YuNet) + gender classification (a small CNN), one pipeline
//! shared by the trainer, the command line and the browser.

pub mod classifier;
pub mod decode;
pub mod detect;
pub(crate) mod error;
pub mod inspect;
pub mod ops;
pub mod pipeline;
#[cfg(not(target_arch = "wasm32"))]
pub mod quantize;
pub mod resize;
#[cfg(target_arch = "wasm32")]
pub mod wasm;
pub(crate) mod weights;

pub use classifier::Classifier;
pub use error::{Error, Result};
pub use pipeline::{Analysis, Face, Pipeline};
