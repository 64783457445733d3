//! Batch normalisation: per-channel statistics; batch norm + a clamp (ReLU, ReLU6 or none)
//! as one graph node; and batch norm + ReLU + 2×2 max-pool fused into one node whose
//! backward pass recomputes what it needs.

use super::chunks::{map_chunks, zip_chunks};
use super::fused::{affine, norm_relu_pool, PoolWinners};
use super::storage::{contiguous_f32, with_f32};
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

/// Per-channel mean and (biased) variance of a channel-major (c, batch, h, w) tensor.
pub fn channel_stats(x: &Tensor) -> Result<(Vec<f32>, Vec<f32>)> {
    let channels = x.dim(0)?;
    with_f32(x, |data| {
        map_chunks(data, data.len() / channels, |chunk| {
            // Shifted by the first value and summed in f64, one pass is exact enough.
            let shift = f64::from(chunk.first().copied().unwrap_or(0.0));
            let (mut sum, mut sum_sq) = ([0f64; LANES], [0f64; LANES]);
            let lanes = chunk.chunks_exact(LANES);
            let rest = lanes.remainder();
            for values in lanes {
                for k in 0..LANES {
                    let d = f64::from(values[k]) - shift;
                    sum[k] += d;
                    sum_sq[k] += d * d;
                }
            }
            for (k, &v) in rest.iter().enumerate() {
                let d = f64::from(v) - shift;
                sum[k] += d;
                sum_sq[k] += d * d;
            }
            let (sum, sum_sq) = (sum.iter().sum::<f64>(), sum_sq.iter().sum::<f64>());
            let n = chunk.len() as f64;
            let mean = sum / n;
            (
                (shift + mean) as f32,
                (sum_sq / n - mean * mean).max(0.0) as f32,
            )
        })
        .into_iter()
        .unzip()
    })
}

/// Independent partial sums per reduction: one running sum is a chain of dependent
/// additions that neither the compiler (it keeps the order of float additions) nor the CPU
/// can overlap; sixteen can be vectorised. Per-channel sums over a layer were about a tenth
/// of a training step (perf).
const LANES: usize = 16;

/// The per-channel statistics a batch norm normalises with.
#[derive(Clone, Debug)]
pub struct NormStatistics {
    pub mean: Vec<f32>,
    pub inv_std: Vec<f32>,
    /// True when `mean`/`inv_std` come from this batch: the backward pass then also
    /// differentiates through the statistics (standard training-mode batch norm).
    pub batch_statistics: bool,
}

impl NormStatistics {
    /// (scale, shift) of channel `c`: batch norm and the affine γ, β as one `v·scale + shift`.
    pub(crate) fn affine(&self, c: usize, gamma: f32, beta: f32) -> (f32, f32) {
        affine(gamma, beta, self.mean[c], self.inv_std[c])
    }

    /// The gradient at channel `c`'s batch-norm input `x`, written to `dx`, when the norm's
    /// output went through ReLU and 2×2 max-pooling: `grads` is the gradient at the pooled
    /// values, `winners` where each came from. Returns (Σg, Σg·x̂), the gradients of β and
    /// γ, with g the gradient at the norm's output: zero except at the winners, so both sums
    /// run over the windows. With batch statistics: dx = γ/σ · (g − mean(g) − x̂·mean(g·x̂)).
    pub(crate) fn pooled_input_gradient(
        &self,
        dx: &mut [f32],
        x: &[f32],
        (grads, winners): (&[f32], &PoolWinners),
        c: usize,
        gamma: f32,
    ) -> (f32, f32) {
        let (mean, inv_std) = (self.mean[c], self.inv_std[c]);
        let (mut sg, mut sgx) = (0f32, 0f32);
        winners.route(grads, |i, g| {
            sg += g;
            sgx += g * (x[i] - mean) * inv_std;
        });
        let k = gamma * inv_std;
        // Away from the winners g = 0, so dx = −γ/σ · (mean(g) + x̂·mean(g·x̂)) there.
        let (mean_g, mean_gx) = if self.batch_statistics {
            let n = dx.len() as f32;
            (sg / n, sgx / n)
        } else {
            (0.0, 0.0)
        };
        let (offset, slope) = (-k * mean_g, -k * inv_std * mean_gx);
        for (d, &v) in dx.iter_mut().zip(x) {
            *d = offset + slope * (v - mean);
        }
        winners.route(grads, |i, g| dx[i] += k * g);
        (sg, sgx)
    }
}

