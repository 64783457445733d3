//! The expected calibration error, and how much of it a perfectly calibrated model would show
//! on the same faces by chance: a bin of a few dozen faces strays from its confidence by
//! several points, so a small validation split cannot measure a small error.

use crate::measure::metrics::class_of;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// Equal-width confidence bins for the expected calibration error (the usual choice).
pub const ECE_BINS: usize = 15;

/// Label sets drawn for [`ece_floor`]: its own spread is then a few hundredths of a point.
const FLOOR_DRAWS: usize = 200;

/// A set of faces' calibration error beside the error's floor on those faces.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct CalibrationError {
    /// [`expected_calibration_error`] with [`ECE_BINS`] bins.
    pub ece: f64,
    /// [`ece_floor`]: what a perfectly calibrated model with these probabilities would show.
    pub ece_floor: f64,
}

impl std::fmt::Display for CalibrationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ECE {:.2}% (chance floor {:.2}%)",
            100.0 * self.ece,
            100.0 * self.ece_floor
        )
    }
}

impl CalibrationError {
    pub fn of(p_male: &[f32], labels: &[u32]) -> Self {
        Self {
            ece: expected_calibration_error(p_male, labels, ECE_BINS),
            ece_floor: ece_floor(p_male, ECE_BINS),
        }
    }
}

/// Expected calibration error of the predicted class's probability: the image-weighted mean,
/// over equal-width confidence bins, of |accuracy − mean confidence|.
pub fn expected_calibration_error(p_male: &[f32], labels: &[u32], bins: usize) -> f64 {
    let mut count = vec![0usize; bins];
    let mut correct = vec![0usize; bins];
    let mut confidence = vec![0f64; bins];
    for (&p, &label) in p_male.iter().zip(labels) {
        let predicted = class_of(p);
        let conf = f64::from(if predicted == 1 { p } else { 1.0 - p });
        let bin = ((conf * bins as f64) as usize).min(bins - 1);
        count[bin] += 1;
        correct[bin] += usize::from(predicted == label);
        confidence[bin] += conf;
    }
    let n = p_male.len().max(1) as f64;
    (0..bins)
        .filter(|&b| count[b] > 0)
        .map(|b| (correct[b] as f64 - confidence[b]).abs() / n)
        .sum()
}

/// The mean expected calibration error of these probabilities against labels drawn from
/// the probabilities themselves (face i male with probability `p_male[i]`): the error a
/// perfectly calibrated model shows on as many faces, with as confident answers, by chance
/// alone. Seeded, so a report states the same floor every time.
pub fn ece_floor(p_male: &[f32], bins: usize) -> f64 {
    let mut rng = StdRng::seed_from_u64(0x0ECE);
    let mut labels = vec![0u32; p_male.len()];
    let mut total = 0.0;
    for _ in 0..FLOOR_DRAWS {
        draw_labels(p_male, &mut rng, &mut labels);
        total += expected_calibration_error(p_male, &labels, bins);
    }
    total / FLOOR_DRAWS as f64
}

/// Labels as a perfectly calibrated model's faces would have them: face i male with
/// probability `p_male[i]`.
fn draw_labels(p_male: &[f32], rng: &mut StdRng, labels: &mut [u32]) {
    for (label, &p) in labels.iter_mut().zip(p_male) {
        *label = u32::from(rng.random::<f32>() < p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ece_of_a_known_case() {
        // Two images at confidence 0.9 (one right), two at 0.6 (both right):
        // bin errors |1 − 1.8| + |2 − 1.2| over 4 images = 0.4.
        let ece = expected_calibration_error(&[0.9, 0.9, 0.4, 0.6], &[1, 0, 0, 1], 10);
        assert!((ece - 0.4).abs() < 1e-6, "{ece}");
    }

    /// `n` faces with P(male) spread evenly over [0.05, 0.95].
    fn spread(n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| 0.05 + 0.9 * i as f32 / (n - 1) as f32)
            .collect()
    }

    #[test]
    fn the_floor_shrinks_with_the_number_of_faces() {
        let few = ece_floor(&spread(200), ECE_BINS);
        let many = ece_floor(&spread(20_000), ECE_BINS);
        // A bin's chance error falls as one over the square root of its faces: 10× here.
        assert!(few > 0.03 && few < 0.08, "{few}");
        assert!(many > 0.003 && many < 0.008, "{many}");
        // Sure answers leave chance almost nothing to err on.
        assert!(ece_floor(&vec![0.999; 500], ECE_BINS) < 0.002);
        assert_eq!(ece_floor(&spread(200), ECE_BINS), few, "seeded");
    }

    #[test]
    fn a_calibrated_model_sits_at_its_floor_and_an_overconfident_one_above() {
        let p = spread(4000);
        let mut drawn = vec![0; p.len()];
        draw_labels(&p, &mut StdRng::seed_from_u64(7), &mut drawn);
        // Labels drawn in the stated proportions: calibrated by construction.
        let calibrated = CalibrationError::of(&p, &drawn);
        assert!(
            (calibrated.ece - calibrated.ece_floor).abs() < 2.0 * calibrated.ece_floor,
            "{calibrated:?}"
        );
        // Every answer right: accuracy 100 % where the model said 50–95 %.
        let all_right: Vec<u32> = p.iter().map(|&p| u32::from(p > 0.5)).collect();
        let sure = CalibrationError::of(&p, &all_right);
        assert!(sure.ece > 5.0 * sure.ece_floor, "{sure:?}");
    }
}
