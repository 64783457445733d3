//! One error type for the whole pipeline, so every caller (CLI, trainer, wasm) reports
//! the same clear message instead of panicking.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("empty file: no image data")]
    Empty,
    #[error("not a supported image (JPEG, PNG, GIF, WebP, BMP): {0}")]
    UnsupportedFormat(String),
    #[error("cannot decode image: {0}")]
    Decode(String),
    #[error("image too large: {width}×{height} exceeds the {max}×{max} limit")]
    TooLarge { width: u32, height: u32, max: u32 },
    #[error("pixel buffer has {got} bytes, expected {expected} for {width}×{height} RGBA")]
    BadPixelBuffer {
        got: usize,
        expected: usize,
        width: u32,
        height: u32,
    },
    #[error("model: {0}")]
    Model(String),
    #[error(
        "no classifier weights were embedded in this build; train one with `genderlens train`"
    )]
    NoEmbeddedModel,
}

#[cfg(not(target_arch = "wasm32"))]
impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error::Model(candle_message(&e))
    }
}

#[cfg(not(target_arch = "wasm32"))]
/// candle's message without the backtrace it attaches when `RUST_BACKTRACE` is set.
pub fn candle_message(e: &candle_core::Error) -> String {
    match e {
        candle_core::Error::WithBacktrace { inner, .. } => candle_message(inner),
        other => other.to_string(),
    }
}

impl Error {
    /// A stable name for the kind of failure, for programs to act on (the JS package's
    /// `GenderLensError.code`); the message stays the readable one.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Empty | Error::UnsupportedFormat(_) => "not-an-image",
            Error::Decode(_) => "truncated",
            Error::TooLarge { .. } => "too-large",
            Error::BadPixelBuffer { .. } => "unsupported-source",
            Error::Model(_) | Error::NoEmbeddedModel => "model",
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
