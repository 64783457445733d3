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
            candle_core::bail!(
                "face is {:?}, expected {INPUT_SIZE}×{INPUT_SIZE}",
                face.dimensions()
            );
        }
        for (i, pixel) in face.pixels().enumerate() {
            for c in 0..3 {
                out[c * plane + i] = normalise(pixel[c]);
            }
        }
    }
    Tensor::from_vec(data, (faces.len(), 3, INPUT_SIZE, INPUT_SIZE), device)
}

/// Shrinks `image` so that its longer side is at most `max_side`; returns the image used
/// and the factor from its coordinates back to the original's.
pub fn fit_within(image: &RgbImage, max_side: u32) -> (std::borrow::Cow<'_, RgbImage>, f32) {
    let (w, h) = image.dimensions();
    let longer = w.max(h);
    if longer <= max_side {
        return (std::borrow::Cow::Borrowed(image), 1.0);
    }
    let scale = max_side as f32 / longer as f32;
    let (nw, nh) = (
        ((w as f32 * scale).round() as u32).max(1),
        ((h as f32 * scale).round() as u32).max(1),
    );
    let small = imageops::resize(image, nw, nh, imageops::FilterType::Triangle);
    (
        std::borrow::Cow::Owned(small),
        longer as f32 / max_side as f32,
    )
}
