//! 2×2 max-pooling with an exact backward pass.

use super::chunks::zip_chunks;
use super::storage::{contiguous_f32, with_f32};
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};

/// 2×2 max-pooling with stride 2 (odd trailing rows/columns are dropped, as in candle).
struct MaxPool2x2;

impl CustomOp1 for MaxPool2x2 {
    fn name(&self) -> &'static str {
        "maxpool2x2"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (batch, channels, h, w) = layout.shape().dims4()?;
        let src = contiguous_f32(storage, layout)?;
        let (oh, ow) = (h / 2, w / 2);
        let mut out = vec![0f32; batch * channels * oh * ow];
        zip_chunks(&mut out, oh * ow, src, h * w, |out, plane, _| {
            for y in 0..oh {
                let top = &plane[2 * y * w..];
                let bottom = &plane[(2 * y + 1) * w..];
                for x in 0..ow {
                    out[y * ow + x] = top[2 * x]
                        .max(top[2 * x + 1])
                        .max(bottom[2 * x])
                        .max(bottom[2 * x + 1]);
                }
            }
        });
        Ok((CpuStorage::F32(out), Shape::from((batch, channels, oh, ow))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let (_, _, h, w) = arg.dims4()?;
        let (oh, ow) = (h / 2, w / 2);
        let mut dst = vec![0f32; arg.elem_count()];
        with_f32(arg, |input| {
            with_f32(grad_res, |grads| {
                zip_chunks(&mut dst, h * w, input, h * w, |out, plane, p| {
                    let grads = &grads[p * oh * ow..(p + 1) * oh * ow];
                    for y in 0..oh {
                        for x in 0..ow {
                            // The gradient goes to the first maximum of the window, like PyTorch.
                            let window = [
                                2 * y * w + 2 * x,
                                2 * y * w + 2 * x + 1,
                                (2 * y + 1) * w + 2 * x,
                                (2 * y + 1) * w + 2 * x + 1,
                            ];
                            let at =
                                window
                                    .into_iter()
                                    .reduce(|a, b| if plane[b] > plane[a] { b } else { a });
                            out[at.unwrap_or(0)] += grads[y * ow + x];
                        }
                    }
                })
            })
        })??;
        Ok(Some(Tensor::from_vec(dst, arg.shape(), arg.device())?))
    }
}

/// 2×2 max-pooling, stride 2, with a fast exact backward pass.
pub fn max_pool2x2(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(MaxPool2x2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::reference::max_diff;
    use candle_core::{Device, Var};

    #[test]
    fn max_pool_and_gradient_match_reference() -> Result<()> {
        let dev = Device::Cpu;
        let x = Var::randn(0f32, 1., (2, 3, 6, 4), &dev)?;
        let target = Tensor::randn(0f32, 1., (2, 3, 3, 2), &dev)?;
        let ours = max_pool2x2(&x)?;
        // Reference with exact gradients: max over each 2×2 window via reshape. (candle's
        // own max_pool2d backward scales the gradient by 1/4.)
        let reference = x.reshape((2, 3, 3, 2, 2, 2))?.max(5)?.max(3)?;
        assert!(max_diff(&ours, &x.max_pool2d(2)?) == 0.0);
        assert!(max_diff(&ours, &reference) == 0.0);
        let g_ours = (ours * &target)?.sum_all()?.backward()?;
        let g_ref = (reference * &target)?.sum_all()?.backward()?;
        let diff = max_diff(g_ours.get(&x).unwrap(), g_ref.get(&x).unwrap());
        assert!(diff < 1e-6, "gradient differs by {diff}");
        Ok(())
    }
}
