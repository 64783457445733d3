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
    mnk: (usize, usize, usize),
) {
    #[cfg(feature = "parallel")]
    let parallelism = {
        let threads = rayon::current_num_threads();
        let (m, n, k) = mnk;
        // The `gemm` crate shares a product among threads by blocks of its output. The
        // weight gradient's output is small (at most 864 × 192) and its depth long (every
        // pixel of the batch): one block, one thread, while the other waits. Such products
        // are split along the depth instead, each part on one thread, and summed.
        if threads > 1 && k >= DEPTH_SPLIT * m.max(n) {
            let operands = Operands { lhs, rhs, mnk };
            return depth_split(dst, dst_transposed, accumulate, operands, threads);
        }
        gemm::Parallelism::Rayon(threads)
    };
    #[cfg(not(feature = "parallel"))]
    let parallelism = gemm::Parallelism::None;
    let operands = Operands { lhs, rhs, mnk };
    product(dst, dst_transposed, accumulate, operands, parallelism)
}

/// How many times longer than the output's longer side a product's depth must be for
/// [`depth_split`] to run it.
#[cfg(all(feature = "parallel", not(target_arch = "wasm32")))]
const DEPTH_SPLIT: usize = 4;

/// The two factors of a product and its (m, n, k).
#[cfg(not(target_arch = "wasm32"))]
#[derive(Clone, Copy)]
struct Operands<'a> {
    lhs: Matrix<'a>,
    rhs: Matrix<'a>,
    mnk: (usize, usize, usize),
}

#[cfg(not(target_arch = "wasm32"))]
impl Operands<'_> {
    /// The product over the depth range [start, start + len): only the factors' starts move.
    #[cfg(feature = "parallel")]
    fn depth_range(self, start: usize, len: usize) -> Self {
        let (lhs, rhs, (m, n, _)) = (self.lhs, self.rhs, self.mnk);
        Self {
            lhs: Matrix {
                data: &lhs.data[start * lhs.col_stride..],
                ..lhs
            },
            rhs: Matrix {
                data: &rhs.data[start * rhs.row_stride..],
                ..rhs
            },
            mnk: (m, n, len),
        }
    }
}

/// `gemm_onto` for a long, thin product: the depth cut into one part per thread, the first
/// part written (or added) into `dst`, the others into their own buffers, then added.
#[cfg(all(feature = "parallel", not(target_arch = "wasm32")))]
fn depth_split(
    dst: &mut [f32],
    dst_transposed: bool,
    accumulate: bool,
    operands: Operands,
    threads: usize,
) {
    use rayon::prelude::*;
    let (m, n, k) = operands.mnk;
    let part = k.div_ceil(threads);
    let single = gemm::Parallelism::None;
    let ((), others) = rayon::join(
        || {
            let first = operands.depth_range(0, part);
            product(dst, dst_transposed, accumulate, first, single)
        },
        || {
            (1..threads)
                .into_par_iter()
                .filter(|&i| i * part < k)
                .map(|i| {
                    let range = operands.depth_range(i * part, part.min(k - i * part));
                    let mut out = vec![0f32; m * n];
                    product(&mut out, dst_transposed, false, range, single);
                    out
                })
                .collect::<Vec<_>>()
        },
    );
    for out in others {
        for (d, o) in dst.iter_mut().zip(&out) {
            *d += o;
        }
    }
}

