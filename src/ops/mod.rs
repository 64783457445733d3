//! Hand-written CPU kernels for the layers whose generic candle implementations dominate
//! training time: the 3×3 "same" convolution, batch norm + ReLU and 2×2 max-pooling, each
//! with an exact backward pass. `conv3x3` turns a whole layer into one GEMM over an im2col
//! matrix, so that forward and both gradients run at matrix-multiply speed.

mod chunks;
pub mod conv;
mod gemm;
pub(crate) mod im2col;
pub(crate) mod norm;
pub mod pool;
#[cfg(test)]
mod reference;
