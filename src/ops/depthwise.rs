//! The face detector's per-channel layers on channel-major planes (channels, h, w): the 3×3
//! depthwise convolution, 2×2 max-pooling and the nearest-neighbour upsampling of its
//! top-down merge, and ReLU. Each walks whole rows, a call per row ("Tier-up" in
//! docs/design.md).

use super::fused::larger;
use std::ops::Range;

/// A 3×3 depthwise convolution with "same" zero padding and stride 1, in place: channel `c`
/// of `x` (channels, h, w) convolved with its own kernel `weight[9c..9c + 9]`, plus
/// `bias[c]`, negatives zeroed when `relu`. In place, it allocates only two rows: a new
/// layer-sized buffer each time cost as much again in zeroing and page faults (measured).
pub(crate) fn depthwise3x3(
    x: &mut [f32],
    weight: &[f32],
    bias: &[f32],
    (h, w): (usize, usize),
    relu: bool,
) {
    depthwise3x3_planes(x, weight, bias, (h, w, 1), relu);
}

/// [`depthwise3x3`] where each kernel serves `planes` consecutive planes: channel `c` of a
/// batch in channel-major layout (channels, batch, h, w) is `planes` = batch planes.
pub(crate) fn depthwise3x3_planes(
    x: &mut [f32],
    weight: &[f32],
    bias: &[f32],
    (h, w, planes): (usize, usize, usize),
    relu: bool,
) {
    let plane = h * w;
    assert!(
        plane > 0 && x.len() == plane * planes * bias.len() && weight.len() == 9 * bias.len(),
        "depthwise3x3: {} values for {} channels of {planes} × {h} × {w}",
        x.len(),
        bias.len()
    );
    let zeros = vec![0f32; w];
    // The source rows above and at the row being overwritten, as they were.
    let (mut above, mut current) = (vec![0f32; w], vec![0f32; w]);
    let kernels = weight.chunks_exact(9).zip(bias);
    let per_plane = kernels.flat_map(|kernel| std::iter::repeat_n(kernel, planes));
    for (channel, (k, &b)) in x.chunks_exact_mut(plane).zip(per_plane) {
        for y in 0..h {
            current.copy_from_slice(&channel[y * w..][..w]);
            let (row, rest) = channel[y * w..].split_at_mut(w);
            let below = if y + 1 == h { &zeros[..] } else { &rest[..w] };
            let top = if y == 0 { &zeros[..] } else { &above[..] };
            taps_row(row, [top, &current, below], k, b, relu);
            std::mem::swap(&mut above, &mut current);
        }
    }
}

/// One output row of [`depthwise3x3`] from its three source rows.
#[cfg_attr(target_arch = "wasm32", inline(never))]
fn taps_row(out: &mut [f32], rows: [&[f32]; 3], k: &[f32], bias: f32, relu: bool) {
    let w = out.len();
    let k: &[f32; 9] = k.try_into().expect("nine taps");
    // The edge columns see a zero to one side.
    let at = |x: usize| -> f32 {
        let mut sum = bias;
        for (r, row) in rows.iter().enumerate() {
            for dx in 0..3 {
                let sx = x + dx;
                if sx >= 1 && sx <= w {
                    sum += k[3 * r + dx] * row[sx - 1];
                }
            }
        }
        sum
    };
    out[0] = at(0);
    if w > 1 {
        out[w - 1] = at(w - 1);
        interior(out, rows, k, bias);
    }
    if relu {
        relu_chunk(out);
    }
}

/// The columns of a row with a neighbour on both sides, as nine slices of one length: the
/// compiler vectorises it.
#[inline(always)]
fn interior(out: &mut [f32], [r0, r1, r2]: [&[f32]; 3], k: &[f32; 9], bias: f32) {
    let n = out.len() - 2;
    let (a0, a1, a2) = (&r0[..n], &r0[1..=n], &r0[2..n + 2]);
    let (b0, b1, b2) = (&r1[..n], &r1[1..=n], &r1[2..n + 2]);
    let (c0, c1, c2) = (&r2[..n], &r2[1..=n], &r2[2..n + 2]);
    let o = &mut out[1..=n];
    for i in 0..n {
        o[i] = bias
            + k[0] * a0[i]
            + k[1] * a1[i]
            + k[2] * a2[i]
            + k[3] * b0[i]
            + k[4] * b1[i]
            + k[5] * b2[i]
            + k[6] * c0[i]
            + k[7] * c1[i]
            + k[8] * c2[i];
    }
}

/// ReLU in place, a call per 4 096 values ("Tier-up" in docs/design.md).
pub(crate) fn relu(x: &mut [f32]) {
    for chunk in x.chunks_mut(4096) {
        relu_chunk(chunk);
    }
}

#[cfg_attr(target_arch = "wasm32", inline(never))]
fn relu_chunk(x: &mut [f32]) {
    x.iter_mut().for_each(|v| *v = larger(*v, 0.0));
}

/// 2×2 max-pooling with stride 2 of each (h, w) plane; an odd last row or column is
/// dropped (ONNX's floor mode).
pub(crate) fn max_pool2(x: &[f32], (h, w): (usize, usize)) -> Vec<f32> {
    max_pool2_rows(x, (h, w), 0..h / 2 * 2)
}

