//! GenderLens: face detection (rustface) + gender classification (candle CNN), one pipeline
//! shared by the trainer, the command line and the browser.

pub mod decode;
pub mod error;
pub mod model;
pub mod ops;
pub mod preprocess;

pub use error::{Error, Result};
