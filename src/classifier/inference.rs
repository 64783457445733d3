//! The classifier network's shape, and its forward pass for inference on plain slices: what
//! the CLI and the browser run (the browser build has no candle). Training runs
//! `model::GenderNet` on the same weights through the same kernels (the integer
//! convolutions, im2col and the GEMM, the fused norm-ReLU-pool); a test holds the two
//! networks' logits equal.

use super::preprocess::{normalised, INPUT_SIZE};
use crate::ops::fused::norm_relu_pool;
use crate::ops::fused::{affine, inverse_std};
use crate::ops::gemm::convolve;
use crate::ops::int_conv::IntegerConv;
use crate::weights::{floats, floats_of_shape, integer_convolution, tensor};
use image::RgbImage;
use safetensors::SafeTensors;

/// Output channels of each stage, unless a model says otherwise (`train --channels`; a stored
/// model's widths are read from its weights).
pub const STAGE_CHANNELS: [usize; 4] = [24, 48, 96, 192];
/// Class order of the logits.
pub const CLASSES: [&str; 2] = ["female", "male"];

/// The trained network, ready to run: four stages of 3×3 convolution → batch norm → ReLU →
/// 2×2 max-pool, global average pooling, one linear layer to the two logits.
pub(crate) struct InferenceNet {
    stages: Vec<Stage>,
    /// (classes, channels), row-major.
    head_weight: Vec<f32>,
    head_bias: Vec<f32>,
}

struct Stage {
    conv: Convolution,
    /// Batch norm and its affine γ, β as one `v·scale + shift` per channel (the same
    /// arithmetic as training's, `ops::fused::affine`).
    scale: Vec<f32>,
    shift: Vec<f32>,
}

enum Convolution {
    /// 8-bit stored weights, run in integers.
    Integer(IntegerConv),
    /// (out, in · 9) weights, run as im2col and one GEMM.
    Float {
        weight: Vec<f32>,
        out_channels: usize,
    },
}

impl Convolution {
    fn out_channels(&self) -> usize {
        match self {
            Convolution::Integer(conv) => conv.out_channels(),
            Convolution::Float { out_channels, .. } => *out_channels,
        }
    }

    /// `x`: (in, batch, h, w); result (out, batch, h, w).
    fn forward(&self, x: &[f32], in_channels: usize, batch: usize, h: usize, w: usize) -> Vec<f32> {
        match self {
            Convolution::Integer(conv) => conv.forward(x, batch, h, w),
            Convolution::Float { weight, .. } => convolve(x, weight, in_channels, batch, h, w),
        }
    }
}

impl InferenceNet {
    /// The network in a weights file as `genderlens train` writes it (8-bit large
    /// convolutions with their scales, the rest f16 or f32); a missing or wrong-shaped
    /// tensor is an error naming it.
    pub(crate) fn from_tensors(file: &SafeTensors) -> Result<Self, String> {
        let mut stages = Vec::with_capacity(STAGE_CHANNELS.len());
        let mut in_channels = 3;
        for i in 0..STAGE_CHANNELS.len() {
            let conv = convolution(file, &format!("stage{i}.conv.weight"), in_channels)?;
            let out = conv.out_channels();
            let vector = |name: &str| floats_of_shape(file, &format!("stage{i}.bn.{name}"), &[out]);
            let (gamma, beta) = (vector("weight")?, vector("bias")?);
            let (mean, var) = (vector("running_mean")?, vector("running_var")?);
            let (scale, shift) = (0..out)
                .map(|c| affine(gamma[c], beta[c], mean[c], inverse_std(var[c])))
                .unzip();
            stages.push(Stage { conv, scale, shift });
            in_channels = out;
        }
        Ok(Self {
            stages,
            head_weight: floats_of_shape(file, "head.weight", &[CLASSES.len(), in_channels])?,
            head_bias: floats_of_shape(file, "head.bias", &[CLASSES.len()])?,
        })
    }

