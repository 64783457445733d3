//! The age as a second training target (`train --age-weight`): faces whose file names give
//! their age also teach the network's age head ([`genderlens::classifier::model::AGE_HEAD`]) which band
//! they are in, so the shared features learn what age looks like; faces without an age (the
//! Kaggle crops) teach only the sex. The head is dropped when the model is stored.

use candle_core::{Device, Result, Tensor};

/// The first age of each band. Narrow bands in childhood, where faces change fastest, and a
/// boundary at 16, where the age-aware calibration splits children from adults.
pub const AGE_BAND_STARTS: [u32; 11] = [0, 3, 7, 11, 16, 20, 30, 40, 50, 60, 70];

pub fn band_of(age: u32) -> u32 {
    AGE_BAND_STARTS
        .iter()
        .rposition(|&start| age >= start)
        .unwrap_or(0) as u32
}

/// The age targets of one batch.
pub struct AgeTargets {
    /// Each row's band (0 where its age is unknown).
    bands: Tensor,
    /// 1 where the row's age is known, else 0: shape (rows, 1).
    known: Tensor,
    /// Rows whose age is known.
    pub rows: usize,
}

impl AgeTargets {
    /// The targets of the pool faces `indices`, from each pool face's age.
    pub fn of_batch(ages: &[Option<u32>], indices: &[usize], device: &Device) -> Result<Self> {
        let rows: Vec<Option<u32>> = indices.iter().map(|&i| ages[i]).collect();
        let n = rows.len();
        let bands = rows.iter().map(|a| a.map_or(0, band_of)).collect();
        let known = rows
            .iter()
            .map(|a| f32::from(u8::from(a.is_some())))
            .collect();
        Ok(Self {
            bands: Tensor::from_vec(bands, n, device)?,
            known: Tensor::from_vec(known, (n, 1), device)?,
            rows: rows.iter().flatten().count(),
        })
    }

    /// Mean cross-entropy of the age-band logits over the rows whose age is known (0 when
    /// none is, so a batch of crops alone adds nothing).
    pub fn cross_entropy(&self, logits: &Tensor) -> Result<Tensor> {
        let log_probs = candle_nn::ops::log_softmax(logits, 1)?;
        let one_hot = candle_nn::encoding::one_hot(self.bands.clone(), logits.dim(1)?, 1f32, 0f32)?;
        let picked = one_hot.broadcast_mul(&self.known)?;
        (picked * log_probs)?.sum_all()?.neg()? / self.rows.max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_fall_in_their_bands() {
        let bands: Vec<u32> = [0, 2, 3, 10, 15, 16, 19, 20, 59, 60, 70, 116]
            .map(band_of)
            .to_vec();
        assert_eq!(bands, [0, 0, 1, 2, 3, 4, 4, 5, 8, 9, 10, 10]);
    }

    #[test]
    fn only_faces_with_an_age_count_towards_the_loss() -> Result<()> {
        let device = Device::Cpu;
        let ages = [Some(5), None, Some(64), None];
        let targets = AgeTargets::of_batch(&ages, &[0, 1, 2, 3], &device)?;
        assert_eq!(targets.rows, 2);
        let bands = AGE_BAND_STARTS.len();
        // Rows 0 and 2 put all their weight on their own band, rows 1 and 3 on a wrong one.
        let mut logits = vec![0f32; 4 * bands];
        for (row, band) in [(0, band_of(5)), (1, 7), (2, band_of(64)), (3, 7)] {
            logits[row * bands + band as usize] = 30.0;
        }
        let logits = Tensor::from_vec(logits.clone(), (4, bands), &device)?;
        let loss = targets.cross_entropy(&logits)?.to_scalar::<f32>()?;
        assert!(loss < 1e-6, "{loss}");
        // The same logits against ages that are all known: rows 1 and 3 now cost ~30 each.
        let all = AgeTargets::of_batch(
            &[Some(5), Some(25), Some(64), Some(25)],
            &[0, 1, 2, 3],
            &device,
        )?;
        let loss = all.cross_entropy(&logits)?.to_scalar::<f32>()?;
        assert!((loss - 15.0).abs() < 0.01, "{loss}");
        // No age known: nothing to learn, no NaN.
        let none = AgeTargets::of_batch(&[None, None], &[0, 1], &device)?;
        let zero = none.cross_entropy(&Tensor::zeros(
            (2, bands),
            candle_core::DType::F32,
            &device,
        )?)?;
        assert_eq!(zero.to_scalar::<f32>()?, 0.0);
        Ok(())
    }
}