/// One call of the `gemm` crate's kernel: `dst (+)= lhs · rhs`.
#[cfg(not(target_arch = "wasm32"))]
fn product(
    dst: &mut [f32],
    dst_transposed: bool,
    accumulate: bool,
    Operands { lhs, rhs, mnk }: Operands,
    parallelism: gemm::Parallelism,
) {
    let (m, n, k) = mnk;
    let (dst_rs, dst_cs) = if dst_transposed { (1, m) } else { (n, 1) };
    assert!(
        dst.len() == m * n
            && fits(lhs.data.len(), m, k, lhs.row_stride, lhs.col_stride)
            && fits(rhs.data.len(), k, n, rhs.row_stride, rhs.col_stride),
        "gemm_into: operands do not match ({m} × {k}) · ({k} × {n})"
    );
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

/// Writes into `dst` the transpose of `src`, a row-major (rows × cols) matrix, 32 of its
/// columns at a time, so that the rows being written stay in the cache.
#[cfg(not(target_arch = "wasm32"))] // training only
pub(crate) fn transpose_into(dst: &mut [f32], src: &[f32], rows: usize, cols: usize) {
    const TILE: usize = 32;
    assert!(
        src.len() == rows * cols && dst.len() == src.len(),
        "transpose: {rows} × {cols} does not fit"
    );
    if rows == 0 || cols == 0 {
        return;
    }
    // Output rows (the source's columns) in bands of TILE, one band a task.
    super::chunks::fill_chunks(dst, TILE * rows, |band, index| {
        let c0 = index * TILE;
        let width = band.len() / rows;
        for r in 0..rows {
            for (c, &value) in src[r * cols + c0..][..width].iter().enumerate() {
                band[c * rows + r] = value;
            }
        }
    });
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
    let out = convolve_columns(&columns, weight, batch * h * w);
    scratch::give_back(columns);
    out
}

/// [`convolve`] from the input's columns, [`im2col`]'s result: (out, pixels).
pub(crate) fn convolve_columns(columns: &[f32], weight: &[f32], pixels: usize) -> Vec<f32> {
    let taps = columns.len() / pixels.max(1);
    let out_channels = weight.len() / taps.max(1);
    let mut out = vec![0f32; out_channels * pixels];
    #[cfg(not(target_arch = "wasm32"))]
    gemm_into(
        &mut out,
        false,
        Matrix::rows(weight, taps),
        Matrix::rows(columns, pixels),
        (out_channels, pixels, taps),
    );
    #[cfg(target_arch = "wasm32")]
    super::product::product_into(
        &mut out,
        weight,
        columns,
        (out_channels, pixels, taps),
        false,
    );
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

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    /// (rows × cols) row-major values that differ everywhere.
    fn matrix(rows: usize, cols: usize, seed: f32) -> Vec<f32> {
        (0..rows * cols)
            .map(|i| ((i as f32 * 0.37 + seed).sin() * 3.0).round() / 4.0)
            .collect()
    }

    #[test]
    fn long_thin_products_match_the_definition() {
        // Depths far longer than the output (split among threads when they run it), one
        // that does not divide evenly, and a short one; both output layouts; accumulating.
        for (m, n, k) in [(5, 3, 1000), (2, 7, 333), (4, 4, 9)] {
            let (lhs, rhs) = (matrix(m, k, 0.1), matrix(k, n, 0.7));
            for transposed in [false, true] {
                let start = matrix(m, n, 1.3);
                let mut dst = start.clone();
                gemm_onto(
                    &mut dst,
                    transposed,
                    true,
                    Matrix::rows(&lhs, k),
                    Matrix::rows(&rhs, n),
                    (m, n, k),
                );
                for (i, j) in (0..m).flat_map(|i| (0..n).map(move |j| (i, j))) {
                    let at = if transposed { j * m + i } else { i * n + j };
                    let sum: f32 = (0..k).map(|p| lhs[i * k + p] * rhs[p * n + j]).sum();
                    let expected = start[at] + sum;
                    assert!(
                        (dst[at] - expected).abs() <= 1e-3 * expected.abs().max(1.0),
                        "{m}×{n}×{k}, transposed {transposed}: ({i}, {j}) {} against {expected}",
                        dst[at]
                    );
                }
            }
        }
    }

    #[test]
    fn transpose_moves_every_value() {
        // Whole 32-column bands only, a short last band, fewer columns than a band, one row.
        for (rows, cols) in [(16, 64), (24, 100), (3, 70), (70, 3), (33, 65), (1, 1)] {
            let src = matrix(rows, cols, 0.2);
            let mut dst = vec![f32::NAN; rows * cols];
            transpose_into(&mut dst, &src, rows, cols);
            for (r, c) in (0..rows).flat_map(|r| (0..cols).map(move |c| (r, c))) {
                assert_eq!(
                    dst[c * rows + r],
                    src[r * cols + c],
                    "{rows} × {cols}: ({r}, {c})"
                );
            }
        }
    }
}