    /// Raw logits `[female, male]` of network-sized faces, all in one pass; a face of
    /// another size is an error.
    pub(crate) fn logits(&self, faces: &[RgbImage]) -> Result<Vec<[f32; 2]>, String> {
        Ok(self
            .features(faces)?
            .iter()
            .map(|pooled| self.head(pooled))
            .collect())
    }

    /// What the head reads: each face's channels averaged over the last stage's map.
    pub(crate) fn features(&self, faces: &[RgbImage]) -> Result<Vec<Vec<f32>>, String> {
        let batch = faces.len();
        let (mut h, mut w, mut channels) = (INPUT_SIZE, INPUT_SIZE, 3);
        // Channel-major, (3, batch, h, w), as every layer runs.
        let mut x = normalised(faces, INPUT_SIZE, |face, channel| channel * batch + face)?;
        for stage in &self.stages {
            let y = stage.conv.forward(&x, channels, batch, h, w);
            channels = stage.scale.len();
            let (oh, ow) = (h / 2, w / 2);
            x = vec![0f32; channels * batch * oh * ow];
            // A call per channel: see "Tier-up" in docs/design.md.
            let per_channel = x
                .chunks_exact_mut(batch * oh * ow)
                .zip(y.chunks_exact(batch * h * w));
            for (c, (out, y)) in per_channel.enumerate() {
                norm_relu_pool(out, y, h, w, stage.scale[c], stage.shift[c]);
            }
            (h, w) = (oh, ow);
        }
        let plane = h * w;
        Ok((0..batch)
            .map(|b| {
                (0..channels)
                    .map(|c| {
                        x[(c * batch + b) * plane..][..plane].iter().sum::<f32>() / plane as f32
                    })
                    .collect()
            })
            .collect())
    }

    /// The logits of one face's features.
    pub(crate) fn head(&self, features: &[f32]) -> [f32; 2] {
        let channels = features.len();
        let logit = |k: usize| {
            let weights = &self.head_weight[k * channels..][..channels];
            weights
                .iter()
                .zip(features)
                .map(|(w, v)| w * v)
                .sum::<f32>()
                + self.head_bias[k]
        };
        [logit(0), logit(1)]
    }

    /// Width of the features: the last stage's channels.
    pub(crate) fn feature_width(&self) -> usize {
        self.head_weight.len() / CLASSES.len()
    }
}

