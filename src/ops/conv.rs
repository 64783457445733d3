//! The 3×3 "same" convolution as one graph node, with its exact backward pass.

use super::gemm::{convolve_columns, gemm_into, transpose_into, Matrix};
use super::im2col::{col2im, im2col, scratch};
use super::storage::{contiguous_f32, with_f32};
use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// A 3×3 "same" convolution as ONE graph node: im2col and the GEMM happen inside it. Built
/// from candle ops instead, the column matrix (9× the layer input) would be a node of the
/// autograd graph, and candle's backprop allocates a zero-filled gradient for every node and
/// adds into it single-threaded (measured with `genderlens bench-train`: training steps
/// 2–10 % faster this way).
struct Conv3x3 {
    /// The forward's columns, kept for the backward when one may follow (an input or the
    /// weight is a variable): computing them again there was a twentieth of a step.
    kept_columns: Option<Mutex<Option<Vec<f32>>>>,
}

impl CustomOp2 for Conv3x3 {
    fn name(&self) -> &'static str {
        "conv3x3"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_layout: &Layout,
        weight: &CpuStorage,
        weight_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (channels, batch, h, w) = x_layout.shape().dims4()?;
        let out_channels = weight_layout.shape().dims4()?.0;
        let columns = im2col(contiguous_f32(x, x_layout)?, channels, batch, h, w);
        let out = convolve_columns(
            &columns,
            contiguous_f32(weight, weight_layout)?,
            batch * h * w,
        );
        match &self.kept_columns {
            Some(kept) => *lock(kept) = Some(columns),
            None => scratch::give_back(columns),
        }
        Ok((
            CpuStorage::F32(out),
            Shape::from((out_channels, batch, h, w)),
        ))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (channels, batch, h, w) = x.dims4()?;
        let out_channels = weight.dim(0)?;
        let (taps, pixels) = (channels * 9, batch * h * w);
        // The first layer's input is the image batch, which needs no gradient: skipping it
        // saves the largest column-gradient product and its col2im.
        let input_needs_gradient = x.track_op();
        let kept = self
            .kept_columns
            .as_ref()
            .and_then(|kept| lock(kept).take());
        let columns = match kept {
            Some(columns) => columns,
            None => with_f32(&x.detach(), |x| im2col(x, channels, batch, h, w))?,
        };
        let (grad_x, grad_weight) = with_f32(&grad_res.detach(), |grad| {
            with_f32(&weight.detach(), |weight| {
                // grad_columnsᵀ = gradᵀ · weight: computed transposed, with the long pixel
                // dimension first (see `gemm_into`).
                let grad_x = input_needs_gradient.then(|| {
                    let mut grad_columns = scratch::take(taps * pixels); // overwritten
                    gemm_into(
                        &mut grad_columns,
                        true,
                        Matrix::transposed(grad, pixels),
                        Matrix::rows(weight, taps),
                        (pixels, taps, out_channels),
                    );
                    let grad_x = col2im(&grad_columns, channels, batch, h, w);
                    scratch::give_back(grad_columns);
                    grad_x
                });
                // grad_weight = grad · columnsᵀ sums over the pixels, which both operands
                // hold contiguously. The kernel wants its left operand and its output
                // contiguous along the same side; given either operand as it is, it gathered
                // that operand one value at a time, strided by a whole layer (a fifth of a
                // training step, perf). So the gradient is transposed first, in cache-sized
                // tiles, and the small product (out × taps) transposed back.
                let mut grad_t = scratch::take(grad.len()); // overwritten
                transpose_into(&mut grad_t, grad, out_channels, pixels);
                let mut grad_weight_t = scratch::take(out_channels * taps); // overwritten
                gemm_into(
                    &mut grad_weight_t,
                    true,
                    Matrix::transposed(&grad_t, out_channels),
                    Matrix::transposed(&columns, pixels),
                    (out_channels, taps, pixels),
                );
                scratch::give_back(grad_t);
                let mut grad_weight = vec![0f32; out_channels * taps];
                transpose_into(&mut grad_weight, &grad_weight_t, taps, out_channels);
                scratch::give_back(grad_weight_t);
                (grad_x, grad_weight)
            })
        })??;
        scratch::give_back(columns);
        let device = x.device();
        Ok((
            grad_x
                .map(|g| Tensor::from_vec(g, x.shape(), device))
                .transpose()?,
            Some(Tensor::from_vec(grad_weight, weight.shape(), device)?),
        ))
    }
}

