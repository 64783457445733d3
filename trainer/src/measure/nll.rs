//! The likelihood of the true labels under a model's logits: what calibration minimises and
//! what training and calibration reports print.

/// Mean negative log-likelihood of the true labels at temperature `t`.
pub fn mean_nll(logits: &[[f32; 2]], labels: &[u32], t: f32) -> f64 {
    let total: f64 = logits
        .iter()
        .zip(labels)
        .map(|(&l, &label)| face_nll(l, label, t))
        .sum();
    total / labels.len().max(1) as f64
}

/// −log P(label) of one face's logits at temperature `t`: −log sigmoid(±z), computed stably.
pub fn face_nll(logits: [f32; 2], label: u32, t: f32) -> f64 {
    let z = f64::from((logits[1] - logits[0]) / t);
    let signed = if label == 1 { z } else { -z };
    (-signed).max(0.0) + (-signed.abs()).exp().ln_1p()
}