/// A stage's convolution: in integers when stored in 8 bits (with its per-channel scales
/// beside it), else in f32.
fn convolution(file: &SafeTensors, name: &str, in_channels: usize) -> Result<Convolution, String> {
    if let Some(conv) = integer_convolution(file, name, in_channels, 3)? {
        return Ok(Convolution::Integer(conv));
    }
    let view = tensor(file, name)?;
    Ok(Convolution::Float {
        weight: floats(&view, name)?,
        out_channels: view.shape()[0],
    })
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::classifier::model::load_from_safetensors;
    use crate::classifier::preprocess::{faces_to_tensor, resize_to_input};
    use candle_core::Device;
    use safetensors::tensor::TensorView;

    static WEIGHTS: &[u8] = include_bytes!("../../models/genderlens.safetensors");

    /// Network-sized faces: the fixtures' portraits, and noise.
    fn faces() -> Vec<RgbImage> {
        let mut faces: Vec<RgbImage> = [
            &include_bytes!("../../tests/fixtures/faces/collins.jpg")[..],
            include_bytes!("../../tests/fixtures/faces/einstein.jpg"),
        ]
        .iter()
        .map(|bytes| resize_to_input(&image::load_from_memory(bytes).unwrap().to_rgb8()))
        .collect();
        let mut state = 7u32;
        faces.push(RgbImage::from_fn(64, 64, |_, _| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            image::Rgb([(state >> 24) as u8, (state >> 16) as u8, (state >> 8) as u8])
        }));
        faces
    }

    /// The largest difference between our logits and the trainer's network's, run one face
    /// at a time (as the classifier runs them) and all at once (the integer convolutions
    /// scale their input by the largest value of the whole pass), relative to the logit.
    fn largest_difference(weights: &[u8]) -> f32 {
        let stored = SafeTensors::deserialize(weights).unwrap();
        let ours = InferenceNet::from_tensors(&stored).unwrap();
        let device = Device::Cpu;
        let trained = load_from_safetensors(weights, &device).unwrap();
        let theirs = |faces: &[RgbImage]| {
            trained
                .logits(&faces_to_tensor(faces, &device).unwrap())
                .unwrap()
        };
        let faces = faces();
        let mut runs: Vec<_> = faces
            .chunks(1)
            .map(|f| (ours.logits(f).unwrap(), theirs(f)))
            .collect();
        runs.push((ours.logits(&faces).unwrap(), theirs(&faces)));
        let mut largest = 0f32;
        for (got, expected) in runs {
            assert_eq!(got.len(), expected.len());
            for (g, e) in got.iter().flatten().zip(expected.iter().flatten()) {
                largest = largest.max((g - e).abs() / e.abs().max(1.0));
            }
        }
        largest
    }

    #[test]
    fn gives_the_logits_of_the_network_the_trainer_runs() {
        // With every weight in floats both networks do the same arithmetic.
        let device = Device::Cpu;
        let stored = candle_core::safetensors::load_buffer(WEIGHTS, &device).unwrap();
        let float = crate::quantize::dequantize(stored).unwrap();
        let path =
            std::env::temp_dir().join(format!("genderlens-f32-{}.safetensors", std::process::id()));
        candle_core::safetensors::save(&float, &path).unwrap();
        let float_weights = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let float = largest_difference(&float_weights);
        assert!(float <= 1e-5, "{float}");
        // The stored 8-bit convolutions run in integers here, in floats in training: only
        // the rounding of their input to 16 bits differs.
        let stored = largest_difference(WEIGHTS);
        assert!(stored > float && stored <= 2e-3, "{stored}");
    }

    #[test]
    fn a_face_of_another_size_is_an_error_not_a_panic() {
        // The browser calls this.
        let stored = SafeTensors::deserialize(WEIGHTS).unwrap();
        let ours = InferenceNet::from_tensors(&stored).unwrap();
        let error = ours.logits(&[RgbImage::new(10, 10)]).unwrap_err();
        assert!(error.contains("expected 64×64"), "{error}");
    }

    #[test]
    fn a_missing_or_misshapen_tensor_is_named() {
        let stored = SafeTensors::deserialize(WEIGHTS).unwrap();
        let mut tensors: Vec<(String, TensorView)> = stored.tensors();
        let rewrite = |tensors: &[(String, TensorView)]| {
            safetensors::serialize(tensors.iter().map(|(n, v)| (n.as_str(), v.clone())), None)
                .unwrap()
        };
        let without = |name: &str| {
            let kept: Vec<_> = tensors.iter().filter(|(n, _)| n != name).cloned().collect();
            let bytes = rewrite(&kept);
            let file = SafeTensors::deserialize(&bytes).unwrap();
            InferenceNet::from_tensors(&file).err().unwrap()
        };
        assert_eq!(without("head.bias"), "the weights lack `head.bias`");
        assert_eq!(
            without("stage2.conv.weight.scale"),
            "tensor `stage2.conv.weight` is 8-bit but `stage2.conv.weight.scale` is missing"
        );
        // The head's weight in place of the first stage's convolution.
        let head = tensors
            .iter()
            .find(|(n, _)| n == "head.weight")
            .unwrap()
            .1
            .clone();
        tensors.retain(|(n, _)| n != "stage0.conv.weight");
        tensors.push(("stage0.conv.weight".into(), head));
        let bytes = rewrite(&tensors);
        let error = InferenceNet::from_tensors(&SafeTensors::deserialize(&bytes).unwrap())
            .err()
            .unwrap();
        assert!(
            error.starts_with("tensor `stage0.conv.weight`: shape mismatch, stored [2, 192]"),
            "{error}"
        );
    }
}