/// Batch norm (with the given statistics) + affine, clamped to [`low`, `high`] — ReLU is
/// [0, ∞), ReLU6 [0, 6], no activation (−∞, ∞) — as one graph node: one pass forward and
/// one backward instead of a dozen full-size temporaries through generic ops. Arguments:
/// x (c, batch, h, w) channel-major, gamma (c), beta (c).
pub struct BatchNormClamp {
    pub statistics: NormStatistics,
    pub low: f32,
    pub high: f32,
}

impl BatchNormClamp {
    /// The reference of [`BatchNormReluPool`] in tests.
    #[cfg(test)]
    pub fn relu(statistics: NormStatistics) -> Self {
        Self {
            statistics,
            low: 0.0,
            high: f32::INFINITY,
        }
    }

    pub fn relu6(statistics: NormStatistics) -> Self {
        Self {
            statistics,
            low: 0.0,
            high: 6.0,
        }
    }

    pub fn linear(statistics: NormStatistics) -> Self {
        Self {
            statistics,
            low: f32::NEG_INFINITY,
            high: f32::INFINITY,
        }
    }
}

impl CustomOp3 for BatchNormClamp {
    fn name(&self) -> &'static str {
        "batchnorm-clamp"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let channels = l1.shape().dims()[0];
        let (x, gamma, beta) = (
            contiguous_f32(s1, l1)?,
            contiguous_f32(s2, l2)?,
            contiguous_f32(s3, l3)?,
        );
        let mut out = vec![0f32; x.len()];
        let per_channel = x.len() / channels;
        zip_chunks(&mut out, per_channel, x, per_channel, |out, x, c| {
            let (scale, shift) = self.statistics.affine(c, gamma[c], beta[c]);
            out.iter_mut()
                .zip(x)
                .for_each(|(o, &v)| *o = (v * scale + shift).max(self.low).min(self.high));
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        _beta: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let channels = x.dim(0)?;
        let plane = x.elem_count() / channels;
        let gamma = gamma.to_vec1::<f32>()?;
        // Per channel: the upstream gradient through the clamp, then through the batch norm.
        let mut grad_x = vec![0f32; x.elem_count()];
        let sums: Vec<(f32, f32)> = with_f32(res, |y| {
            with_f32(grad_res, |g| {
                with_f32(x, |xs| {
                    zip_chunks(&mut grad_x, plane, xs, plane, |gx, xc, c| {
                        let range = c * plane..(c + 1) * plane;
                        let (yc, gc) = (&y[range.clone()], &g[range]);
                        for ((o, &yv), &gv) in gx.iter_mut().zip(yc).zip(gc) {
                            *o = if yv > self.low && yv < self.high {
                                gv
                            } else {
                                0.0
                            };
                        }
                        input_gradient(&self.statistics, gx, xc, c, gamma[c])
                    })
                })
            })
        })???;
        norm_gradients(x, grad_x, sums)
    }
}

/// Turns `g`, the gradient at channel `c`'s batch-norm output, into the gradient at its
/// input `x`, in place; returns (Σg, Σg·x̂), the gradients of β and γ. With batch
/// statistics: dx = γ/σ · (g − mean(g) − x̂·mean(g·x̂)).
fn input_gradient(
    statistics: &NormStatistics,
    g: &mut [f32],
    x: &[f32],
    c: usize,
    gamma: f32,
) -> (f32, f32) {
    let (mean, inv_std) = (statistics.mean[c], statistics.inv_std[c]);
    // In LANES independent partial sums, as the statistics (one chain of additions was 8 %
    // of the efficient network's training step).
    let (mut sums, mut sums_x) = ([0f32; LANES], [0f32; LANES]);
    let (g_lanes, x_lanes) = (g.chunks_exact(LANES), x.chunks_exact(LANES));
    let rest = g_lanes.remainder().iter().zip(x_lanes.remainder());
    for (gv, xv) in g_lanes.zip(x_lanes) {
        for k in 0..LANES {
            sums[k] += gv[k];
            sums_x[k] += gv[k] * (xv[k] - mean);
        }
    }
    for (k, (&gv, &xv)) in rest.enumerate() {
        sums[k] += gv;
        sums_x[k] += gv * (xv - mean);
    }
    let sg: f32 = sums.iter().sum();
    let sgx = sums_x.iter().sum::<f32>() * inv_std;
    let k = gamma * inv_std;
    if statistics.batch_statistics {
        let (mb, mg) = (sg / g.len() as f32, sgx / g.len() as f32);
        for (o, &xv) in g.iter_mut().zip(x) {
            *o = k * (*o - mb - (xv - mean) * inv_std * mg);
        }
    } else {
        g.iter_mut().for_each(|o| *o *= k);
    }
    (sg, sgx)
}

/// The gradients of a batch-norm op's (x, γ, β) from the input gradient and each channel's
/// (Σg, Σg·x̂), as [`NormStatistics::pooled_input_gradient`] returns them.
pub(crate) type NormGradients = (Option<Tensor>, Option<Tensor>, Option<Tensor>);

pub(crate) fn norm_gradients(
    x: &Tensor,
    grad_x: Vec<f32>,
    sums: Vec<(f32, f32)>,
) -> Result<NormGradients> {
    let channels = sums.len();
    let (d_beta, d_gamma): (Vec<f32>, Vec<f32>) = sums.into_iter().unzip();
    let dev = x.device();
    Ok((
        Some(Tensor::from_vec(grad_x, x.shape(), dev)?),
        Some(Tensor::from_vec(d_gamma, channels, dev)?),
        Some(Tensor::from_vec(d_beta, channels, dev)?),
    ))
}

/// Batch norm + affine + ReLU + 2×2 max-pool (stride 2) as ONE graph node, for the end of
/// each stage. The full-size normalised activations are never stored: the forward pass writes
/// only the pooled quarter, and the backward pass recomputes each window's values from the
/// input to route its gradient. Unfused, those activations are a graph node of their own,
/// for which candle's backprop fills and adds a full-size gradient, and the pooling backward
/// another. Arguments as [`BatchNormClamp`]; result (c, batch, h/2, w/2).
pub struct BatchNormReluPool {
    pub statistics: NormStatistics,
}

impl CustomOp3 for BatchNormReluPool {
    fn name(&self) -> &'static str {
        "batchnorm-relu-maxpool"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (channels, batch, h, w) = l1.shape().dims4()?;
        let (x, gamma, beta) = (
            contiguous_f32(s1, l1)?,
            contiguous_f32(s2, l2)?,
            contiguous_f32(s3, l3)?,
        );
        let (oh, ow) = (h / 2, w / 2);
        let mut out = vec![0f32; channels * batch * oh * ow];
        zip_chunks(&mut out, batch * oh * ow, x, batch * h * w, |out, x, c| {
            let (scale, shift) = self.statistics.affine(c, gamma[c], beta[c]);
            norm_relu_pool(out, x, h, w, scale, shift);
        });
        Ok((CpuStorage::F32(out), Shape::from((channels, batch, oh, ow))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        beta: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (_, batch, h, w) = x.dims4()?;
        let (plane, cells) = (batch * h * w, batch * (h / 2) * (w / 2));
        let gamma = gamma.to_vec1::<f32>()?;
        let beta = beta.to_vec1::<f32>()?;
        let mut grad_x = vec![0f32; x.elem_count()];
        let sums: Vec<(f32, f32)> = with_f32(grad_res, |g| {
            with_f32(x, |xs| {
                zip_chunks(&mut grad_x, plane, xs, plane, |dx, xc, c| {
                    let (scale, shift) = self.statistics.affine(c, gamma[c], beta[c]);
                    let winners = PoolWinners::find(xc, h, w, scale, shift);
                    let grads = &g[c * cells..(c + 1) * cells];
                    self.statistics
                        .pooled_input_gradient(dx, xc, (grads, &winners), c, gamma[c])
                })
            })
        })??;
        norm_gradients(x, grad_x, sums)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::pool::max_pool2x2;
    use crate::ops::reference::{assert_same_gradients, max_diff};
    use candle_core::{Device, Var};

    #[test]
    fn batchnorm_relu_matches_composite_ops() -> Result<()> {
        let dev = Device::Cpu;
        let x = Var::randn(0.5f32, 2., (4, 3, 5, 6), &dev)?;
        let gamma = Var::randn(1f32, 0.3, 3, &dev)?;
        let beta = Var::randn(0f32, 0.3, 3, &dev)?;
        let target = Tensor::randn(0f32, 1., (4, 3, 5, 6), &dev)?;
        let x_cm = x.transpose(0, 1)?.contiguous()?;
        let (mean, var) = channel_stats(&x_cm)?;
        let inv_std: Vec<f32> = var.iter().map(|v| 1.0 / (v + 1e-5).sqrt()).collect();
        let op = BatchNormClamp::relu(NormStatistics {
            mean,
            inv_std,
            batch_statistics: true,
        });
        let ours = x_cm.apply_op3(&gamma, &beta, op)?.transpose(0, 1)?;
        // Reference: training-mode batch norm written with differentiable candle ops.
        let bshape = (1, 3, 1, 1);
        let mu = x.mean_keepdim(0)?.mean_keepdim(2)?.mean_keepdim(3)?;
        let centered = x.broadcast_sub(&mu)?;
        let v = centered
            .sqr()?
            .mean_keepdim(0)?
            .mean_keepdim(2)?
            .mean_keepdim(3)?;
        let reference = centered
            .broadcast_div(&(v + 1e-5)?.sqrt()?)?
            .broadcast_mul(&gamma.reshape(bshape)?)?
            .broadcast_add(&beta.reshape(bshape)?)?
            .relu()?;
        assert!(max_diff(&ours, &reference) < 1e-4);
        assert_same_gradients(ours, reference, &target, &[&x, &gamma, &beta], 1e-3)
    }

    #[test]
    fn fused_norm_relu_pool_matches_the_separate_ops() -> Result<()> {
        let dev = Device::Cpu;
        // Odd sizes: the last row and column take part in the statistics but not the pooling.
        for batch_statistics in [true, false] {
            let x = Var::randn(0.5f32, 2., (3, 4, 7, 9), &dev)?; // (c, batch, h, w)
            let gamma = Var::randn(1f32, 0.8, 3, &dev)?; // some negative: scale < 0
            let beta = Var::randn(0f32, 0.3, 3, &dev)?;
            let target = Tensor::randn(0f32, 1., (3, 4, 3, 4), &dev)?;
            let (mean, var) = channel_stats(&x)?;
            let statistics = NormStatistics {
                mean,
                inv_std: var.iter().map(|v| 1.0 / (v + 1e-5).sqrt()).collect(),
                batch_statistics,
            };
            let fused = x.apply_op3(
                &gamma,
                &beta,
                BatchNormReluPool {
                    statistics: statistics.clone(),
                },
            )?;
            let separate =
                max_pool2x2(&x.apply_op3(&gamma, &beta, BatchNormClamp::relu(statistics))?)?;
            assert_eq!(max_diff(&fused, &separate), 0.0);
            assert_same_gradients(fused, separate, &target, &[&x, &gamma, &beta], 1e-5)?;
        }
        Ok(())
    }

    #[test]
    fn channel_stats_are_exact_even_far_from_zero() -> Result<()> {
        let dev = Device::Cpu;
        // Channel 1 sits at 1000 with unit spread: a naive one-pass f32 variance fails there.
        let x = Tensor::randn(0f32, 1., (2, 3, 5, 4), &dev)?
            .broadcast_add(&Tensor::new(&[0f32, 1000.0], &dev)?.reshape((2, 1, 1, 1))?)?;
        let (mean, var) = channel_stats(&x)?;
        for c in 0..2 {
            let values: Vec<f64> = x
                .get(c)?
                .flatten_all()?
                .to_vec1::<f32>()?
                .into_iter()
                .map(f64::from)
                .collect();
            let m = values.iter().sum::<f64>() / values.len() as f64;
            let v = values.iter().map(|x| (x - m).powi(2)).sum::<f64>() / values.len() as f64;
            assert!(
                (f64::from(mean[c]) - m).abs() < 1e-3,
                "mean {} vs {m}",
                mean[c]
            );
            assert!(
                (f64::from(var[c]) - v).abs() < 1e-3 * v,
                "variance {} vs {v}",
                var[c]
            );
        }
        Ok(())
    }
}
