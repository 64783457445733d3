//! The network on cached face crops, in batches: raw logits, or metrics and loss.

use crate::data::folders::FaceCache;
use crate::measure::metrics::Metrics;
use crate::measure::nll::mean_nll;
use anyhow::Result;
use candle_core::Device;
use genderlens::classifier::model::GenderNet;
use genderlens::classifier::preprocess::faces_to_tensor;
use genderlens::classifier::Output;
use genderlens::Classifier;
use image::RgbImage;

const BATCH: usize = 256;

/// What gives logits for network-sized faces: the network being trained (candle, on
/// `device`), or a stored model as the product runs it.
pub trait Logits {
    fn logits(&self, faces: &[RgbImage], device: &Device) -> Result<Vec<[f32; 2]>>;
}

impl Logits for GenderNet {
    fn logits(&self, faces: &[RgbImage], device: &Device) -> Result<Vec<[f32; 2]>> {
        Ok(GenderNet::logits(self, &faces_to_tensor(faces, device)?)?)
    }
}

impl Logits for Classifier {
    fn logits(&self, faces: &[RgbImage], _: &Device) -> Result<Vec<[f32; 2]>> {
        Ok(Classifier::logits(self, faces)?)
    }
}

/// Raw logits of the faces at `indices` in `cache`, in that order.
pub fn cache_logits(
    net: &impl Logits,
    cache: &FaceCache,
    indices: impl IntoIterator<Item = usize>,
    device: &Device,
) -> Result<Vec<[f32; 2]>> {
    let indices: Vec<usize> = indices.into_iter().collect();
    let mut logits = Vec::with_capacity(indices.len());
    for chunk in indices.chunks(BATCH) {
        let faces: Vec<_> = chunk.iter().map(|&i| cache.face(i)).collect();
        logits.extend(net.logits(&faces, device)?);
    }
    Ok(logits)
}

/// `logits` (those of `cache`'s faces) averaged with the logits of the faces' mirror images:
/// test-time flip, measured to see whether doubling the classifier's work pays.
fn averaged_with_mirror(
    net: &impl Logits,
    cache: &FaceCache,
    logits: Vec<[f32; 2]>,
    device: &Device,
) -> Result<Vec<[f32; 2]>> {
    let mut mirrored = FaceCache::default();
    for i in 0..cache.len() {
        mirrored.push(
            &image::imageops::flip_horizontal(&cache.face(i)),
            cache.labels[i],
        );
    }
    let flipped = cache_logits(net, &mirrored, 0..cache.len(), device)?;
    Ok(logits
        .into_iter()
        .zip(flipped)
        .map(|(a, b)| [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0])
        .collect())
}

/// A stored model's outputs (logits, and each face's temperature, which the model's age
/// probe may choose) for every face of `cache`.
pub fn cache_outputs(classifier: &Classifier, cache: &FaceCache) -> Result<Vec<Output>> {
    let mut outputs = Vec::with_capacity(cache.len());
    let indices: Vec<usize> = (0..cache.len()).collect();
    for chunk in indices.chunks(BATCH) {
        let faces: Vec<_> = chunk.iter().map(|&i| cache.face(i)).collect();
        outputs.extend(classifier.outputs(&faces)?);
    }
    Ok(outputs)
}

/// A stored model's calibrated P(male) of every face of `cache`, each at its own temperature;
/// with `flip`, from the logits averaged with the mirror image's.
pub fn cache_p_male(classifier: &Classifier, cache: &FaceCache, flip: bool) -> Result<Vec<f32>> {
    let mut outputs = cache_outputs(classifier, cache)?;
    if flip {
        let plain = outputs.iter().map(|o| o.logits).collect();
        let averaged = averaged_with_mirror(classifier, cache, plain, &Device::Cpu)?;
        for (output, logits) in outputs.iter_mut().zip(averaged) {
            output.logits = logits;
        }
    }
    Ok(outputs.iter().map(Output::p_male).collect())
}

/// Metrics and mean (unsmoothed) cross-entropy of `net` on every face in `cache`.
pub fn metrics_and_loss(
    net: &impl Logits,
    cache: &FaceCache,
    device: &Device,
) -> Result<(Metrics, f64)> {
    let logits = cache_logits(net, cache, 0..cache.len(), device)?;
    let predicted: Vec<u32> = logits.iter().map(|l| u32::from(l[1] > l[0])).collect();
    Ok((
        Metrics::from_predictions(&cache.labels, &predicted),
        mean_nll(&logits, &cache.labels, 1.0),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::DType;
    use candle_nn::{VarBuilder, VarMap};
    use genderlens::classifier::model::{INPUT_SIZE, STAGE_CHANNELS};
    use image::{Rgb, RgbImage};

    fn face(seed: u32) -> RgbImage {
        // Lopsided on purpose: a face whose mirror image the network sees differently.
        RgbImage::from_fn(INPUT_SIZE as u32, INPUT_SIZE as u32, |x, y| {
            let v = (x * 3 + y * seed + x * x / 7) % 256;
            Rgb([v as u8, (v / 2) as u8, (255 - v) as u8])
        })
    }

    #[test]
    fn a_face_and_its_mirror_image_get_the_same_flip_averaged_logits() {
        let device = Device::Cpu;
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
        let net = GenderNet::with_channels(vb, STAGE_CHANNELS).unwrap();
        let (mut faces, mut mirrored) = (FaceCache::default(), FaceCache::default());
        for seed in 1..4 {
            faces.push(&face(seed), 0);
            mirrored.push(&image::imageops::flip_horizontal(&face(seed)), 0);
        }
        let flip_averaged = |cache: &FaceCache| {
            let plain = cache_logits(&net, cache, 0..cache.len(), &device).unwrap();
            averaged_with_mirror(&net, cache, plain, &device).unwrap()
        };
        let averaged = flip_averaged(&faces);
        let of_mirrored = flip_averaged(&mirrored);
        let plain = cache_logits(&net, &faces, 0..3, &device).unwrap();
        for i in 0..3 {
            for k in 0..2 {
                assert!((averaged[i][k] - of_mirrored[i][k]).abs() < 1e-4);
            }
        }
        assert_ne!(averaged, plain, "the flip changed nothing: is it applied?");
    }
}
