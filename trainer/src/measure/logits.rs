//! The network on cached face crops, in batches: raw logits, or metrics and loss.

use crate::data::folders::FaceCache;
use crate::measure::metrics::Metrics;
use anyhow::Result;
use candle_core::{Device, Tensor};
use genderlens::model::GenderNet;
use genderlens::preprocess::faces_to_tensor;

const BATCH: usize = 256;

/// Raw logits of the faces at `indices` in `cache`, in that order.
pub fn cache_logits(
    net: &GenderNet,
    cache: &FaceCache,
    indices: impl IntoIterator<Item = usize>,
    device: &Device,
) -> Result<Vec<[f32; 2]>> {
    let indices: Vec<usize> = indices.into_iter().collect();
    let mut logits = Vec::with_capacity(indices.len());
    for chunk in indices.chunks(BATCH) {
        let faces: Vec<_> = chunk.iter().map(|&i| cache.face(i)).collect();
        logits.extend(net.logits(&faces_to_tensor(&faces, device)?)?);
    }
    Ok(logits)
}

/// Metrics and mean (unsmoothed) cross-entropy of `net` on every face in `cache`.
pub fn metrics_and_loss(
    net: &GenderNet,
    cache: &FaceCache,
    device: &Device,
) -> Result<(Metrics, f64)> {
    let mut predicted = Vec::with_capacity(cache.len());
    let mut loss_sum = 0f64;
    let indices: Vec<usize> = (0..cache.len()).collect();
    for chunk in indices.chunks(BATCH) {
        let faces: Vec<_> = chunk.iter().map(|&i| cache.face(i)).collect();
        let logits = net.forward_t(&faces_to_tensor(&faces, device)?, false)?;
        let labels: Vec<u32> = chunk.iter().map(|&i| cache.labels[i]).collect();
        let targets = Tensor::from_vec(labels, chunk.len(), device)?;
        loss_sum += candle_nn::loss::cross_entropy(&logits, &targets)?.to_scalar::<f32>()? as f64
            * chunk.len() as f64;
        predicted.extend(logits.argmax(1)?.to_vec1::<u32>()?);
    }
    Ok((
        Metrics::from_predictions(&cache.labels, &predicted),
        loss_sum / cache.len().max(1) as f64,
    ))
}
