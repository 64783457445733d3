//! Inverted-residual blocks (MobileNetV2's) as the trainer builds them: a 1×1 expansion, a
//! 3×3 depthwise convolution and a 1×1 projection, each batch-normalised, ReLU6 after the
//! first two, the input added back when the block keeps its shape. Channel-major tensors
//! (c, batch, h, w), as the rest of the network: each 1×1 convolution is one matrix product.
//! A block that halves the size max-pools after its depthwise convolution (the depthwise
//! kernel has stride 1).

use super::model::follow_batch;
use crate::ops::dwconv::depthwise3x3;
use crate::ops::fused::inverse_std;
use crate::ops::norm::{channel_stats, BatchNormClamp, NormStatistics};
use crate::ops::pool::max_pool2x2;
use candle_core::{Result, Tensor};
use candle_nn::{Init, VarBuilder};

/// What a [`ChannelNorm`]'s output goes through.
#[derive(Clone, Copy, Debug)]
pub(super) enum Then {
    Relu6,
    Nothing,
}

/// Batch norm over the channels of a channel-major tensor, with ReLU6 or nothing after it:
/// one graph node ([`BatchNormClamp`]).
pub(super) struct ChannelNorm {
    gamma: Tensor,
    beta: Tensor,
    running_mean: Tensor,
    running_var: Tensor,
    then: Then,
}

impl ChannelNorm {
    pub(super) fn new(channels: usize, then: Then, vb: VarBuilder) -> Result<Self> {
        let get = |name: &str, value: f64| vb.get_with_hints(channels, name, Init::Const(value));
        Ok(Self {
            gamma: get("weight", 1.)?,
            beta: get("bias", 0.)?,
            running_mean: get("running_mean", 0.)?,
            running_var: get("running_var", 1.)?,
            then,
        })
    }

    /// `train`: normalised by the batch's statistics, which the running ones then follow.
    pub(super) fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let x = x.contiguous()?;
        let inverse = |var: &[f32]| var.iter().map(|&v| inverse_std(v)).collect();
        let statistics = if train {
            let (mean, var) = channel_stats(&x)?;
            let count = x.elem_count() / x.dim(0)?;
            follow_batch([&self.running_mean, &self.running_var], &mean, &var, count)?;
            NormStatistics {
                inv_std: inverse(&var),
                mean,
                batch_statistics: true,
            }
        } else {
            NormStatistics {
                mean: self.running_mean.to_vec1()?,
                inv_std: inverse(&self.running_var.to_vec1()?),
                batch_statistics: false,
            }
        };
        let op = match self.then {
            Then::Relu6 => BatchNormClamp::relu6(statistics),
            Then::Nothing => BatchNormClamp::linear(statistics),
        };
        x.apply_op3(&self.gamma, &self.beta, op)
    }
}

/// A 1×1 convolution of channel-major `x` (in, batch, h, w) by `weight` (out, in).
pub(super) fn pointwise(x: &Tensor, weight: &Tensor) -> Result<Tensor> {
    let (channels, batch, h, w) = x.dims4()?;
    weight
        .matmul(&x.reshape((channels, batch * h * w))?)?
        .reshape((weight.dim(0)?, batch, h, w))
}

/// What a block does: its channels in and out, how many times wider its middle is, and
/// whether it halves the height and width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockShape {
    pub in_channels: usize,
    pub out_channels: usize,
    pub expansion: usize,
    pub halves: bool,
}

impl BlockShape {
    fn hidden(&self) -> usize {
        self.in_channels * self.expansion
    }

    /// Multiply-adds a face at `side` × `side` px in.
    pub fn multiply_adds(&self, side: usize) -> usize {
        let (pixels, hidden) = (side * side, self.hidden());
        let out_pixels = if self.halves { pixels / 4 } else { pixels };
        let expand = if self.expansion > 1 {
            self.in_channels * hidden * pixels
        } else {
            0
        };
        expand + 9 * hidden * pixels + hidden * self.out_channels * out_pixels
    }
}

/// One inverted-residual block.
pub struct InvertedResidual {
    shape: BlockShape,
    /// None when the block does not widen (expansion 1).
    expand: Option<(Tensor, ChannelNorm)>,
    /// (hidden, 1, 3, 3).
    depthwise: Tensor,
    depthwise_norm: ChannelNorm,
    /// (out, hidden).
    project: Tensor,
    project_norm: ChannelNorm,
}

