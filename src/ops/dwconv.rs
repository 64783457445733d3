//! The 3×3 depthwise "same" convolution as one graph node, with its exact backward pass:
//! the middle of an inverted-residual block (expand 1×1, depthwise 3×3, project 1×1), whose
//! 1×1 convolutions are plain matrix products in the channel-major layout.

use super::chunks::{fill_chunks, zip_chunks};
use super::depthwise::depthwise3x3_planes;
use super::storage::{contiguous_f32, with_f32};
use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};

struct Depthwise3x3;

impl CustomOp2 for Depthwise3x3 {
    fn name(&self) -> &'static str {
        "depthwise3x3"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_layout: &Layout,
        weight: &CpuStorage,
        weight_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let shape = x_layout.shape().clone();
        let dims = shape.dims4()?;
        let out = convolved(
            contiguous_f32(x, x_layout)?,
            contiguous_f32(weight, weight_layout)?,
            dims,
        );
        Ok((CpuStorage::F32(out), shape))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let dims = x.dims4()?;
        let (channels, batch, h, w) = dims;
        let plane = batch * h * w;
        // The input's gradient is the output's, correlated with each kernel turned by 180°.
        let grad_x = if x.track_op() {
            let turned = with_f32(weight, |k| {
                k.chunks_exact(9)
                    .flat_map(|k| k.iter().rev().copied())
                    .collect::<Vec<f32>>()
            })?;
            let g = with_f32(grad_res, |g| convolved(g, &turned, dims))?;
            Some(Tensor::from_vec(g, x.shape(), x.device())?)
        } else {
            None
        };
        let mut grad_w = vec![0f32; 9 * channels];
        with_f32(grad_res, |g| {
            with_f32(x, |x| {
                zip_chunks(&mut grad_w, 9, g, plane, |out, g, c| {
                    out.copy_from_slice(&tap_sums(g, &x[c * plane..][..plane], (batch, h, w)));
                });
            })
        })??;
        let grad_w = Tensor::from_vec(grad_w, weight.shape(), weight.device())?;
        Ok((grad_x, Some(grad_w)))
    }
}

/// `x` (channels, batch, h, w) convolved with one 3×3 kernel a channel (`weight`, 9 values
/// each), every channel on its own thread where there are threads.
fn convolved(
    x: &[f32],
    weight: &[f32],
    (channels, batch, h, w): (usize, usize, usize, usize),
) -> Vec<f32> {
    let mut out = x.to_vec();
    debug_assert_eq!(out.len(), channels * batch * h * w);
    let zero = [0f32];
    fill_chunks(&mut out, (batch * h * w).max(1), |planes, c| {
        depthwise3x3_planes(planes, &weight[9 * c..][..9], &zero, (h, w, batch), false);
    });
    out
}

/// For one channel: Σ over its planes and pixels of g(y, x) · x(y + ky − 1, x + kx − 1),
/// for each tap (ky, kx) — the kernel's gradient — summed row by row in f64.
fn tap_sums(g: &[f32], x: &[f32], (planes, h, w): (usize, usize, usize)) -> [f32; 9] {
    let mut sums = [0f64; 9];
    let plane = h * w;
    for p in 0..planes {
        let (g, x) = (&g[p * plane..][..plane], &x[p * plane..][..plane]);
        for y in 0..h {
            let g_row = &g[y * w..][..w];
            for ky in 0..3 {
                let sy = y as isize + ky as isize - 1;
                if sy < 0 || sy >= h as isize {
                    continue;
                }
                let x_row = &x[sy as usize * w..][..w];
                for kx in 0..3 {
                    // Output columns whose source column x + kx − 1 is inside the row.
                    let (from, to) = (usize::from(kx == 0), w - usize::from(kx == 2));
                    if from >= to {
                        continue;
                    }
                    let shifted = &x_row[from + kx - 1..to + kx - 1];
                    sums[3 * ky + kx] += dot(&g_row[from..to], shifted) as f64;
                }
            }
        }
    }
    sums.map(|s| s as f32)
}

/// The compiler vectorises it (eight partial sums).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (a, b) in a8.zip(b8) {
        for i in 0..8 {
            lanes[i] += a[i] * b[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// 3×3 depthwise convolution, stride 1, zero padding 1, no bias, in channel-major layout.
/// `x`: (channels, batch, h, w) f32; `weight`: (channels, 1, 3, 3) as for candle's grouped
/// `conv2d`; result: (channels, batch, h, w).
pub fn depthwise3x3(x: &Tensor, weight: &Tensor) -> Result<Tensor> {
    let (channels, ..) = x.dims4()?;
    if weight.dims4()? != (channels, 1, 3, 3) {
        candle_core::bail!(
            "depthwise3x3: weight {:?} does not fit {channels} channels",
            weight.dims()
        );
    }
    x.contiguous()?
        .apply_op2(&weight.contiguous()?, Depthwise3x3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::reference::{assert_same_relative_gradients, max_diff};
    use candle_core::{Device, Var};

    #[test]
    fn depthwise3x3_and_its_gradients_match_candle_grouped_conv2d() -> Result<()> {
        let dev = Device::Cpu;
        // Odd sizes, rows and columns of one pixel (the taps' edge cases), and a layer of the
        // size training runs (its sums over many pixels).
        for (batch, channels, h, w) in [
            (2, 3, 7, 6),
            (1, 2, 1, 5),
            (3, 4, 5, 1),
            (2, 2, 1, 1),
            (16, 24, 32, 32),
        ] {
            let x = Var::randn(0f32, 1., (batch, channels, h, w), &dev)?;
            let weight = Var::randn(0f32, 1., (channels, 1, 3, 3), &dev)?;
            let target = Tensor::randn(0f32, 1., (batch, channels, h, w), &dev)?;
            let ours = depthwise3x3(&x.transpose(0, 1)?, &weight)?.transpose(0, 1)?;
            let reference = x.conv2d(&weight, 1, 1, 1, channels)?;
            let diff = max_diff(&ours, &reference);
            assert!(
                diff < 1e-4,
                "{batch}×{channels}×{h}×{w}: output differs by {diff}"
            );
            let vars = [x.as_tensor(), weight.as_tensor()];
            let what = format!("{batch}×{channels}×{h}×{w}");
            assert_same_relative_gradients(ours, reference, &target, &vars, 1e-4, &what)?;
        }
        Ok(())
    }

    #[test]
    fn a_weight_of_another_shape_is_an_error() {
        let x = Tensor::zeros((3, 1, 4, 4), candle_core::DType::F32, &Device::Cpu).unwrap();
        let weight = Tensor::zeros((3, 3, 3, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
        assert!(depthwise3x3(&x, &weight).is_err());
    }
}
