//! 8-bit storage for the large convolution weights, so the model costs half the download
//! of f16. Per output channel and symmetric: `w ≈ (q − 128) · scale[o]`, `q` a `u8` in
//! 1..=255, the scales stored beside the weight as `<name>.scale` (f32). Small tensors (the
//! first layer, which sees raw pixels, batch norm, the head) are left as they are.
//!
//! Rounding moves a weight by at most half its channel's step (1/254 of the channel's
//! largest magnitude). Measured on the previous model (f16 first): Kaggle validation 97.36 % →
//! 97.37 %; utk-dev end to end one of 992 faces changed label (`models/README.md`).

use crate::weights::{expand_channel, SCALE_SUFFIX, ZERO_POINT};
use candle_core::{DType, Result, Tensor, D};
use std::collections::HashMap;

/// Convolution weights with at least this many elements are stored in 8 bits.
pub(crate) const MIN_ELEMENTS: usize = 4096;
const LEVELS: f64 = 127.0;

fn is_quantized(tensor: &Tensor) -> bool {
    tensor.rank() == 4 && tensor.elem_count() >= MIN_ELEMENTS
}

/// The weights with every large 4-D tensor replaced by its 8-bit form and scale; the other
/// tensors are returned unchanged.
pub fn quantize(tensors: &HashMap<String, Tensor>) -> Result<HashMap<String, Tensor>> {
    quantize_where(tensors, |_, tensor| is_quantized(tensor))
}

/// The weights with every tensor `pick` chooses replaced by its 8-bit form and scale
/// ([`per_channel`]); the other tensors are returned unchanged.
pub fn quantize_where(
    tensors: &HashMap<String, Tensor>,
    pick: impl Fn(&str, &Tensor) -> bool,
) -> Result<HashMap<String, Tensor>> {
    let mut out = HashMap::with_capacity(tensors.len());
    for (name, tensor) in tensors {
        if !pick(name, tensor) {
            out.insert(name.clone(), tensor.clone());
            continue;
        }
        let (q, scale) = per_channel(tensor)?;
        out.insert(name.clone(), q);
        out.insert(format!("{name}{SCALE_SUFFIX}"), scale);
    }
    Ok(out)
}

/// One tensor's 8-bit form (same shape, `u8`) and its scales, one per index of the first
/// dimension (the output channel).
fn per_channel(tensor: &Tensor) -> Result<(Tensor, Tensor)> {
    let channels = tensor.to_dtype(DType::F32)?.flatten_from(1)?;
    // A channel of zeros gets scale 1: its weights still round to exactly 0.
    let largest = channels.abs()?.max_keepdim(D::Minus1)?;
    let scale = (largest
        .ne(0f32)?
        .where_cond(&largest, &largest.ones_like()?)?
        / LEVELS)?;
    let q = (channels
        .broadcast_div(&scale)?
        .round()?
        .clamp(-LEVELS, LEVELS)?
        + f64::from(ZERO_POINT))?
    .to_dtype(DType::U8)?
    .reshape(tensor.shape())?;
    Ok((q, scale.flatten_all()?))
}

/// All weights as f32: 8-bit tensors are expanded with their scales (which are consumed);
/// f16/f32 tensors are converted. An 8-bit tensor without a fitting scale is an error.
pub fn dequantize(mut tensors: HashMap<String, Tensor>) -> Result<HashMap<String, Tensor>> {
    let eight_bit: Vec<String> = tensors
        .iter()
        .filter(|(_, t)| t.dtype() == DType::U8)
        .map(|(name, _)| name.clone())
        .collect();
    let mut out = HashMap::with_capacity(tensors.len());
    for name in eight_bit {
        let q = tensors.remove(&name).expect("listed above");
        let Some(scale) = tensors.remove(&format!("{name}{SCALE_SUFFIX}")) else {
            candle_core::bail!("tensor `{name}` is 8-bit but `{name}{SCALE_SUFFIX}` is missing");
        };
        let (levels, scales) = levels_and_scales(&name, &q, &scale)?;
        // A plain loop: candle's elementwise ops took 1.4 ms natively for these 200 k
        // weights, and far longer in the browser, on the model's start-up path. A call per
        // channel: see "Tier-up" in docs/design.md.
        let per_channel = levels.len() / scales.len();
        let mut weight = Vec::with_capacity(levels.len());
        for (channel, &scale) in levels.chunks_exact(per_channel).zip(&scales) {
            expand_channel(channel, scale, &mut weight);
        }
        out.insert(name, Tensor::from_vec(weight, q.shape(), q.device())?);
    }
    for (name, tensor) in tensors {
        out.insert(name, tensor.to_dtype(DType::F32)?);
    }
    Ok(out)
}