impl InvertedResidual {
    pub fn new(shape: BlockShape, vb: VarBuilder) -> Result<Self> {
        let hidden = shape.hidden();
        // He initialisation, by each convolution's fan-in.
        let init = |fan_in: usize| Init::Randn {
            mean: 0.,
            stdev: (2. / fan_in as f64).sqrt(),
        };
        let expand = if shape.expansion > 1 {
            let weight = vb.get_with_hints(
                (hidden, shape.in_channels),
                "expand.weight",
                init(shape.in_channels),
            )?;
            Some((
                weight,
                ChannelNorm::new(hidden, Then::Relu6, vb.pp("expand.bn"))?,
            ))
        } else {
            None
        };
        Ok(Self {
            shape,
            expand,
            depthwise: vb.get_with_hints((hidden, 1, 3, 3), "depthwise.weight", init(9))?,
            depthwise_norm: ChannelNorm::new(hidden, Then::Relu6, vb.pp("depthwise.bn"))?,
            project: vb.get_with_hints(
                (shape.out_channels, hidden),
                "project.weight",
                init(hidden),
            )?,
            project_norm: ChannelNorm::new(shape.out_channels, Then::Nothing, vb.pp("project.bn"))?,
        })
    }

    pub fn shape(&self) -> BlockShape {
        self.shape
    }

