//! One fine-tuning run of `adapt`: a trained model, batches mixing the target photos' faces
//! with its training crops, a short cosine schedule.

use super::args::AdaptArgs;
use crate::data::augment::Augmentation;
use crate::data::batch::make_batch;
use crate::data::folders::FaceCache;
use crate::model_file::compact_weights;
use crate::training::adam::AdamW;
use crate::training::interrupt::interrupted;
use crate::training::schedule::learning_rate;
use crate::training::step::{snapshot, train_step, trainable, BatchTotals};
use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use genderlens::classifier::model::{stage_channels, GenderNet, INPUT_SIZE};
use indicatif::{ProgressBar, ProgressStyle};
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::collections::HashMap;
use std::time::Instant;

/// Fine-tunes `base` for `args.steps` steps on batches mixing `target` indices of `pool`
/// (share `args.target_share`) with its first `source_len` images.
pub fn fine_tune(
    args: &AdaptArgs,
    base: &HashMap<String, Tensor>,
    pool: &FaceCache,
    source_len: usize,
    target: &[usize],
    label: &str,
) -> Result<Option<HashMap<String, Tensor>>> {
    let device = Device::Cpu;
    let varmap = VarMap::new();
    let net = GenderNet::with_channels(
        VarBuilder::from_varmap(&varmap, DType::F32, &device),
        stage_channels(base)?,
    )?;
    for (name, var) in varmap.data().lock().expect("varmap lock").iter() {
        let weights = base
            .get(name)
            .with_context(|| format!("the model lacks `{name}`"))?;
        var.set(&weights.to_dtype(DType::F32)?)?;
    }
    let mut optimizer = AdamW::new(trainable(&varmap), args.weight_decay)?;
    let augmentation = Augmentation::default();
    let mut rng = StdRng::seed_from_u64(args.seed ^ 0xADA9);
    let from_target =
        ((args.batch_size as f64 * args.target_share).round() as usize).min(args.batch_size);
    let bar = ProgressBar::new(args.steps as u64).with_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ETA {eta}")
            .expect("template")
            .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    let started = Instant::now();
    let mut totals = BatchTotals::default();
    for step in 0..args.steps {
        if interrupted() {
            bar.abandon_with_message("interrupted");
            return Ok(None);
        }
        let indices: Vec<usize> = (0..args.batch_size)
            .map(|k| {
                if k < from_target {
                    target[rng.random_range(0..target.len())]
                } else {
                    rng.random_range(0..source_len)
                }
            })
            .collect();
        let (inputs, targets) = make_batch(
            pool,
            &indices,
            &augmentation,
            args.seed,
            step,
            INPUT_SIZE,
            &device,
        )?;
        optimizer.lr = learning_rate(args.lr, step, args.steps / 20, args.steps);
        train_step(
            &net,
            &mut optimizer,
            &inputs,
            &targets,
            args.label_smoothing,
            None,
            &mut totals,
        )?;
        bar.set_message(totals.message(started.elapsed().as_secs_f64()));
        bar.inc(1);
    }
    bar.finish_and_clear();
    println!(
        "{label}: {} steps in {:.0} s, train loss {:.4}",
        args.steps,
        started.elapsed().as_secs_f64(),
        totals.mean_loss()
    );
    Ok(Some(snapshot(&varmap)?))
}

/// The network with its weights rounded the way `export` stores them (8-bit and f16),
/// run in f32: within 0.01 of the integer path's logits.
pub fn net_from(weights: &HashMap<String, Tensor>) -> Result<GenderNet> {
    let stored = genderlens::quantize::dequantize(compact_weights(weights)?)?;
    let channels = stage_channels(&stored)?;
    Ok(GenderNet::with_channels(
        VarBuilder::from_tensors(stored, DType::F32, &Device::Cpu),
        channels,
    )?)
}

/// The weights with the offset added to the male logit's bias: the stored model applies it
/// without any change to the inference code.
pub fn with_decision_offset(
    mut weights: HashMap<String, Tensor>,
    offset: f32,
) -> Result<HashMap<String, Tensor>> {
    let bias = weights
        .get("head.bias")
        .context("the model lacks `head.bias`")?;
    let moved = (bias + Tensor::new(&[0.0, offset], bias.device())?.to_dtype(bias.dtype())?)?;
    weights.insert("head.bias".to_string(), moved);
    Ok(weights)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decision_offset_moves_only_the_male_logit() {
        let weights = HashMap::from([
            (
                "head.bias".to_string(),
                Tensor::new(&[0.25f32, -0.5], &Device::Cpu).unwrap(),
            ),
            (
                "head.weight".to_string(),
                Tensor::ones((2, 3), DType::F32, &Device::Cpu).unwrap(),
            ),
        ]);
        let moved = with_decision_offset(weights, -0.75).unwrap();
        let bias: Vec<f32> = moved["head.bias"].to_vec1().unwrap();
        assert_eq!(bias, [0.25, -1.25]);
        let weight: Vec<Vec<f32>> = moved["head.weight"].to_vec2().unwrap();
        assert_eq!(weight, [[1.0; 3], [1.0; 3]]);
        assert!(with_decision_offset(HashMap::new(), 1.0).is_err());
    }
}