/// An 8-bit tensor's stored values (`q`, zero point 128) and its per-channel scales,
/// checked to fit each other.
fn levels_and_scales(name: &str, q: &Tensor, scale: &Tensor) -> Result<(Vec<u8>, Vec<f32>)> {
    let channels = q.dim(0)?;
    if channels == 0 {
        candle_core::bail!("tensor `{name}` has no channels");
    }
    if scale.elem_count() != channels {
        candle_core::bail!(
            "`{name}{SCALE_SUFFIX}` has {} values for {channels} channels",
            scale.elem_count()
        );
    }
    let scales = scale
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    Ok((q.flatten_all()?.to_vec1::<u8>()?, scales))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn weights() -> Result<HashMap<String, Tensor>> {
        let device = Device::Cpu;
        // Channels of very different magnitudes, and one of zeros.
        let channel_scale = Tensor::new(&[1f32, 0.01, 0.0, 3.0], &device)?.reshape((4, 1, 1, 1))?;
        let big =
            Tensor::randn(0f32, 1.0, (4, 128, 3, 3), &device)?.broadcast_mul(&channel_scale)?;
        Ok(HashMap::from([
            ("big.weight".to_string(), big),
            (
                "small.weight".to_string(),
                Tensor::randn(0f32, 1.0, (4, 3, 3, 3), &device)?,
            ),
            ("bn.bias".to_string(), Tensor::randn(0f32, 1.0, 4, &device)?),
        ]))
    }

    #[test]
    fn round_trip_error_is_at_most_half_a_step_per_channel() -> Result<()> {
        let original = weights()?;
        let stored = quantize(&original)?;
        assert_eq!(stored["big.weight"].dtype(), DType::U8);
        assert_eq!(stored["big.weight.scale"].dims(), &[4]);
        assert_eq!(
            stored["small.weight"].dtype(),
            DType::F32,
            "small tensors stay as they are"
        );
        assert!(!stored.contains_key("small.weight.scale"));

        let restored = dequantize(stored)?;
        assert_eq!(restored.len(), original.len());
        let (a, b) = (&original["big.weight"], &restored["big.weight"]);
        let step = (a.abs()?.flatten_from(1)?.max(1)? / LEVELS)?.to_vec1::<f32>()?;
        let error = (a - b)?.abs()?.flatten_from(1)?.max(1)?.to_vec1::<f32>()?;
        for (channel, (e, s)) in error.iter().zip(&step).enumerate() {
            assert!(
                *e <= s / 2.0 + 1e-6,
                "channel {channel}: error {e} > half step {s}"
            );
        }
        assert_eq!(error[2], 0.0, "a zero channel stays exactly zero");
        let same = (&original["small.weight"] - &restored["small.weight"])?
            .abs()?
            .max_all()?;
        assert_eq!(same.to_scalar::<f32>()?, 0.0);
        Ok(())
    }

    #[test]
    fn an_eight_bit_tensor_without_its_scale_is_an_error() -> Result<()> {
        let mut stored = quantize(&weights()?)?;
        stored.remove("big.weight.scale");
        let error = dequantize(stored).unwrap_err().to_string();
        assert!(error.contains("big.weight.scale"), "{error}");

        let mut stored = quantize(&weights()?)?;
        stored.insert(
            "big.weight.scale".into(),
            Tensor::ones(3, DType::F32, &Device::Cpu)?,
        );
        let error = dequantize(stored.clone()).unwrap_err().to_string();
        assert!(error.contains("3 values for 4 channels"), "{error}");

        let empty = HashMap::from([
            (
                "e".to_string(),
                Tensor::zeros((0, 2, 3, 3), DType::U8, &Device::Cpu)?,
            ),
            (
                "e.scale".to_string(),
                Tensor::zeros(0, DType::F32, &Device::Cpu)?,
            ),
        ]);
        let error = dequantize(empty).unwrap_err().to_string();
        assert!(error.contains("no channels"), "{error}");
        Ok(())
    }
}
