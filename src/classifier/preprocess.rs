//! Face crop → network input. The only place that decides input size and normalisation.

#[cfg(not(target_arch = "wasm32"))]
use candle_core::{Device, Result, Tensor};
use image::{imageops, RgbImage};

/// The network's input height and width in pixels (RGB). Face crops are resized to this.
pub const INPUT_SIZE: usize = 64;

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
fn normalise(value: u8) -> f32 {
    value as f32 / 127.5 - 1.0
}

/// Stacks INPUT_SIZE×INPUT_SIZE RGB faces into a (n, 3, INPUT_SIZE, INPUT_SIZE) tensor.
#[cfg(not(target_arch = "wasm32"))]
pub fn faces_to_tensor(faces: &[RgbImage], device: &Device) -> Result<Tensor> {
    square_faces_to_tensor(faces, INPUT_SIZE, device)
}

/// Stacks side×side RGB faces into a (n, 3, side, side) tensor. Inference always uses
/// [`faces_to_tensor`]; training may run early epochs on smaller faces (the network ends in
/// global average pooling, so it accepts any side that survives its four poolings).
#[cfg(not(target_arch = "wasm32"))]
pub fn square_faces_to_tensor(faces: &[RgbImage], side: usize, device: &Device) -> Result<Tensor> {
    let data = normalised(faces, side, |face, channel| face * 3 + channel)
        .map_err(candle_core::Error::Msg)?;
    Tensor::from_vec(data, (faces.len(), 3, side, side), device)
}

/// The faces' normalised values, one side×side plane per face and channel, the plane of
/// (face, channel) at position `plane(face, channel)`: (n, 3, h, w) for the training
/// tensor, (3, n, h, w) for the layers of the inference network. A face of another size is
/// an error.
pub(crate) fn normalised(
    faces: &[RgbImage],
    side: usize,
    plane: impl Fn(usize, usize) -> usize,
) -> std::result::Result<Vec<f32>, String> {
    let size = side * side;
    let mut data = vec![0f32; faces.len() * 3 * size];
    for (b, face) in faces.iter().enumerate() {
        if face.dimensions() != (side as u32, side as u32) {
            return Err(format!(
                "face is {:?}, expected {side}×{side}",
                face.dimensions()
            ));
        }
        let planes: [usize; 3] = std::array::from_fn(|c| plane(b, c) * size);
        for (i, pixel) in face.pixels().enumerate() {
            for c in 0..3 {
                data[planes[c] + i] = normalise(pixel[c]);
            }
        }
    }
    Ok(data)
}
