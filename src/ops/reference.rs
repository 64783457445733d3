//! Test-only: the unfused batch norm + ReLU, the reference the fused op is checked against,
//! and the comparisons the kernel tests share.

use super::chunks::zip_chunks;
use super::norm::{norm_gradients, NormStatistics};
use super::storage::{contiguous_f32, with_f32};
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor, Var};

/// Fused batch norm (with the given statistics) + affine + ReLU: one pass forward and
/// one pass backward instead of a dozen full-size temporaries through generic ops.
/// Arguments: x (c, batch, h, w) channel-major, gamma (c), beta (c).
pub struct BatchNormRelu {
    pub statistics: NormStatistics,
}

impl CustomOp3 for BatchNormRelu {
    fn name(&self) -> &'static str {
        "batchnorm-relu"
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
                .for_each(|(o, &v)| *o = (v * scale + shift).max(0.0));
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
        // Per channel: the upstream gradient through the ReLU, then through the batch norm.
        let mut grad_x = vec![0f32; x.elem_count()];
        let sums: Vec<(f32, f32)> = with_f32(res, |y| {
            with_f32(grad_res, |g| {
                with_f32(x, |xs| {
                    zip_chunks(&mut grad_x, plane, xs, plane, |gx, xc, c| {
                        let range = c * plane..(c + 1) * plane;
                        let (yc, gc) = (&y[range.clone()], &g[range]);
                        for ((o, &yv), &gv) in gx.iter_mut().zip(yc).zip(gc) {
                            *o = if yv > 0.0 { gv } else { 0.0 };
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
    let sg: f32 = g.iter().sum();
    let sgx: f32 = g
        .iter()
        .zip(x)
        .map(|(&gv, &xv)| gv * (xv - mean) * inv_std)
        .sum();
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

pub(crate) fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// Asserts that `ours` and `reference` (same-shaped outputs) give every variable the same
/// gradient of Σ output·target, within `tolerance`.
pub(crate) fn assert_same_gradients(
    ours: Tensor,
    reference: Tensor,
    target: &Tensor,
    vars: &[&Var],
    tolerance: f32,
) -> Result<()> {
    let ours = (ours * target)?.sum_all()?.backward()?;
    let reference = (reference * target)?.sum_all()?.backward()?;
    for var in vars {
        let diff = max_diff(ours.get(var).unwrap(), reference.get(var).unwrap());
        assert!(diff < tolerance, "gradient differs by {diff}");
    }
    Ok(())
}

/// Asserts that `ours` and `reference` (same-shaped outputs) give each of `vars` the same
/// gradient of Σ output·target, within `tolerance` of the gradient's largest value: sums
/// over thousands of products differ in their last bits. `what` names the case.
pub(crate) fn assert_same_relative_gradients(
    ours: Tensor,
    reference: Tensor,
    target: &Tensor,
    vars: &[&Tensor],
    tolerance: f32,
    what: &str,
) -> Result<()> {
    let ours = (ours * target)?.sum_all()?.backward()?;
    let reference = (reference * target)?.sum_all()?.backward()?;
    for (i, var) in vars.iter().enumerate() {
        let (a, b) = (ours.get(var).unwrap(), reference.get(var).unwrap());
        let scale = b.abs()?.max_all()?.to_scalar::<f32>()?.max(1.0);
        let diff = max_diff(a, b) / scale;
        assert!(
            diff < tolerance,
            "{what}: gradient {i} differs by {diff} (relative)"
        );
    }
    Ok(())
}