/// [`max_pool2`] of the rows `rows` (an even count) of each (h, w) plane only: (channels,
/// rows / 2, w / 2).
pub(crate) fn max_pool2_rows(x: &[f32], (h, w): (usize, usize), rows: Range<usize>) -> Vec<f32> {
    let (oh, ow) = (rows.len() / 2, w / 2);
    let plane = h * w;
    let mut out = Vec::with_capacity(x.len() / plane.max(1) * oh * ow);
    if oh == 0 || ow == 0 {
        return out;
    }
    for src in x.chunks_exact(plane) {
        for y in rows.clone().step_by(2).take(oh) {
            pool_row(&mut out, &src[y * w..][..w], &src[(y + 1) * w..][..w]);
        }
    }
    out
}

#[cfg_attr(target_arch = "wasm32", inline(never))]
fn pool_row(out: &mut Vec<f32>, top: &[f32], bottom: &[f32]) {
    let pairs = top.chunks_exact(2).zip(bottom.chunks_exact(2));
    out.extend(pairs.map(|(t, b)| larger(larger(t[0], t[1]), larger(b[0], b[1]))));
}

/// `fine += coarse` upsampled twice by repeating each value over a 2×2 block: `fine` is
/// (channels, 2h, 2w), `coarse` (channels, h, w).
pub(crate) fn add_upsampled2(fine: &mut [f32], coarse: &[f32], (h, w): (usize, usize)) {
    assert_eq!(fine.len(), 4 * coarse.len(), "add_upsampled2: sizes");
    if h == 0 || w == 0 {
        return;
    }
    for (dst, src) in fine
        .chunks_exact_mut(4 * h * w)
        .zip(coarse.chunks_exact(h * w))
    {
        for (y, pair) in dst.chunks_exact_mut(4 * w).enumerate() {
            let (upper, lower) = pair.split_at_mut(2 * w);
            let row = &src[y * w..][..w];
            add_twice_row(upper, row);
            add_twice_row(lower, row);
        }
    }
}

#[cfg_attr(target_arch = "wasm32", inline(never))]
fn add_twice_row(out: &mut [f32], row: &[f32]) {
    for (o, &v) in out.chunks_exact_mut(2).zip(row) {
        o[0] += v;
        o[1] += v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition: every tap, zero outside the plane.
    fn naive(x: &[f32], weight: &[f32], bias: &[f32], h: usize, w: usize) -> Vec<f32> {
        let mut out = vec![0f32; x.len()];
        for c in 0..bias.len() {
            for y in 0..h {
                for xx in 0..w {
                    let mut sum = bias[c];
                    for ky in 0..3 {
                        for kx in 0..3 {
                            let (sy, sx) = (y as i64 + ky as i64 - 1, xx as i64 + kx as i64 - 1);
                            if sy >= 0 && sx >= 0 && (sy as usize) < h && (sx as usize) < w {
                                sum += weight[9 * c + 3 * ky + kx]
                                    * x[(c * h + sy as usize) * w + sx as usize];
                            }
                        }
                    }
                    out[(c * h + y) * w + xx] = sum;
                }
            }
        }
        out
    }

    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| ((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 1000)
            .map(|v| v as f32 / 500.0 - 1.0)
            .collect()
    }

    #[test]
    fn depthwise_matches_the_definition_on_every_shape_edge() {
        for (h, w) in [(1, 1), (1, 2), (2, 1), (3, 3), (5, 8), (7, 17)] {
            let channels = 3;
            let x = values(channels * h * w, 1);
            let weight = values(channels * 9, 2);
            let bias = values(channels, 3);
            let expected = naive(&x, &weight, &bias, h, w);
            let mut got = x.clone();
            depthwise3x3(&mut got, &weight, &bias, (h, w), false);
            for (e, g) in expected.iter().zip(&got) {
                assert!((e - g).abs() < 1e-5, "{h}×{w}: {e} vs {g}");
            }
            let mut relu = x.clone();
            depthwise3x3(&mut relu, &weight, &bias, (h, w), true);
            for (e, g) in expected.iter().zip(&relu) {
                assert!((e.max(0.0) - g).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn pooling_takes_each_blocks_largest_and_upsampling_repeats_it() {
        let x: Vec<f32> = (0..2 * 4 * 5).map(|v| ((v * 7) % 11) as f32).collect();
        let pooled = max_pool2(&x, (4, 5));
        assert_eq!(pooled.len(), 2 * 2 * 2);
        for c in 0..2 {
            for (y, xx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                let at = |dy: usize, dx: usize| x[c * 20 + (2 * y + dy) * 5 + 2 * xx + dx];
                let max = at(0, 0).max(at(0, 1)).max(at(1, 0)).max(at(1, 1));
                assert_eq!(pooled[c * 4 + y * 2 + xx], max);
            }
        }
        let mut fine = vec![1f32; 2 * 4 * 4];
        add_upsampled2(&mut fine, &pooled, (2, 2));
        for c in 0..2 {
            for y in 0..4 {
                for xx in 0..4 {
                    assert_eq!(
                        fine[c * 16 + y * 4 + xx],
                        1.0 + pooled[c * 4 + (y / 2) * 2 + xx / 2]
                    );
                }
            }
        }
    }
}