    /// `x`: (in, batch, h, w) → (out, batch, h, w), or h/2 × w/2 when the block halves.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mut y = x.clone();
        if let Some((weight, norm)) = &self.expand {
            y = norm.forward_t(&pointwise(&y, weight)?, train)?;
        }
        y = self
            .depthwise_norm
            .forward_t(&depthwise3x3(&y, &self.depthwise)?, train)?;
        if self.shape.halves {
            y = max_pool2x2(&y)?;
        }
        y = self
            .project_norm
            .forward_t(&pointwise(&y, &self.project)?, train)?;
        if !self.shape.halves && self.shape.in_channels == self.shape.out_channels {
            y = (y + x)?;
        }
        Ok(y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::reference::{assert_same_relative_gradients, max_diff};
    use candle_core::{DType, Device, Var, D};
    use candle_nn::VarMap;

    /// The block in candle's own layout and operations: (batch, c, h, w), 1×1 and grouped
    /// 3×3 `conv2d`, batch statistics over batch and pixels; only the pool is ours.
    fn reference(block: &InvertedResidual, x: &Tensor) -> Result<Tensor> {
        let norm = |y: &Tensor, n: &ChannelNorm| -> Result<Tensor> {
            let c = y.dim(1)?;
            let column = |t: &Tensor| t.reshape((1, c, 1, 1));
            let mean = y.mean_keepdim(0)?.mean_keepdim(2)?.mean_keepdim(3)?;
            let centred = y.broadcast_sub(&mean)?;
            let var = centred
                .sqr()?
                .mean_keepdim(0)?
                .mean_keepdim(2)?
                .mean_keepdim(3)?;
            centred
                .broadcast_div(&(var + 1e-5)?.sqrt()?)?
                .broadcast_mul(&column(&n.gamma)?)?
                .broadcast_add(&column(&n.beta)?)
        };
        let one_by_one = |y: &Tensor, w: &Tensor| {
            y.conv2d(&w.unsqueeze(D::Minus1)?.unsqueeze(D::Minus1)?, 0, 1, 1, 1)
        };
        let mut y = x.clone();
        if let Some((w, n)) = &block.expand {
            y = norm(&one_by_one(&y, w)?, n)?.clamp(0f32, 6f32)?;
        }
        let hidden = block.depthwise.dim(0)?;
        y = norm(
            &y.conv2d(&block.depthwise, 1, 1, 1, hidden)?,
            &block.depthwise_norm,
        )?
        .clamp(0f32, 6f32)?;
        if block.shape.halves {
            // Our pool (its own test holds it to candle's): where a window's values tie —
            // common here, where a depthwise kernel over zeros gives its bias at every
            // pixel — it routes the gradient to one of them, candle's `max` to each.
            y = max_pool2x2(&y.transpose(0, 1)?)?.transpose(0, 1)?;
        }
        y = norm(&one_by_one(&y, &block.project)?, &block.project_norm)?;
        if !block.shape.halves && block.shape.in_channels == block.shape.out_channels {
            y = (y + x)?;
        }
        Ok(y)
    }

    #[test]
    fn blocks_and_their_gradients_match_candle_reference() -> Result<()> {
        let dev = Device::Cpu;
        for (shape, (batch, h, w)) in [
            (
                BlockShape {
                    in_channels: 8,
                    out_channels: 8,
                    expansion: 4,
                    halves: false,
                },
                (3, 6, 5),
            ),
            (
                BlockShape {
                    in_channels: 6,
                    out_channels: 10,
                    expansion: 3,
                    halves: true,
                },
                (2, 8, 6),
            ),
            (
                BlockShape {
                    in_channels: 5,
                    out_channels: 5,
                    expansion: 1,
                    halves: false,
                },
                (4, 4, 4),
            ),
        ] {
            let map = VarMap::new();
            let block =
                InvertedResidual::new(shape, VarBuilder::from_varmap(&map, DType::F32, &dev))?;
            // Scales and shifts of a trained network rather than 1 and 0: a shift of 0 puts
            // the normalised value of every pixel a depthwise kernel sees only zeros at
            // (after the expansion's ReLU6, many) on ReLU6's kink, where the two sides'
            // rounding may fall either way.
            for (name, var) in map.data().lock().unwrap().iter() {
                let n = var.elem_count();
                if name.ends_with("bn.weight") {
                    var.set(&Tensor::randn(1f32, 0.2, n, &dev)?)?;
                } else if name.ends_with("bn.bias") {
                    var.set(&Tensor::randn(0.5f32, 0.2, n, &dev)?.abs()?)?;
                }
            }
            let x = Var::randn(0f32, 1., (batch, shape.in_channels, h, w), &dev)?;
            let ours = block
                .forward_t(&x.transpose(0, 1)?.contiguous()?, true)?
                .transpose(0, 1)?;
            let theirs = reference(&block, &x)?;
            let diff = max_diff(&ours, &theirs);
            assert!(diff < 1e-4, "{shape:?}: output differs by {diff}");
            let target = Tensor::randn(0f32, 1., theirs.shape(), &dev)?;
            // Every weight (by name, so that a failure names it) and the input.
            let data = map.data().lock().unwrap();
            let mut named: Vec<(&String, &Var)> = data
                .iter()
                .filter(|(name, _)| !name.contains("running"))
                .collect();
            named.sort_by_key(|(name, _)| name.as_str());
            let mut wanted: Vec<&Tensor> = named.iter().map(|(_, v)| v.as_tensor()).collect();
            wanted.push(x.as_tensor());
            let names: Vec<&str> = named.iter().map(|(n, _)| n.as_str()).collect();
            let what = format!("{shape:?}, weights {names:?} then the input");
            assert_same_relative_gradients(ours, theirs, &target, &wanted, 1e-4, &what)?;
        }
        Ok(())
    }

    #[test]
    fn the_running_statistics_follow_the_batches_and_serve_inference() -> Result<()> {
        let dev = Device::Cpu;
        let shape = BlockShape {
            in_channels: 4,
            out_channels: 4,
            expansion: 2,
            halves: false,
        };
        let map = VarMap::new();
        let block = InvertedResidual::new(shape, VarBuilder::from_varmap(&map, DType::F32, &dev))?;
        let x = (Tensor::randn(0f32, 1., (4, 8, 5, 5), &dev)? * 3.)?;
        let trained = block.forward_t(&x, true)?;
        for _ in 0..200 {
            block.forward_t(&x, true)?;
        }
        // After many steps on one batch, inference normalises as that batch did (to within
        // the unbiased variance's factor, 200/199).
        let inferred = block.forward_t(&x, false)?;
        let diff = max_diff(&trained, &inferred);
        assert!(diff < 0.05, "inference differs from training by {diff}");
        Ok(())
    }

    #[test]
    fn multiply_adds_count_each_convolution() {
        let shape = BlockShape {
            in_channels: 16,
            out_channels: 24,
            expansion: 4,
            halves: true,
        };
        // 16→64 at 32², depthwise on 64 at 32², 64→24 at 16².
        assert_eq!(
            shape.multiply_adds(32),
            16 * 64 * 1024 + 9 * 64 * 1024 + 64 * 24 * 256
        );
    }
}
