//! The matrix product behind the convolutions: natively the `gemm` crate's kernel (the one
//! candle's matmul runs), called with the operand order it is fastest at; in the browser
//! [`super::product`], which does the same for the inference layers' one shape of product.

use super::im2col::{im2col, scratch};

/// A read-only f32 matrix inside a slice: `at(r, c) = data[r·row_stride + c·col_stride]`.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Clone, Copy)]
pub(crate) struct Matrix<'a> {
    data: &'a [f32],
    row_stride: usize,
    col_stride: usize,
}

#[cfg(not(target_arch = "wasm32"))]
impl<'a> Matrix<'a> {
    /// A row-major (rows × cols) matrix.
    pub(crate) fn rows(data: &'a [f32], cols: usize) -> Self {
        Self {
            data,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose of a row-major (cols × rows) matrix: no copy, only strides.
    pub(crate) fn transposed(data: &'a [f32], rows: usize) -> Self {
        Self {
            data,
            row_stride: 1,
            col_stride: rows,
        }
    }
}

/// Whether a (rows × cols) matrix with these strides lies inside `len` elements.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn fits(
    len: usize,
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
) -> bool {
    rows == 0 || cols == 0 || (rows - 1) * row_stride + (cols - 1) * col_stride < len
}

/// `dst = lhs · rhs` for an (m × k) by (k × n) product; `dst` is row-major (m × n) when
/// `dst_transposed` is false, else column-major (its transpose is row-major).
///
/// This is the GEMM candle's matmul runs, called directly: the convolution picks the operand
/// order the kernel is fastest at (the microkernel vectorises along `m`, so `m` should be the
/// long pixel dimension: 3–4× faster for the input-gradient product of the early layers,
/// measured), and the product is written straight into the op's output buffer.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn gemm_into(
    dst: &mut [f32],
    dst_transposed: bool,
    lhs: Matrix,
    rhs: Matrix,
    mnk: (usize, usize, usize),
) {
    gemm_onto(dst, dst_transposed, false, lhs, rhs, mnk)
}

/// [`gemm_into`] that adds the product to `dst` when `accumulate`.
#[cfg(not(target_arch = "wasm32"))]
fn gemm_onto(
    dst: &mut [f32],
    dst_transposed: bool,
    accumulate: bool,
    lhs: Matrix,
    rhs: Matrix,
    (m, n, k): (usize, usize, usize),
) {
    let (dst_rs, dst_cs) = if dst_transposed { (1, m) } else { (n, 1) };
    assert!(
        dst.len() == m * n
            && fits(lhs.data.len(), m, k, lhs.row_stride, lhs.col_stride)
            && fits(rhs.data.len(), k, n, rhs.row_stride, rhs.col_stride),
        "gemm_into: operands do not match ({m} × {k}) · ({k} × {n})"
    );
    #[cfg(feature = "parallel")]
    let parallelism = gemm::Parallelism::Rayon(rayon::current_num_threads());
    #[cfg(not(feature = "parallel"))]
    let parallelism = gemm::Parallelism::None;
    // SAFETY: the assertion above keeps every element the kernel reads or writes (indices
    // up to (rows−1)·row_stride + (cols−1)·col_stride) inside its slice; `dst` is borrowed
    // mutably, so it aliases neither operand.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            dst_cs as isize,
            dst_rs as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            // dst = alpha · dst + beta · lhs · rhs
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            parallelism,
        )
    }
}

/// A 3×3 "same" convolution in f32, as training and the inference network's float layers
/// run it: im2col, then one GEMM of `weight` (out, channels · 9) times the columns. `x`:
/// (channels, batch, h, w) channel-major; result: (out, batch, h, w).
pub(crate) fn convolve(
    x: &[f32],
    weight: &[f32],
    channels: usize,
    batch: usize,
    h: usize,
    w: usize,
) -> Vec<f32> {
    let columns = im2col(x, channels, batch, h, w);
    let (taps, pixels) = (channels * 9, batch * h * w);
    let out_channels = weight.len() / taps;
    let mut out = vec![0f32; out_channels * pixels];
    #[cfg(not(target_arch = "wasm32"))]
    gemm_into(
        &mut out,
        false,
        Matrix::rows(weight, taps),
        Matrix::rows(&columns, pixels),
        (out_channels, pixels, taps),
    );
    #[cfg(target_arch = "wasm32")]
    super::product::product_into(
        &mut out,
        weight,
        &columns,
        (out_channels, pixels, taps),
        false,
    );
    scratch::give_back(columns);
    out
}

/// A 1×1 convolution, or any layer that is one matrix product plus a bias per output row:
/// `weight` (out, k) times `x` (k, pixels), plus `bias[o]` on row `o`; result (out, pixels).
/// The product runs pixels-first (the long dimension the kernel vectorises along, as above).
pub(crate) fn pointwise(x: &[f32], weight: &[f32], bias: &[f32], pixels: usize) -> Vec<f32> {
    let out_channels = bias.len();
    let k = weight.len() / out_channels.max(1);
    // Each row starts as its bias (written once: no zeroing first).
    let mut out = Vec::with_capacity(out_channels * pixels);
    for &b in bias {
        out.extend(std::iter::repeat_n(b, pixels));
    }
    if pixels == 0 {
        return out;
    }
    #[cfg(not(target_arch = "wasm32"))]
    gemm_onto(
        &mut out,
        true,
        true,
        Matrix::transposed(x, pixels),
        Matrix::transposed(weight, k),
        (pixels, out_channels, k),
    );
    #[cfg(target_arch = "wasm32")]
    super::product::product_into(&mut out, weight, x, (out_channels, pixels, k), true);
    out
}
