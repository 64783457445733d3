//! Reading the weights files (the classifier's and the detector's): a safetensors file's
//! layout checked before it is loaded, so a truncated or damaged file is reported by the
//! tensor it breaks, not as a bare parse failure; then its tensors as floats of the shape a
//! network needs, or as integer convolutions when they are stored in 8 bits.

use crate::ops::int_conv::IntegerConv;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use std::collections::HashMap;

/// Suffix of the per-channel scale tensor stored beside an 8-bit weight (see
/// `quantize`: `w ≈ (q − ZERO_POINT) · scale[o]`).
pub(crate) const SCALE_SUFFIX: &str = ".scale";
/// `q` of a zero weight; `q − ZERO_POINT` spans −127..=127.
pub(crate) const ZERO_POINT: f32 = 128.0;

/// Appends one output channel's 8-bit weights to `weight` as floats. A call per channel:
/// see "Tier-up" in docs/design.md.
#[cfg_attr(target_arch = "wasm32", inline(never))]
pub(crate) fn expand_channel(levels: &[u8], scale: f32, weight: &mut Vec<f32>) {
    weight.extend(levels.iter().map(|&q| (f32::from(q) - ZERO_POINT) * scale));
}

#[derive(serde::Deserialize)]
struct TensorInfo {
    data_offsets: [u64; 2],
}

/// `Err` explains the first problem: a file too short for its header, a header that is not
/// JSON, or the first tensor whose data lies past the end of the file.
pub fn check_layout(bytes: &[u8]) -> Result<(), String> {
    let file_len = bytes.len() as u64;
    let Some(header_len) = bytes.get(..8) else {
        return Err(format!(
            "the file is {file_len} bytes, too short for a safetensors header"
        ));
    };
    let header_len = u64::from_le_bytes(header_len.try_into().expect("8 bytes"));
    let data_start = 8u64.saturating_add(header_len);
    if data_start > file_len {
        return Err(format!(
            "the header claims {header_len} bytes but the file has only {file_len}: truncated \
             or not a safetensors file"
        ));
    }
    let header: HashMap<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..data_start as usize])
            .map_err(|e| format!("the safetensors header is not valid JSON: {e}"))?;
    let mut tensors: Vec<(String, TensorInfo)> = header
        .into_iter()
        .filter(|(name, _)| name != "__metadata__")
        .map(|(name, info)| {
            serde_json::from_value(info)
                .map(|info| (name.clone(), info))
                .map_err(|e| format!("tensor `{name}` has a malformed entry: {e}"))
        })
        .collect::<Result<_, _>>()?;
    tensors.sort_by_key(|(_, info)| info.data_offsets[0]);
    for (name, info) in tensors {
        let [start, end] = info.data_offsets;
        if start > end || data_start.saturating_add(end) > file_len {
            return Err(format!(
                "tensor `{name}` needs bytes {start}..{end} of the data but the file has only \
                 {} bytes of data: truncated",
                file_len - data_start
            ));
        }
    }
    Ok(())
}

pub(crate) fn tensor<'a>(file: &'a SafeTensors, name: &str) -> Result<TensorView<'a>, String> {
    file.tensor(name)
        .map_err(|_| format!("the weights lack `{name}`"))
}

/// A stored f16 or f32 tensor as f32 values.
pub(crate) fn floats(view: &TensorView, name: &str) -> Result<Vec<f32>, String> {
    let data = view.data();
    match view.dtype() {
        Dtype::F32 => Ok(data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()),
        Dtype::F16 => Ok(data
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect()),
        other => Err(format!("`{name}` is {other:?}, expected f16 or f32")),
    }
}

/// The first value of the optional scalar tensor `name` (settings stored beside the weights:
/// temperatures, crop scale); `None` when the file has none.
pub(crate) fn optional_scalar(file: &SafeTensors, name: &str) -> Result<Option<f32>, String> {
    let Ok(view) = file.tensor(name) else {
        return Ok(None);
    };
    let value = floats(&view, name)?
        .first()
        .copied()
        .ok_or_else(|| format!("`{name}` is empty"))?;
    Ok(Some(value))
}

