//! The columns of a 3×3 "same" convolution (im2col), their adjoint, and the recycled buffers
//! they are written into.

use super::chunks::zip_chunks;
use std::ops::Range;

#[cfg(not(target_arch = "wasm32"))] // training only
/// Index ranges of one patch row within ONE channel: (source row start in the input
/// channel, destination row start in that channel's nine column rows, dx: 0 reads x-1,
/// 1 reads x, 2 reads x+1).
pub(crate) fn patch_rows(
    batch: usize,
    h: usize,
    w: usize,
) -> impl Iterator<Item = (usize, usize, usize)> {
    let plane = h * w;
    (0..9usize).flat_map(move |k| {
        let (dy, dx) = (k / 3, k % 3);
        (0..batch).flat_map(move |b| {
            // Output rows y whose source row y + dy - 1 lies inside the image.
            (usize::from(dy == 0)..(h + 1 - dy).min(h)).map(move |y| {
                let src = b * plane + (y + dy - 1) * w;
                let dst = k * batch * plane + b * plane + y * w;
                (src, dst, dx)
            })
        })
    })
}

/// Patch extraction for a 3×3 "same" convolution in channel-major layout:
/// (c, batch, h, w) → (c·9, batch·h·w). Row `c·9 + ky·3 + kx` holds, for every pixel of
/// every image, its (ky-1, kx-1) neighbour (zero outside the image), so it matches a
/// (out, c, 3, 3) weight and the whole layer is ONE matrix product.
pub(crate) fn im2col(src: &[f32], channels: usize, batch: usize, h: usize, w: usize) -> Vec<f32> {
    let plane = h * w;
    // Every element is written below, zeros included, so a recycled buffer will do.
    let mut cols = scratch::take(channels * 9 * batch * plane);
    zip_chunks(
        &mut cols,
        9 * batch * plane,
        src,
        batch * plane,
        |cols, src, _| shifted_planes(cols, src, batch, h, w),
    );
    cols
}

/// One channel of [`im2col`]: its nine column rows `cols` (9 · batch · h · w values) from
/// the channel `src` (batch · h · w), for any element type (the integer convolution in
/// [`crate::ops::int_conv`] uses 16-bit columns).
pub(crate) fn shifted_planes<T: Copy + Default>(
    cols: &mut [T],
    src: &[T],
    batch: usize,
    h: usize,
    w: usize,
) {
    let plane = h * w;
    let zero = T::default();
    // One (tap, image) plane at a time: the source plane shifted by (dy - 1, dx - 1)
    // is one contiguous copy (a sideways shift moves each row's end into the next
    // row's start, and those cells are then set to zero), instead of a copy per row:
    // rows are only 8-64 values long, so per-row work was a fifth of inference.
    for (tap, dst) in cols.chunks_exact_mut(plane).enumerate() {
        let (k, b) = (tap / batch, tap % batch);
        let (dy, dx) = (k / 3, k % 3);
        let src = &src[b * plane..][..plane];
        // Output rows y0..y1 read source rows y0 + dy - 1 .. y1 + dy - 1.
        let (y0, y1) = (usize::from(dy == 0), (h + 1 - dy).min(h));
        if y1 <= y0 {
            dst.fill(zero); // a one-row image has no row above or below
            continue;
        }
        dst[..y0 * w].fill(zero);
        dst[y1 * w..].fill(zero);
        let (from, to) = ((y0 + dy - 1) * w, (y1 + dy - 1) * w);
        let inside = &mut dst[y0 * w..y1 * w];
        match dx {
            0 => {
                inside[1..].copy_from_slice(&src[from..to - 1]);
                inside.iter_mut().step_by(w).for_each(|v| *v = zero);
            }
            1 => inside.copy_from_slice(&src[from..to]),
            _ => {
                let last = inside.len() - 1;
                inside[..last].copy_from_slice(&src[from + 1..to]);
                inside[w - 1..]
                    .iter_mut()
                    .step_by(w)
                    .for_each(|v| *v = zero);
            }
        }
    }
}

/// The columns of a 3×3 convolution with stride 2 and zero padding 1 on (channels, h, w)
/// planes with even `h` and `w`, for the output rows `rows` (of h/2): (channels · 9,
/// rows · w/2), row `c·9 + ky·3 + kx` holding each output pixel's input at
/// (2y + ky − 1, 2x + kx − 1). The detector's first layer, a band of rows at a time.
pub(crate) fn strided_columns(
    src: &[f32],
    channels: usize,
    (h, w): (usize, usize),
    rows: Range<usize>,
) -> Vec<f32> {
    assert!(h % 2 == 0 && w % 2 == 0 && src.len() == channels * h * w && rows.end <= h / 2);
    let ow = w / 2;
    // Every value is pushed once, padding included: no zeroing first.
    let mut cols = Vec::with_capacity(channels * 9 * rows.len() * ow);
    for plane in src.chunks_exact(h * w) {
        for k in 0..9 {
            let (ky, kx) = (k / 3, k % 3);
            for y in rows.clone() {
                // Source row 2y + ky − 1: above the image only for y = 0, ky = 0.
                match (2 * y + ky).checked_sub(1) {
                    Some(sy) => every_other(&mut cols, &plane[sy * w..][..w], kx, ow),
                    None => cols.extend(std::iter::repeat_n(0.0, ow)),
                }
            }
        }
    }
    cols
}

