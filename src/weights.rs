//! Checks a safetensors file's layout before loading it, so a truncated or damaged weights
//! file is reported by the tensor it breaks, not as a bare parse failure.

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
