//! `genderlens bench-train`: training throughput (images/s of a full step: forward, loss,
//! backward, AdamW update) on random data, for our network, the efficient candidate that
//! may succeed it, and for the original Keras
//! architecture (100×100 input, conv 16-32-64-128-256 each followed by 2×2 max-pooling,
//! dense 128, 2 outputs) built once on our kernels and once on candle's own conv2d and
//! max-pool, so the gain of `src/ops.rs` is measured, not claimed.

use crate::training::adam::AdamW;
use crate::training::step::trainable;
use anyhow::Result;
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{linear, Linear, VarBuilder, VarMap};
use genderlens::classifier::block_net::{BlockNet, BlockNetShape};
use genderlens::ops::conv::conv3x3;
use genderlens::ops::pool::max_pool2x2;
use serde::Serialize;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct BenchTrainArgs {
    /// Timed steps per network (after one warm-up step).
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Timed steps of the original network on candle's own conv2d (about 1 s each).
    #[arg(long, default_value_t = 3)]
    pub candle_steps: usize,
}

#[derive(Serialize)]
struct Throughput {
    network: &'static str,
    input: usize,
    batch: usize,
    images_per_second: f64,
    ms_per_step: f64,
}

/// Which convolution and pooling implementation the original network uses.
#[derive(Clone, Copy)]
enum Kernels {
    Ours,
    Candle,
}

/// The original Keras network. With our kernels activations are channel-major
/// (channels, batch, h, w), as in [`genderlens::classifier::model`]; candle's conv2d wants
/// (batch, channels, h, w).
struct OriginalNet {
    convs: Vec<(Tensor, Tensor)>,
    hidden: Linear,
    out: Linear,
    kernels: Kernels,
}

const ORIGINAL_INPUT: usize = 100;
const ORIGINAL_CHANNELS: [usize; 5] = [16, 32, 64, 128, 256];

impl OriginalNet {
    fn new(vb: VarBuilder, kernels: Kernels) -> Result<Self> {
        let mut convs = vec![];
        let (mut channels, mut side) = (3, ORIGINAL_INPUT);
        for (i, &out) in ORIGINAL_CHANNELS.iter().enumerate() {
            let stdev = (2.0 / (channels * 9) as f64).sqrt();
            let init = candle_nn::Init::Randn { mean: 0., stdev };
            let weight = vb.get_with_hints((out, channels, 3, 3), &format!("conv{i}.w"), init)?;
            let bias = vb.get_with_hints(out, &format!("conv{i}.b"), candle_nn::Init::Const(0.))?;
            convs.push((weight, bias));
            (channels, side) = (out, side / 2);
        }
        Ok(Self {
            convs,
            hidden: linear(channels * side * side, 128, vb.pp("hidden"))?,
            out: linear(128, 2, vb.pp("out"))?,
            kernels,
        })
    }

    fn forward(&self, images: &Tensor) -> Result<Tensor> {
        let mut x = match self.kernels {
            Kernels::Ours => images.transpose(0, 1)?.contiguous()?,
            Kernels::Candle => images.clone(),
        };
        for (weight, bias) in &self.convs {
            x = match self.kernels {
                Kernels::Ours => {
                    let y = conv3x3(&x, weight)?.broadcast_add(&bias.reshape(((), 1, 1, 1))?)?;
                    max_pool2x2(&y.relu()?)?
                }
                Kernels::Candle => {
                    let y = x.conv2d(weight, 1, 1, 1, 1)?.broadcast_add(&bias.reshape((
                        1,
                        (),
                        1,
                        1,
                    ))?)?;
                    y.relu()?.max_pool2d(2)?
                }
            };
        }
        if let Kernels::Ours = self.kernels {
            x = x.transpose(0, 1)?.contiguous()?;
        }
        let flat = x.flatten_from(1)?;
        Ok(self.out.forward(&self.hidden.forward(&flat)?.relu()?)?)
    }
}