/// Pushes `row[2x + kx − 1]` for x in 0..`ow`, zero where that is left of the row.
#[cfg_attr(target_arch = "wasm32", inline(never))]
fn every_other(out: &mut Vec<f32>, row: &[f32], kx: usize, ow: usize) {
    if kx == 0 {
        out.push(0.0);
    }
    let start = if kx == 0 { 1 } else { kx - 1 };
    out.extend(
        row[start..]
            .iter()
            .step_by(2)
            .take(ow - usize::from(kx == 0)),
    );
}

/// Recycles the large temporary buffers of the convolution (column matrices, 9× a layer's
/// input, and their gradients) between training steps: freshly allocated, each must be
/// zero-filled first, which took 8 % of a training step (perf). Native builds only; the
/// browser keeps no memory between calls.
pub(crate) mod scratch {
    #[cfg(feature = "parallel")]
    static POOL: std::sync::Mutex<Vec<Vec<f32>>> = std::sync::Mutex::new(Vec::new());
    /// Buffers kept for reuse: the four layers' columns (taken in training's forward pass,
    /// given back in its backward), the largest column gradient, and spares.
    #[cfg(feature = "parallel")]
    const KEEP: usize = 8;

    /// A buffer of `len` elements whose contents are unspecified (old values or zeros):
    /// the caller writes every element.
    pub fn take(len: usize) -> Vec<f32> {
        #[cfg(feature = "parallel")]
        {
            let mut pool = POOL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let fitting = (0..pool.len())
                .filter(|&i| pool[i].capacity() >= len)
                .min_by_key(|&i| pool[i].capacity());
            if let Some(i) = fitting {
                let mut buffer = pool.swap_remove(i);
                buffer.resize(len, 0.0); // writes only past the old length
                return buffer;
            }
        }
        vec![0f32; len]
    }

    /// Returns a buffer for reuse; the smallest is dropped when too many are kept.
    pub fn give_back(buffer: Vec<f32>) {
        #[cfg(feature = "parallel")]
        {
            let mut pool = POOL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            pool.push(buffer);
            if pool.len() > KEEP {
                if let Some(i) = (0..pool.len()).min_by_key(|&i| pool[i].capacity()) {
                    pool.swap_remove(i);
                }
            }
        }
        #[cfg(not(feature = "parallel"))]
        drop(buffer);
    }
}

#[cfg(not(target_arch = "wasm32"))] // training only
/// Adjoint of [`im2col`]: sums each column entry back onto the pixel it was read from.
pub(crate) fn col2im(cols: &[f32], channels: usize, batch: usize, h: usize, w: usize) -> Vec<f32> {
    let per_channel = batch * h * w;
    let mut dst = vec![0f32; channels * per_channel];
    zip_chunks(
        &mut dst,
        per_channel,
        cols,
        9 * per_channel,
        |dst, cols, _| {
            for (s, d, dx) in patch_rows(batch, h, w) {
                let (out_row, g_row) = (&mut dst[s..s + w], &cols[d..d + w]);
                let (out_part, g_part) = match dx {
                    0 => (&mut out_row[..w - 1], &g_row[1..]),
                    1 => (&mut out_row[..], g_row),
                    _ => (&mut out_row[1..], &g_row[..w - 1]),
                };
                out_part.iter_mut().zip(g_part).for_each(|(o, g)| *o += g);
            }
        },
    );
    dst
}

#[cfg(test)]
mod tests {
    use super::strided_columns;

    #[test]
    fn strided_columns_hold_each_taps_input_and_zero_outside() {
        let (channels, h, w) = (2, 6, 8);
        let src: Vec<f32> = (0..channels * h * w).map(|v| v as f32 + 1.0).collect();
        let (oh, ow) = (h / 2, w / 2);
        let cols = strided_columns(&src, channels, (h, w), 0..oh);
        assert_eq!(cols.len(), channels * 9 * oh * ow);
        for c in 0..channels {
            for k in 0..9 {
                for y in 0..oh {
                    for x in 0..ow {
                        let (sy, sx) = ((2 * y + k / 3) as i64 - 1, (2 * x + k % 3) as i64 - 1);
                        let inside = sy >= 0 && sx >= 0 && sy < h as i64 && sx < w as i64;
                        let expected = if inside {
                            src[(c * h + sy as usize) * w + sx as usize]
                        } else {
                            0.0
                        };
                        assert_eq!(
                            cols[((c * 9 + k) * oh + y) * ow + x],
                            expected,
                            "{c} {k} {y} {x}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn strided_columns_of_a_band_are_the_whole_columns_rows() {
        let (channels, h, w) = (3, 10, 6);
        let src: Vec<f32> = (0..channels * h * w).map(|v| v as f32 - 7.0).collect();
        let (oh, ow) = (h / 2, w / 2);
        let whole = strided_columns(&src, channels, (h, w), 0..oh);
        for band in [0..1, 1..4, 4..5, 0..5] {
            let cols = strided_columns(&src, channels, (h, w), band.clone());
            let n = band.len() * ow;
            assert_eq!(cols.len(), channels * 9 * n);
            for (row, part) in cols.chunks_exact(n).enumerate() {
                let from = row * oh * ow + band.start * ow;
                assert_eq!(part, &whole[from..from + n], "{band:?} row {row}");
            }
        }
    }
}
