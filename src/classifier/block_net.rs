//! The efficient network being measured as the classifier's successor (trainer side,
//! candle): a 3×3 stem, then stages of inverted-residual blocks ([`super::blocks`]), a 1×1
//! widening, global average pooling and one linear layer to two logits. Its family —
//! widths, depths, expansions, input size — is one value, [`BlockNetShape`], so that each
//! member's cost is known before it trains.

use super::blocks::{pointwise, BlockShape, ChannelNorm, InvertedResidual, Then};
use super::inference::CLASSES;
use super::model::ConvBnRelu;
use candle_core::{Module, Result, Tensor, D};
use candle_nn::{linear, Init, Linear, VarBuilder};

/// One stage: its blocks' output channels, how many blocks, their expansion; every stage
/// but the first halves the size in its first block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stage {
    pub channels: usize,
    pub blocks: usize,
    pub expansion: usize,
}

/// A member of the family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockNetShape {
    /// The input's side in px.
    pub input: usize,
    /// The stem's channels (3×3, then batch norm, ReLU and a 2×2 max-pool).
    pub stem: usize,
    pub stages: Vec<Stage>,
    /// Channels of the 1×1 widening before the pooling.
    pub widened: usize,
}

impl Default for BlockNetShape {
    /// 9.36 M multiply-adds a 64-px face (the network it would replace: 34.5 M).
    fn default() -> Self {
        let stage = |channels, blocks, expansion| Stage {
            channels,
            blocks,
            expansion,
        };
        Self {
            input: 64,
            stem: 16,
            stages: vec![
                stage(16, 1, 1),
                stage(24, 2, 4),
                stage(40, 2, 4),
                stage(80, 2, 4),
            ],
            widened: 160,
        }
    }
}

impl BlockNetShape {
    /// Every block's shape, in the order they run.
    pub fn blocks(&self) -> Vec<BlockShape> {
        let mut shapes = Vec::new();
        let mut in_channels = self.stem;
        for (s, stage) in self.stages.iter().enumerate() {
            for b in 0..stage.blocks {
                shapes.push(BlockShape {
                    in_channels,
                    out_channels: stage.channels,
                    expansion: stage.expansion,
                    halves: s > 0 && b == 0,
                });
                in_channels = stage.channels;
            }
        }
        shapes
    }

    /// Multiply-adds a face: the stem, every block, the widening and the head.
    pub fn multiply_adds(&self) -> usize {
        let mut side = self.input;
        let mut total = side * side * 27 * self.stem;
        side /= 2;
        for block in self.blocks() {
            total += block.multiply_adds(side);
            if block.halves {
                side /= 2;
            }
        }
        let last = self.stages.last().map_or(self.stem, |s| s.channels);
        total + side * side * last * self.widened + self.widened * CLASSES.len()
    }
}

/// The network. Input: (batch, 3, side, side) normalised as [`super::preprocess`] does;
/// output: (batch, 2) logits in [`CLASSES`] order.
pub struct BlockNet {
    shape: BlockNetShape,
    /// 3×3, batch norm, ReLU, 2×2 max-pool: the other network's stage, fused.
    stem: ConvBnRelu,
    blocks: Vec<InvertedResidual>,
    /// (widened, last stage's channels).
    widen: Tensor,
    widen_norm: ChannelNorm,
    head: Linear,
    dropout: f32,
}

impl BlockNet {
    pub fn new(shape: BlockNetShape, vb: VarBuilder) -> Result<Self> {
        if shape.stages.is_empty() || !shape.input.is_multiple_of(1 << shape.stages.len()) {
            candle_core::bail!(
                "a {} px input cannot be halved by {} stages and the stem",
                shape.input,
                shape.stages.len()
            );
        }
        let he = |fan_in: usize| Init::Randn {
            mean: 0.,
            stdev: (2. / fan_in as f64).sqrt(),
        };
        let last = shape.stages.last().map_or(shape.stem, |s| s.channels);
        let blocks = shape
            .blocks()
            .into_iter()
            .enumerate()
            .map(|(i, b)| InvertedResidual::new(b, vb.pp(format!("block{i}"))))
            .collect::<Result<_>>()?;
        Ok(Self {
            stem: ConvBnRelu::new(3, shape.stem, vb.pp("stem"))?,
            blocks,
            widen: vb.get_with_hints((shape.widened, last), "widen.weight", he(last))?,
            widen_norm: ChannelNorm::new(shape.widened, Then::Relu6, vb.pp("widen.bn"))?,
            head: linear(shape.widened, CLASSES.len(), vb.pp("head"))?,
            dropout: 0.2,
            shape,
        })
    }

