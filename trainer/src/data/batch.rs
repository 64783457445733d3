//! A training batch: augmented faces of a cache as one input tensor, with their labels.

use crate::data::augment::Augmentation;
use crate::data::folders::FaceCache;
use anyhow::Result;
use candle_core::{Device, Tensor};
use genderlens::classifier::model::INPUT_SIZE;
use genderlens::classifier::preprocess::square_faces_to_tensor;
use genderlens::resize::triangle_resize;
use rand::{rngs::StdRng, SeedableRng};
use rayon::prelude::*;

pub fn make_batch(
    cache: &FaceCache,
    indices: &[usize],
    augmentation: &Augmentation,
    seed: u64,
    epoch: usize,
    side: usize,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let faces: Vec<_> = indices
        .par_iter()
        .map(|&i| {
            // One RNG per (epoch, image): batches are reproducible, also after --resume.
            let mut rng = StdRng::seed_from_u64(
                seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ ((epoch as u64) << 40) ^ i as u64,
            );
            let face = augmentation.apply(&cache.face(i), &mut rng);
            if side == INPUT_SIZE {
                face
            } else {
                triangle_resize(&face, side as u32, side as u32)
            }
        })
        .collect();
    let labels: Vec<u32> = indices.iter().map(|&i| cache.labels[i]).collect();
    let n = labels.len();
    Ok((
        square_faces_to_tensor(&faces, side, device)?,
        Tensor::from_vec(labels, n, device)?,
    ))
}