/// 3×3 convolution, stride 1, zero padding 1, no bias, in channel-major layout.
/// `x`: (in, batch, h, w) f32; `weight`: (out, in, 3, 3) as for candle's `conv2d`;
/// result: (out, batch, h, w).
pub fn conv3x3(x: &Tensor, weight: &Tensor) -> Result<Tensor> {
    let (channels, ..) = x.dims4()?;
    let (_, weight_channels, kh, kw) = weight.dims4()?;
    if (weight_channels, kh, kw) != (channels, 3, 3) {
        candle_core::bail!(
            "conv3x3: weight {:?} does not fit {channels} input channels",
            weight.dims()
        );
    }
    let backward_may_follow = x.track_op() || weight.track_op();
    let op = Conv3x3 {
        kept_columns: backward_may_follow.then(|| Mutex::new(None)),
    };
    x.contiguous()?.apply_op2(&weight.contiguous()?, op)
}

/// The kept columns' lock; a panic elsewhere while it was held leaves nothing half-written.
fn lock(kept: &Mutex<Option<Vec<f32>>>) -> MutexGuard<'_, Option<Vec<f32>>> {
    kept.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::reference::{assert_same_relative_gradients, max_diff};
    use candle_core::{Device, Var};

    #[test]
    fn conv3x3_matches_candle_conv2d() -> Result<()> {
        let dev = Device::Cpu;
        let w = Tensor::randn(0f32, 1., (4, 5, 3, 3), &dev)?;
        // Images of one row or one column have neighbours on one axis only: the shifted
        // copies of im2col meet their edge cases there.
        for (h, wd) in [(7, 6), (1, 5), (5, 1), (2, 2), (1, 1)] {
            let x = Tensor::randn(0f32, 1., (2, 5, h, wd), &dev)?;
            let reference = x.conv2d(&w, 1, 1, 1, 1)?;
            let ours = conv3x3(&x.transpose(0, 1)?, &w)?.transpose(0, 1)?;
            let diff = max_diff(&ours, &reference);
            assert!(diff < 1e-4, "{h}×{wd}: max abs difference {diff}");
        }
        Ok(())
    }

    #[test]
    fn conv3x3_gradients_match_candle_conv2d() -> Result<()> {
        let dev = Device::Cpu;
        // A layer large enough for the GEMM's blocked, multi-threaded paths; one whose weight
        // gradient is long and thin (more pixels than 4 × taps: split along the pixels when
        // threads run it); then a tiny one (on native builds it reuses the first one's column
        // buffers, full of old values).
        for (batch, channels, out, h, w) in
            [(4, 40, 24, 16, 12), (8, 3, 5, 16, 16), (2, 3, 6, 5, 4)]
        {
            let x = Var::randn(0f32, 1., (batch, channels, h, w), &dev)?;
            let weight = Var::randn(0f32, 1., (out, channels, 3, 3), &dev)?;
            let target = Tensor::randn(0f32, 1., (batch, out, h, w), &dev)?;
            let ours = conv3x3(&x.transpose(0, 1)?, &weight)?.transpose(0, 1)?;
            let reference = x.conv2d(&weight, 1, 1, 1, 1)?;
            let diff = max_diff(&ours, &reference);
            assert!(diff < 1e-3, "{channels}→{out}: output differs by {diff}");
            let vars = [x.as_tensor(), weight.as_tensor()];
            let what = format!("{channels}→{out}");
            assert_same_relative_gradients(ours, reference, &target, &vars, 1e-4, &what)?;
        }
        Ok(())
    }

    #[test]
    fn an_input_that_needs_no_gradient_gets_none_and_the_weight_gradient_is_unchanged() -> Result<()>
    {
        let dev = Device::Cpu;
        // Like the image batch entering the first layer: a plain tensor, not a variable.
        let x = Tensor::randn(0f32, 1., (2, 5, 8, 6), &dev)?;
        let weight = Var::randn(0f32, 1., (7, 5, 3, 3), &dev)?;
        let target = Tensor::randn(0f32, 1., (2, 7, 8, 6), &dev)?;
        let input = x.transpose(0, 1)?.contiguous()?;
        let ours = (conv3x3(&input, &weight)?.transpose(0, 1)? * &target)?
            .sum_all()?
            .backward()?;
        let reference = (x.conv2d(&weight, 1, 1, 1, 1)? * &target)?
            .sum_all()?
            .backward()?;
        assert!(
            ours.get(&input).is_none(),
            "a gradient was computed for the input"
        );
        let diff = max_diff(ours.get(&weight).unwrap(), reference.get(&weight).unwrap());
        assert!(diff < 1e-3, "weight gradient differs by {diff}");
        Ok(())
    }
}
