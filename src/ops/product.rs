//! The browser build's matrix product: the inference layers' one shape of GEMM (a weight
//! matrix times a pixels-long activation matrix, both row-major) in plain Rust that the
//! compiler vectorises for simd128. The `gemm` crate behind the native build is general
//! (strides, packing, many microkernels, threads); in the browser that generality cost 89 kB
//! of the module (20 kB gzipped) for 0–10 % faster detection (docs/performance.md).

/// Rows and columns of the output computed together: 4 rows × 12 columns are 12 four-lane
/// accumulators, with three vectors of `b` and four broadcasts of `a` per step (as many
/// registers as the browser's x86-64 code has: 4 × 8 ran 5–15 % slower).
const ROWS: usize = 4;
const COLUMNS: usize = 12;

/// `dst (m × n) = a (m × k) · b (k × n)`, plus `dst` as it was when `accumulate`; every
/// matrix row-major and dense.
pub(crate) fn product_into(
    dst: &mut [f32],
    a: &[f32],
    b: &[f32],
    (m, n, k): (usize, usize, usize),
    accumulate: bool,
) {
    assert!(
        dst.len() == m * n && a.len() == m * k && b.len() == k * n,
        "product_into: operands do not match ({m} × {k}) · ({k} × {n})"
    );
    // Column blocks of 12, then of 4; the last few columns one by one.
    let wide = n - n % COLUMNS;
    let narrow = n - n % 4;
    for j in (0..wide).step_by(COLUMNS) {
        rows_of::<COLUMNS>(dst, a, b, j, (m, n, k), accumulate);
    }
    for j in (wide..narrow).step_by(4) {
        rows_of::<4>(dst, a, b, j, (m, n, k), accumulate);
    }
    for i in 0..m {
        let row = &a[i * k..][..k];
        for j in narrow..n {
            let start = if accumulate { dst[i * n + j] } else { 0.0 };
            dst[i * n + j] = row
                .iter()
                .enumerate()
                .fold(start, |sum, (kk, &w)| sum + w * b[kk * n + j]);
        }
    }
}

/// Every output row's columns `j..j + C`, [`ROWS`] rows at a time.
fn rows_of<const C: usize>(
    dst: &mut [f32],
    a: &[f32],
    b: &[f32],
    j: usize,
    (m, n, k): (usize, usize, usize),
    accumulate: bool,
) {
    let mut i = 0;
    while i + ROWS <= m {
        block::<ROWS, C>(dst, a, b, (i, j), (n, k), accumulate);
        i += ROWS;
    }
    for i in i..m {
        block::<1, C>(dst, a, b, (i, j), (n, k), accumulate);
    }
}

/// Output rows `i..i + R`, columns `j..j + C`. A call per block rather than one per matrix:
/// the browser swaps in optimised code for a function when it is called again, so the first
/// photo after opening the page does not run on baseline code throughout (docs/design.md,
/// "Tier-up").
#[cfg_attr(target_arch = "wasm32", inline(never))]
fn block<const R: usize, const C: usize>(
    dst: &mut [f32],
    a: &[f32],
    b: &[f32],
    (i, j): (usize, usize),
    (n, k): (usize, usize),
    accumulate: bool,
) {
    let rows: [&[f32]; R] = std::array::from_fn(|r| &a[(i + r) * k..][..k]);
    let mut acc = [[0f32; C]; R];
    if accumulate {
        for (r, sums) in acc.iter_mut().enumerate() {
            sums.copy_from_slice(&dst[(i + r) * n + j..][..C]);
        }
    }
    for kk in 0..k {
        let x: &[f32; C] = b[kk * n + j..][..C].try_into().expect("C columns");
        for (sums, row) in acc.iter_mut().zip(&rows) {
            let w = row[kk];
            for (sum, &v) in sums.iter_mut().zip(x) {
                *sum += w * v;
            }
        }
    }
    for (r, sums) in acc.iter().enumerate() {
        dst[(i + r) * n + j..][..C].copy_from_slice(sums);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_textbook_product_for_every_remainder() {
        let value = |seed: usize| ((seed * 7919) % 23) as f32 / 7.0 - 1.5;
        for (m, n, k) in [
            (1, 1, 1),
            (4, 8, 3),
            (5, 17, 9),
            (16, 35, 27),
            (3, 7, 64),
            (64, 40, 16),
            (8, 29, 5),
        ] {
            let a: Vec<f32> = (0..m * k).map(value).collect();
            let b: Vec<f32> = (0..k * n).map(|i| value(i + 5)).collect();
            let start: Vec<f32> = (0..m * n).map(|i| value(i + 11)).collect();
            for accumulate in [false, true] {
                let mut dst = start.clone();
                product_into(&mut dst, &a, &b, (m, n, k), accumulate);
                for i in 0..m {
                    for j in 0..n {
                        let base = if accumulate { start[i * n + j] } else { 0.0 };
                        let expected =
                            base + (0..k).map(|kk| a[i * k + kk] * b[kk * n + j]).sum::<f32>();
                        let got = dst[i * n + j];
                        assert!(
                            (got - expected).abs() < 1e-4,
                            "({m}, {n}, {k}) [{i}, {j}]: {got} vs {expected}"
                        );
                    }
                }
            }
        }
    }
}
