//! The classifier network as the trainer builds and trains it (candle; native only). The
//! CLI and the browser run the trained weights through [`super::inference`].
//!
//! A small VGG-style CNN: four stages of 3×3 conv → batch norm → ReLU → 2×2 max-pool,
//! global average pooling and one linear layer to two logits (female, male). In training it
//! may carry a second linear layer on the same pooled features, to age bands
//! ([`AGE_HEAD`]): a second target that shapes the features, never stored with the model.

use crate::ops::conv::conv3x3;
use crate::ops::fused::inverse_std;
use crate::ops::norm::{channel_stats, BatchNormReluPool, NormStatistics};
use crate::quantize::dequantize;
use candle_core::{DType, Device, Module, Result, Tensor, D};
use candle_nn::{linear, Linear, VarBuilder};
use std::collections::HashMap;

pub use super::inference::{CLASSES, STAGE_CHANNELS};
pub use super::preprocess::INPUT_SIZE;

/// The name prefix of the age head's weights (training only).
pub const AGE_HEAD: &str = "age_head";

/// Momentum of the running statistics, as in PyTorch's default.
const BN_MOMENTUM: f64 = 0.1;

/// conv 3×3 → batch norm → ReLU → max-pool 2×2.
pub(super) struct ConvBnRelu {
    weight: Tensor,
    gamma: Tensor,
    beta: Tensor,
    running_mean: Tensor,
    running_var: Tensor,
}

impl ConvBnRelu {
    pub(super) fn new(in_channels: usize, out_channels: usize, vb: VarBuilder) -> Result<Self> {
        // He initialisation for a ReLU network.
        let stdev = (2.0 / (in_channels * 9) as f64).sqrt();
        let init = candle_nn::Init::Randn { mean: 0., stdev };
        let weight = vb.get_with_hints((out_channels, in_channels, 3, 3), "conv.weight", init)?;
        let bn = vb.pp("bn");
        Ok(Self {
            weight,
            gamma: bn.get_with_hints(out_channels, "weight", candle_nn::Init::Const(1.))?,
            beta: bn.get_with_hints(out_channels, "bias", candle_nn::Init::Const(0.))?,
            running_mean: bn.get_with_hints(
                out_channels,
                "running_mean",
                candle_nn::Init::Const(0.),
            )?,
            running_var: bn.get_with_hints(
                out_channels,
                "running_var",
                candle_nn::Init::Const(1.),
            )?,
        })
    }

    pub(super) fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let y = conv3x3(x, &self.weight)?;
        let (mean, var) = if train {
            let (mean, var) = channel_stats(&y)?;
            self.update_running_stats(&mean, &var, y.elem_count() / mean.len())?;
            (mean, var)
        } else {
            (self.running_mean.to_vec1()?, self.running_var.to_vec1()?)
        };
        let inv_std = var.iter().map(|&v| inverse_std(v)).collect();
        let op = BatchNormReluPool {
            statistics: NormStatistics {
                mean,
                inv_std,
                batch_statistics: train,
            },
        };
        y.apply_op3(&self.gamma, &self.beta, op)
    }

    fn update_running_stats(&self, mean: &[f32], var: &[f32], count: usize) -> Result<()> {
        follow_batch([&self.running_mean, &self.running_var], mean, var, count)
    }
}

/// Moves a batch norm's running mean and variance a step towards this batch's `mean` and
/// (biased, over `count` values) `var`, as PyTorch does; loaded weights (plain tensors, not
/// variables) stay as they are.
pub(super) fn follow_batch(
    [running_mean, running_var]: [&Tensor; 2],
    mean: &[f32],
    var: &[f32],
    count: usize,
) -> Result<()> {
    if !running_mean.is_variable() {
        return Ok(());
    }
    let unbiased = count as f32 / (count.max(2) - 1) as f32;
    let var: Vec<f32> = var.iter().map(|v| v * unbiased).collect();
    for (running, batch) in [(running_mean, mean), (running_var, var.as_slice())] {
        let batch = Tensor::new(batch, running.device())?;
        let updated = ((running.detach() * (1. - BN_MOMENTUM))? + (batch * BN_MOMENTUM)?)?;
        candle_core::Var::from_tensor(running)?.set(&updated)?;
    }
    Ok(())
}

/// The gender classifier. Input: (batch, 3, INPUT_SIZE, INPUT_SIZE) normalised with
/// [`super::preprocess`]; output: (batch, 2) logits in [`CLASSES`] order.
pub struct GenderNet {
    stages: Vec<ConvBnRelu>,
    dropout: f32,
    head: Linear,
    age_head: Option<Linear>,
}

impl GenderNet {
    /// The network with the default widths, [`STAGE_CHANNELS`].
    pub fn new(vb: VarBuilder) -> Result<Self> {
        Self::with_channels(vb, STAGE_CHANNELS)
    }

    /// The network with `channels` output channels in its four stages.
    pub fn with_channels(vb: VarBuilder, channels: [usize; 4]) -> Result<Self> {
        let mut stages = Vec::with_capacity(channels.len());
        let mut in_channels = 3;
        for (i, &out) in channels.iter().enumerate() {
            stages.push(ConvBnRelu::new(
                in_channels,
                out,
                vb.pp(format!("stage{i}")),
            )?);
            in_channels = out;
        }
        let head = linear(in_channels, CLASSES.len(), vb.pp("head"))?;
        Ok(Self {
            stages,
            dropout: 0.3,
            head,
            age_head: None,
        })
    }