/// Times `steps` training steps after one warm-up.
fn measure(
    network: &'static str,
    input: usize,
    batch: usize,
    steps: usize,
    forward: impl Fn(&Tensor) -> Result<Tensor>,
    varmap: &VarMap,
) -> Result<Throughput> {
    let device = Device::Cpu;
    let images = Tensor::randn(0f32, 1f32, (batch, 3, input, input), &device)?;
    let labels = Tensor::from_vec(
        (0..batch as u32).map(|i| i % 2).collect::<Vec<_>>(),
        batch,
        &device,
    )?;
    let mut optimizer = AdamW::new(trainable(varmap), 5e-4)?;
    let mut step = || -> Result<()> {
        let loss = candle_nn::loss::cross_entropy(&forward(&images)?, &labels)?;
        optimizer.step(&loss.backward()?)?;
        Ok(())
    };
    step()?;
    let start = Instant::now();
    for _ in 0..steps {
        step()?;
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(Throughput {
        network,
        input,
        batch,
        images_per_second: (steps * batch) as f64 / seconds,
        ms_per_step: 1e3 * seconds / steps as f64,
    })
}

pub fn run(args: BenchTrainArgs) -> Result<()> {
    let steps = args.steps.max(1);
    let mut results = vec![];

    let varmap = VarMap::new();
    let net = genderlens::classifier::model::GenderNet::new(VarBuilder::from_varmap(
        &varmap,
        DType::F32,
        &Device::Cpu,
    ))?;
    let input = genderlens::classifier::model::INPUT_SIZE;
    results.push(measure(
        "genderlens (ours, our kernels)",
        input,
        64,
        steps,
        |x| Ok(net.forward_t(x, true)?),
        &varmap,
    )?);

    // The efficient network being measured as its successor (src/classifier/block_net.rs).
    let varmap = VarMap::new();
    let shape = BlockNetShape::default();
    let input = shape.input;
    let candidate = BlockNet::new(
        shape,
        VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
    )?;
    results.push(measure(
        "block net (candidate, our kernels)",
        input,
        64,
        steps,
        |x| Ok(candidate.forward_t(x, true)?),
        &varmap,
    )?);

    for (name, kernels, steps) in [
        ("original 100 px, our kernels", Kernels::Ours, steps),
        (
            "original 100 px, candle conv2d",
            Kernels::Candle,
            args.candle_steps.max(1),
        ),
    ] {
        let varmap = VarMap::new();
        let net = OriginalNet::new(
            VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
            kernels,
        )?;
        results.push(measure(
            name,
            ORIGINAL_INPUT,
            32,
            steps,
            |x| net.forward(x),
            &varmap,
        )?);
    }

    println!(
        "training throughput on {} threads (forward + backward + AdamW, random data):",
        rayon::current_num_threads()
    );
    for r in &results {
        println!(
            "  {:<34} {:>3} px, batch {:>2}: {:>7.1} images/s ({:.0} ms/step)",
            r.network, r.input, r.batch, r.images_per_second, r.ms_per_step
        );
    }
    println!("{}", serde_json::to_string(&results)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_original_network_computes_the_same_on_both_kernel_sets() {
        let varmap = VarMap::new();
        let build = |kernels| {
            OriginalNet::new(
                VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
                kernels,
            )
            .unwrap()
        };
        // The second build finds the first one's variables: both share every weight.
        let (ours, candle) = (build(Kernels::Ours), build(Kernels::Candle));
        let images = Tensor::randn(
            0f32,
            1f32,
            (3, 3, ORIGINAL_INPUT, ORIGINAL_INPUT),
            &Device::Cpu,
        )
        .unwrap();
        let a = ours.forward(&images).unwrap();
        let b = candle.forward(&images).unwrap();
        assert_eq!(a.dims(), [3, 2]);
        let difference = (a - &b).unwrap().abs().unwrap().max_all().unwrap();
        let scale = b
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let difference = difference.to_scalar::<f32>().unwrap();
        assert!(
            scale > 0.0 && difference <= 1e-4 * scale.max(1.0),
            "{difference} vs {scale}"
        );
    }
}