    pub fn shape(&self) -> &BlockNetShape {
        &self.shape
    }

    /// Logits; `train` switches batch norm to batch statistics and enables dropout.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        // Channel-major (c, batch, h, w) inside, as the other network: each 1×1 convolution
        // is one matrix product.
        let x = x.transpose(0, 1)?.contiguous()?;
        let mut y = self.stem.forward_t(&x, train)?;
        for block in &self.blocks {
            y = block.forward_t(&y, train)?;
        }
        let widened = self
            .widen_norm
            .forward_t(&pointwise(&y, &self.widen)?, train)?;
        let (_, batch, h, w) = widened.dims4()?;
        let pooled = widened
            .reshape((self.shape.widened, batch, h * w))?
            .mean(D::Minus1)?
            .t()?;
        let pooled = if train {
            candle_nn::ops::dropout(&pooled, self.dropout)?
        } else {
            pooled
        };
        self.head.forward(&pooled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::{loss, AdamW, Optimizer, ParamsAdamW, VarMap};

    #[test]
    fn the_default_member_costs_under_12_million_multiply_adds_a_face() {
        let shape = BlockNetShape::default();
        let total = shape.multiply_adds();
        println!("{total} multiply-adds a face");
        assert!((9_000_000..12_000_000).contains(&total), "{total}");
        // The stem and the first block at full size, by hand.
        assert_eq!(
            shape.blocks()[0],
            BlockShape {
                in_channels: 16,
                out_channels: 16,
                expansion: 1,
                halves: false
            }
        );
        assert_eq!(shape.blocks().len(), 7);
    }

    #[test]
    fn it_learns_a_batch_and_gives_one_pair_of_logits_a_face() -> Result<()> {
        let dev = Device::Cpu;
        let map = VarMap::new();
        let net = BlockNet::new(
            BlockNetShape::default(),
            VarBuilder::from_varmap(&map, DType::F32, &dev),
        )?;
        // Two classes a network can tell apart: faces brighter on the left or on the right.
        let (batch, side) = (16, 64);
        let labels: Vec<u32> = (0..batch as u32).map(|i| i % 2).collect();
        let ramp = Tensor::arange(0f32, side as f32, &dev)?.affine(2. / side as f64, -1.)?;
        let images: Vec<Tensor> = labels
            .iter()
            .map(|&l| {
                let row = if l == 0 { ramp.clone() } else { ramp.neg()? };
                row.reshape((1, 1, side))?
                    .broadcast_as((3, side, side))?
                    .contiguous()
            })
            .collect::<Result<_>>()?;
        let x =
            (Tensor::stack(&images, 0)? + Tensor::randn(0f32, 0.3, (batch, 3, side, side), &dev)?)?;
        let y = Tensor::new(labels.as_slice(), &dev)?;
        let mut adam = AdamW::new(
            map.all_vars(),
            ParamsAdamW {
                lr: 3e-3,
                weight_decay: 0.,
                ..Default::default()
            },
        )?;
        let first = loss::cross_entropy(&net.forward_t(&x, true)?, &y)?.to_scalar::<f32>()?;
        for _ in 0..30 {
            adam.backward_step(&loss::cross_entropy(&net.forward_t(&x, true)?, &y)?)?;
        }
        let last = loss::cross_entropy(&net.forward_t(&x, true)?, &y)?.to_scalar::<f32>()?;
        assert!(last < first * 0.5, "loss {first} → {last}");
        assert_eq!(net.forward_t(&x, false)?.dims(), [batch, 2]);
        Ok(())
    }

    #[test]
    fn an_input_the_stages_cannot_halve_is_an_error() {
        let map = VarMap::new();
        let shape = BlockNetShape {
            input: 60,
            ..BlockNetShape::default()
        };
        assert!(BlockNet::new(
            shape,
            VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu)
        )
        .is_err());
    }
}