    /// The network with a second head to `bands` age-band logits, trained beside the first.
    pub fn with_age_head(vb: VarBuilder, channels: [usize; 4], bands: usize) -> Result<Self> {
        let mut net = Self::with_channels(vb.clone(), channels)?;
        net.age_head = Some(linear(channels[3], bands, vb.pp(AGE_HEAD))?);
        Ok(net)
    }

    /// Logits; `train` switches batch norm to batch statistics and enables dropout.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.head.forward(&self.pooled(x, train)?)
    }

    /// Sex logits and, when the network has an age head, age-band logits of the same pass.
    pub fn forward_with_age(&self, x: &Tensor, train: bool) -> Result<(Tensor, Option<Tensor>)> {
        let pooled = self.pooled(x, train)?;
        let age = match &self.age_head {
            Some(head) => Some(head.forward(&pooled)?),
            None => None,
        };
        Ok((self.head.forward(&pooled)?, age))
    }

    /// Globally pooled features of the last stage (after dropout when training).
    fn pooled(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        // Layers work channel-major (c, batch, h, w) so each conv is one big GEMM.
        let mut x = x.transpose(0, 1)?.contiguous()?;
        for stage in &self.stages {
            x = stage.forward_t(&x, train)?;
        }
        let (channels, batch, h, w) = x.dims4()?;
        let pooled = x.reshape((channels, batch, h * w))?.mean(D::Minus1)?.t()?;
        if train {
            candle_nn::ops::dropout(&pooled, self.dropout)
        } else {
            Ok(pooled)
        }
    }

    /// Raw (uncalibrated) logits, one `[female, male]` pair per row of the batch; see
    /// [`super::calibration`] for the probabilities.
    pub fn logits(&self, x: &Tensor) -> Result<Vec<[f32; 2]>> {
        let rows = self.forward_t(x, false)?.to_vec2::<f32>()?;
        Ok(rows.into_iter().map(|r| [r[0], r[1]]).collect())
    }
}

/// Builds the network from safetensors bytes (8-bit, f16 or f32 on disk, see
/// [`crate::quantize`]; f32 in memory), to train further: a stored model is measured as
/// the product runs it, by [`crate::Classifier`].
pub fn load_from_safetensors(bytes: &[u8], device: &Device) -> Result<GenderNet> {
    load_from_tensors(
        candle_core::safetensors::load_buffer(bytes, device)?,
        device,
    )
}

/// [`load_from_safetensors`] for a file already read into tensors (other entries, such as
/// the calibration temperature, are ignored).
pub(crate) fn load_from_tensors(
    stored: HashMap<String, Tensor>,
    device: &Device,
) -> Result<GenderNet> {
    let tensors = dequantize(stored)?;
    let channels = stage_channels(&tensors)?;
    let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
    GenderNet::with_channels(vb, channels)
}

/// The widths of a network's four stages, read from its (dequantized) weights.
pub fn stage_channels(tensors: &HashMap<String, Tensor>) -> Result<[usize; 4]> {
    let mut channels = [0; 4];
    for (i, width) in channels.iter_mut().enumerate() {
        let name = format!("stage{i}.conv.weight");
        let Some(weight) = tensors.get(&name) else {
            candle_core::bail!("the weights lack `{name}`");
        };
        *width = weight.dims().first().copied().unwrap_or(0);
    }
    Ok(channels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_nn::VarMap;

    #[test]
    fn a_network_of_other_widths_is_stored_and_loaded_as_such() -> Result<()> {
        let device = Device::Cpu;
        let varmap = VarMap::new();
        let wide = [8, 16, 40, 72];
        let net =
            GenderNet::with_channels(VarBuilder::from_varmap(&varmap, DType::F32, &device), wide)?;
        let tensors: HashMap<String, Tensor> = varmap
            .data()
            .lock()
            .expect("varmap lock")
            .iter()
            .map(|(name, var)| (name.clone(), var.as_tensor().clone()))
            .collect();
        assert_eq!(stage_channels(&tensors)?, wide);
        let loaded = load_from_tensors(tensors.clone(), &device)?;
        let faces = Tensor::randn(0f32, 0.5, (2, 3, INPUT_SIZE, INPUT_SIZE), &device)?;
        assert_eq!(loaded.logits(&faces)?, net.logits(&faces)?);
        let mut missing = tensors;
        missing.remove("stage2.conv.weight");
        assert!(stage_channels(&missing).is_err());
        Ok(())
    }

    #[test]
    fn the_age_head_reads_the_same_features_and_is_stored_apart() -> Result<()> {
        let device = Device::Cpu;
        let varmap = VarMap::new();
        let channels = [8, 8, 16, 16];
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
        let net = GenderNet::with_age_head(vb, channels, 5)?;
        let faces = Tensor::randn(0f32, 0.5, (3, 3, INPUT_SIZE, INPUT_SIZE), &device)?;
        let (sex, age) = net.forward_with_age(&faces, false)?;
        assert_eq!(age.expect("an age head").dims(), [3, 5]);
        assert_eq!(
            sex.to_vec2::<f32>()?,
            net.forward_t(&faces, false)?.to_vec2::<f32>()?
        );
        let names: Vec<String> = varmap
            .data()
            .lock()
            .expect("lock")
            .keys()
            .cloned()
            .collect();
        assert!(names.iter().any(|n| n.starts_with(AGE_HEAD)));
        // Without the head the sex logits are the same network's: a stored model loads alone.
        let plain = GenderNet::with_channels(
            VarBuilder::from_varmap(&varmap, DType::F32, &device),
            channels,
        )?;
        assert!(plain.forward_with_age(&faces, false)?.1.is_none());
        assert_eq!(plain.logits(&faces)?, net.logits(&faces)?);
        Ok(())
    }
}
