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
    let (oh, ow) = (h / 2, w / 2);
    let value = |v: f32| v * scale + shift;
    // Whole rows of windows, so no index arithmetic per cell; ReLU commutes with the
    // maximum, so it is applied once per window.
    let rows = out.chunks_exact_mut(ow).zip(
        x.chunks_exact(h * w)
            .flat_map(|image| image.chunks_exact(2 * w).take(oh)),
    );
    for (out_row, pair) in rows {
        let (top, bottom) = pair.split_at(w);
        let windows = top.chunks_exact(2).zip(bottom.chunks_exact(2));
        for (o, (t, b)) in out_row.iter_mut().zip(windows) {
            let upper = larger(value(t[0]), value(t[1]));
            let lower = larger(value(b[0]), value(b[1]));
            *o = larger(larger(upper, lower), 0.0);
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
