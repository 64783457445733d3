//! Classification metrics computed from true labels ("male" is the positive class for
//! precision, recall and F1).

use serde::Serialize;

#[derive(Clone, Debug, Default, Serialize)]
pub struct Metrics {
    pub images: usize,
    pub accuracy: f64,
    pub accuracy_female: f64,
    pub accuracy_male: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Rows: true female, male; columns: predicted female, male.
    pub confusion: [[usize; 2]; 2],
}

impl Metrics {
    pub fn from_predictions(truth: &[u32], predicted: &[u32]) -> Self {
        let mut confusion = [[0usize; 2]; 2];
        for (&t, &p) in truth.iter().zip(predicted) {
            confusion[t as usize][p as usize] += 1;
        }
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let [[ff, fm], [mf, mm]] = confusion;
        let precision = ratio(mm, mm + fm);
        let recall = ratio(mm, mm + mf);
        let f1 = if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        };
        Self {
            images: truth.len(),
            accuracy: ratio(ff + mm, truth.len()),
            accuracy_female: ratio(ff, ff + fm),
            accuracy_male: ratio(mm, mf + mm),
            precision,
            recall,
            f1,
            confusion,
        }
    }
}

/// The class answered for a calibrated P(male): every count, list and confusion matrix of
/// `eval` and `report` decides with this one rule.
pub fn class_of(p_male: f32) -> u32 {
    u32::from(p_male >= 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_from_a_known_confusion() {
        // 3 female (2 right), 2 male (both right).
        let m = Metrics::from_predictions(&[0, 0, 0, 1, 1], &[0, 0, 1, 1, 1]);
        assert_eq!(m.confusion, [[2, 1], [0, 2]]);
        assert!((m.accuracy - 0.8).abs() < 1e-12);
        assert!((m.precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.recall - 1.0).abs() < 1e-12);
        assert!((m.f1 - 0.8).abs() < 1e-12);
        assert!((m.accuracy_female - 2.0 / 3.0).abs() < 1e-12);
    }
}
