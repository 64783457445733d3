//! Face crop → network input. The only place that decides input size and normalisation.

use crate::model::INPUT_SIZE;
use candle_core::{Device, Result, Tensor};
use image::{imageops, RgbImage};

/// Resizes a face crop to the network's square input (aspect is not kept: training crops
/// and detector crops are squashed the same way).
pub fn resize_to_input(face: &RgbImage) -> RgbImage {
    let size = INPUT_SIZE as u32;
    if face.dimensions() == (size, size) {
        return face.clone();
    }
    imageops::resize(face, size, size, imageops::FilterType::Triangle)
}

/// Maps 8-bit channel values to the network's range [-1, 1].
#[inline]
pub fn normalise(value: u8) -> f32 {
    value as f32 / 127.5 - 1.0
}

/// Stacks INPUT_SIZE×INPUT_SIZE RGB faces into a (n, 3, INPUT_SIZE, INPUT_SIZE) tensor.
pub fn faces_to_tensor(faces: &[RgbImage], device: &Device) -> Result<Tensor> {
    let plane = INPUT_SIZE * INPUT_SIZE;
    let mut data = vec![0f32; faces.len() * 3 * plane];
    for (face, out) in faces.iter().zip(data.chunks_exact_mut(3 * plane)) {
        if face.dimensions() != (INPUT_SIZE as u32, INPUT_SIZE as u32) {
            candle_core::bail!("face is {:?}, expected {INPUT_SIZE}×{INPUT_SIZE}", face.dimensions());
        }
        for (i, pixel) in face.pixels().enumerate() {
            for c in 0..3 {
                out[c * plane + i] = normalise(pixel[c]);
            }
        }
    }
    Tensor::from_vec(data, (faces.len(), 3, INPUT_SIZE, INPUT_SIZE), device)
}