/// The f32 values of tensor `name`, which must have exactly `shape`; an 8-bit tensor is
/// expanded with the per-channel scales stored beside it (`crate::quantize`).
pub(crate) fn floats_of_shape(
    file: &SafeTensors,
    name: &str,
    shape: &[usize],
) -> Result<Vec<f32>, String> {
    let view = tensor(file, name)?;
    if view.shape() != shape {
        return Err(shape_mismatch(name, view.shape(), shape));
    }
    if view.dtype() != Dtype::U8 {
        return floats(&view, name);
    }
    let scales = scales_of(file, name, shape[0])?;
    let levels = view.data();
    let mut weight = Vec::with_capacity(levels.len());
    for (channel, scale) in levels.chunks_exact(levels.len() / shape[0]).zip(scales) {
        expand_channel(channel, scale, &mut weight);
    }
    Ok(weight)
}

/// The per-channel scales of the 8-bit tensor `name` with `channels` output channels.
fn scales_of(file: &SafeTensors, name: &str, channels: usize) -> Result<Vec<f32>, String> {
    let scale_name = format!("{name}{SCALE_SUFFIX}");
    if file.tensor(&scale_name).is_err() {
        return Err(format!(
            "tensor `{name}` is 8-bit but `{scale_name}` is missing"
        ));
    }
    floats_of_shape(file, &scale_name, &[channels])
}

fn shape_mismatch(name: &str, stored: &[usize], needed: &[usize]) -> String {
    format!("tensor `{name}`: shape mismatch, stored {stored:?}, the network needs {needed:?}")
}

/// The weight `name` of a `side`×`side` convolution as an integer convolution when it is
/// stored in 8 bits, `None` when it is stored as floats. Its shape must be (out,
/// `in_channels`, 3, 3), or for a 1×1 convolution the matrix (out, `in_channels`).
pub(crate) fn integer_convolution(
    file: &SafeTensors,
    name: &str,
    in_channels: usize,
    side: usize,
) -> Result<Option<IntegerConv>, String> {
    let view = tensor(file, name)?;
    let shape = view.shape();
    let kernel: &[usize] = if side == 1 { &[] } else { &[side, side] };
    if shape.len() != 2 + kernel.len()
        || shape[1] != in_channels
        || shape[2..] != *kernel
        || shape[0] == 0
    {
        let needed: Vec<String> = ["out".to_string(), in_channels.to_string()]
            .into_iter()
            .chain(kernel.iter().map(usize::to_string))
            .collect();
        return Err(format!(
            "tensor `{name}`: shape mismatch, stored {shape:?}, the network needs [{}]",
            needed.join(", ")
        ));
    }
    if view.dtype() != Dtype::U8 {
        return Ok(None);
    }
    let scales = scales_of(file, name, shape[0])?;
    let levels: Vec<i8> = view
        .data()
        .iter()
        .map(|&v| (i16::from(v) - ZERO_POINT as i16) as i8)
        .collect();
    IntegerConv::new(&levels, scales, in_channels, side)
        .map(Some)
        .map_err(|e| format!("`{name}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_bit_tensors_are_expanded_with_their_channel_scales() {
        let levels = [128u8, 129, 255, 128, 1, 130];
        let scales: Vec<u8> = [0.5f32, 2.0].iter().flat_map(|s| s.to_le_bytes()).collect();
        let q = TensorView::new(Dtype::U8, vec![2, 3], &levels).unwrap();
        let scale = TensorView::new(Dtype::F32, vec![2], &scales).unwrap();
        let bytes = safetensors::serialize([("w", q.clone()), ("w.scale", scale)], None).unwrap();
        let file = SafeTensors::deserialize(&bytes).unwrap();
        assert_eq!(
            floats_of_shape(&file, "w", &[2, 3]).unwrap(),
            [0.0, 0.5, 63.5, 0.0, -254.0, 4.0]
        );
        let bytes = safetensors::serialize([("w", q)], None).unwrap();
        let file = SafeTensors::deserialize(&bytes).unwrap();
        assert_eq!(
            floats_of_shape(&file, "w", &[2, 3]).unwrap_err(),
            "tensor `w` is 8-bit but `w.scale` is missing"
        );
    }
}
