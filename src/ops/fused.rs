//! The end of each network stage on plain slices: batch norm (as one `v·scale + shift` per
//! channel, from the arithmetic below), ReLU and 2×2 max-pooling in one pass. Training's graph node
//! ([`super::norm::BatchNormReluPool`]) and the inference network run this same loop.

/// Batch norm's epsilon, in training and inference alike.
const BN_EPS: f32 = 1e-5;

/// 1 / σ of a channel with variance `var`.
pub(crate) fn inverse_std(var: f32) -> f32 {
    1.0 / (var + BN_EPS).sqrt()
}

/// (scale, shift) of a channel: batch norm and the affine γ, β as one `v·scale + shift`.
pub(crate) fn affine(gamma: f32, beta: f32, mean: f32, inv_std: f32) -> (f32, f32) {
    let scale = gamma * inv_std;
    (scale, beta - mean * scale)
}

/// One channel: `x` its batch · h · w values, `out` its batch · (h/2) · (w/2).
pub(crate) fn norm_relu_pool(
    out: &mut [f32],
    x: &[f32],
    h: usize,
    w: usize,
    scale: f32,
    shift: f32,
) {
    let value = |v: f32| v * scale + shift;
    // ReLU commutes with the maximum, so it is applied once per window.
    windows(out, x, h, w, |o, [t0, t1, b0, b1]| {
        let upper = larger(value(t0), value(t1));
        let lower = larger(value(b0), value(b1));
        *o = larger(larger(upper, lower), 0.0);
    });
}

/// Calls `f(cell, [top left, top right, bottom left, bottom right])` for each 2×2 window of
/// the (h, w) images in `x`, `cell` its place in `out` (row by row, image by image). Whole
/// rows of windows at a time, so no index arithmetic per cell.
#[inline(always)]
fn windows<T>(out: &mut [T], x: &[f32], h: usize, w: usize, mut f: impl FnMut(&mut T, [f32; 4])) {
    let (oh, ow) = (h / 2, w / 2);
    let rows = out.chunks_exact_mut(ow.max(1)).zip(
        x.chunks_exact(h * w)
            .flat_map(|image| image.chunks_exact(2 * w).take(oh)),
    );
    for (out_row, pair) in rows {
        let (top, bottom) = pair.split_at(w);
        let windows = top.chunks_exact(2).zip(bottom.chunks_exact(2));
        for (o, (t, b)) in out_row.iter_mut().zip(windows) {
            f(o, [t[0], t[1], b[0], b[1]]);
        }
    }
}

/// Where [`norm_relu_pool`]'s outputs came from, for its backward pass: for each window, in
/// the output's order, which of its values was the maximum (0, 1 top left and right; 2, 3
/// bottom; the first of equals, like PyTorch), or [`Self::NONE`] where the ReLU cut it.
#[cfg(not(target_arch = "wasm32"))] // training only
pub(crate) struct PoolWinners {
    winners: Vec<u8>,
    h: usize,
    w: usize,
}

#[cfg(not(target_arch = "wasm32"))]
impl PoolWinners {
    const NONE: u8 = 4;

    /// The winners of one channel's windows, as [`norm_relu_pool`] takes them.
    pub(crate) fn find(x: &[f32], h: usize, w: usize, scale: f32, shift: f32) -> Self {
        let value = |v: f32| v * scale + shift;
        let cells = x.len() / (h * w).max(1) * (h / 2) * (w / 2);
        let mut winners = vec![Self::NONE; cells];
        // Comparisons and selects only: with branches, random data mispredicted half of
        // them (the backward's slowest part, perf).
        windows(&mut winners, x, h, w, |winner, [t0, t1, b0, b1]| {
            let (t0, t1, b0, b1) = (value(t0), value(t1), value(b0), value(b1));
            let (upper, upper_at) = (larger(t0, t1), u8::from(t1 > t0));
            let (lower, lower_at) = (larger(b0, b1), 2 + u8::from(b1 > b0));
            let best = if lower > upper { lower_at } else { upper_at };
            *winner = if larger(upper, lower) > 0.0 {
                best
            } else {
                Self::NONE
            };
        });
        Self { winners, h, w }
    }

    /// Calls `f(index into x, gradient)` for each window that passed a gradient on: `grads`
    /// holds one per window, in the output's order.
    pub(crate) fn route(&self, grads: &[f32], mut f: impl FnMut(usize, f32)) {
        let (h, w) = (self.h, self.w);
        let (oh, ow) = (h / 2, w / 2);
        let rows = grads
            .chunks_exact(ow.max(1))
            .zip(self.winners.chunks_exact(ow.max(1)));
        for (row, (grads, winners)) in rows.enumerate() {
            let top = row / oh * h * w + 2 * (row % oh) * w;
            for (i, (&g, &winner)) in grads.iter().zip(winners).enumerate() {
                if winner != Self::NONE {
                    let (down, right) = (usize::from(winner >> 1), usize::from(winner & 1));
                    f(top + down * w + 2 * i + right, g);
                }
            }
        }
    }
}

/// The larger of two numbers. `f32::max` also orders NaNs, which wasm's `f32.max` does not
/// do the same way, so in the browser it is a call to libm's `fmaxf` per comparison (a tenth
/// of the classifier's time, a third of the detector's); the activations hold no NaN.
#[inline(always)]
pub(crate) fn larger(a: f32, b: f32) -> f32 {
    if a > b {
        a
    } else {
        b
    }
}
