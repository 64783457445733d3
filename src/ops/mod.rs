//! Hand-written CPU kernels for the layers whose generic candle implementations dominate
//! training time: the 3×3 "same" convolution, batch norm + ReLU and 2×2 max-pooling, each
//! with an exact backward pass. `conv3x3` turns a whole layer into one GEMM over an im2col
//! matrix, so that forward and both gradients run at matrix-multiply speed. The slice
//! kernels under them (im2col, the GEMM, the fused norm-ReLU-pool) are also what the
//! inference network runs, with the 8-bit convolutions (`int_conv`) of the classifier and
//! the detector; the candle graph nodes are native only (the browser build has no candle).

mod chunks;
#[cfg(not(target_arch = "wasm32"))]
pub mod conv;
pub(crate) mod depthwise;
#[cfg(not(target_arch = "wasm32"))]
pub mod dwconv;
pub(crate) mod fused;
pub(crate) mod gemm;
pub(crate) mod im2col;
pub(crate) mod int_conv;
#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod norm;
#[cfg(not(target_arch = "wasm32"))]
pub mod pool;
#[cfg(any(target_arch = "wasm32", test))]
mod product;
#[cfg(all(test, not(target_arch = "wasm32")))]
pub(crate) mod reference;
#[cfg(not(target_arch = "wasm32"))]
mod storage;
