//! Temperature scaling: one scalar fitted on validation logits so that a predicted 80 % is
//! right about 80 % of the time, stored in the weights file and applied by
//! `genderlens::classifier::calibration` everywhere the model runs; and the expected calibration error
//! that measures how well it worked.

use crate::data::folders::FaceCache;
use crate::measure::ece::{expected_calibration_error, ECE_BINS};
use crate::measure::logits::cache_logits;
use crate::measure::metrics::class_of;
use crate::measure::nll::mean_nll;
use crate::model_file::edit_weights_file;
use anyhow::{Context, Result};
use candle_core::{Device, Tensor};
use genderlens::classifier::calibration::{p_male, verdict, UNCERTAIN_BELOW};
use genderlens::classifier::temperature::{
    Temperatures, CHILD_BIAS_TENSOR, CHILD_TEMPERATURE_TENSOR, CHILD_WEIGHT_TENSOR,
    TEMPERATURE_TENSOR,
};
use genderlens::Classifier;
use serde::Serialize;
use std::path::Path;

/// What calibration changed, as stored in the model JSON.
#[derive(Clone, Debug, Serialize)]
pub struct CalibrationReport {
    pub fitted_on: String,
    pub images: usize,
    pub temperature: f32,
    pub nll_before: f64,
    pub nll_after: f64,
    pub ece_before: f64,
    pub ece_after: f64,
    pub ece_bins: usize,
    pub uncertain_below: f32,
    /// Share of the fitting images labelled "uncertain" after calibration.
    pub uncertain_share: f64,
    /// Accuracy on the images that were not "uncertain".
    pub accuracy_when_certain: f64,
}

pub fn print_summary(report: &CalibrationReport) {
    println!(
        "calibrated on {} images: temperature {:.3}, ECE {:.2}% -> {:.2}%, NLL {:.4} -> {:.4}; \
         {:.1}% uncertain (below {:.0}%), {:.2}% accurate on the rest",
        report.images,
        report.temperature,
        100.0 * report.ece_before,
        100.0 * report.ece_after,
        report.nll_before,
        report.nll_after,
        100.0 * report.uncertain_share,
        100.0 * report.uncertain_below,
        100.0 * report.accuracy_when_certain,
    );
}

/// Fits the temperature on `val`, rewrites `model_path` with it (atomically) and reports.
pub fn calibrate_weights(
    model_path: &Path,
    val: &FaceCache,
    fitted_on: &str,
) -> Result<CalibrationReport> {
    let device = Device::Cpu;
    let bytes =
        std::fs::read(model_path).with_context(|| format!("reading {}", model_path.display()))?;
    let net = Classifier::from_safetensors(&bytes)?;
    let logits = cache_logits(&net, val, 0..val.len(), &device)?;
    let report = measure(&logits, &val.labels, fitted_on);

    write_temperatures(model_path, &Temperatures::single(report.temperature))?;
    Ok(report)
}

/// Rewrites the weights file at `path` (atomically) with `temperatures` as its calibration;
/// an age probe it had is dropped when `temperatures` has none.
pub fn write_temperatures(path: &Path, temperatures: &Temperatures) -> Result<()> {
    let device = Device::Cpu;
    let scalar = |v: f32| Tensor::new(&[v], &device);
    edit_weights_file(path, |tensors| {
        tensors.insert(TEMPERATURE_TENSOR.into(), scalar(temperatures.base)?);
        for name in [
            CHILD_TEMPERATURE_TENSOR,
            CHILD_WEIGHT_TENSOR,
            CHILD_BIAS_TENSOR,
        ] {
            tensors.remove(name);
        }
        if let Some(probe) = &temperatures.child {
            tensors.insert(CHILD_TEMPERATURE_TENSOR.into(), scalar(probe.temperature)?);
            tensors.insert(CHILD_BIAS_TENSOR.into(), scalar(probe.bias)?);
            tensors.insert(
                CHILD_WEIGHT_TENSOR.into(),
                Tensor::new(probe.weight.as_slice(), &device)?,
            );
        }
        Ok(())
    })
}

pub fn measure(logits: &[[f32; 2]], labels: &[u32], fitted_on: &str) -> CalibrationReport {
    let temperature = fit_temperature(logits, labels);
    let probabilities = |t: f32| logits.iter().map(|&l| p_male(l, t)).collect::<Vec<_>>();
    let (before, after) = (probabilities(1.0), probabilities(temperature));
    let certain: Vec<(f32, u32)> = after
        .iter()
        .zip(labels)
        .filter(|(&p, _)| verdict(p).label != genderlens::classifier::calibration::UNCERTAIN)
        .map(|(&p, &l)| (p, l))
        .collect();
    let correct = certain.iter().filter(|&&(p, l)| class_of(p) == l).count();
    CalibrationReport {
        fitted_on: fitted_on.into(),
        images: labels.len(),
        temperature,
        nll_before: mean_nll(logits, labels, 1.0),
        nll_after: mean_nll(logits, labels, temperature),
        ece_before: expected_calibration_error(&before, labels, ECE_BINS),
        ece_after: expected_calibration_error(&after, labels, ECE_BINS),
        ece_bins: ECE_BINS,
        uncertain_below: UNCERTAIN_BELOW,
        uncertain_share: 1.0 - certain.len() as f64 / labels.len().max(1) as f64,
        accuracy_when_certain: correct as f64 / certain.len().max(1) as f64,
    }
}

/// Temperatures are searched on their logarithm within [1/20, 20].
pub const LOG_TEMPERATURE_RANGE: f64 = 2.995_732_273_553_991; // ln 20

/// The temperature minimising the validation NLL (the NLL is convex in 1/T, so unimodal in
/// log T).
pub fn fit_temperature(logits: &[[f32; 2]], labels: &[u32]) -> f32 {
    let cost = |log_t: f64| mean_nll(logits, labels, log_t.exp() as f32);
    golden_section(-LOG_TEMPERATURE_RANGE, LOG_TEMPERATURE_RANGE, cost).exp() as f32
}

/// The minimum of `cost` on [lo, hi], where it is unimodal, to within 1e-4: golden-section
/// search, one new evaluation a step.
pub fn golden_section(lo: f64, hi: f64, cost: impl Fn(f64) -> f64) -> f64 {
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let (mut lo, mut hi) = (lo, hi);
    let mut a = hi - ratio * (hi - lo);
    let mut b = lo + ratio * (hi - lo);
    let (mut cost_a, mut cost_b) = (cost(a), cost(b));
    while hi - lo > 1e-4 {
        if cost_a < cost_b {
            hi = b;
            (b, cost_b) = (a, cost_a);
            a = hi - ratio * (hi - lo);
            cost_a = cost(a);
        } else {
            lo = a;
            (a, cost_a) = (b, cost_b);
            b = lo + ratio * (hi - lo);
            cost_b = cost(b);
        }
    }
    (lo + hi) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Logit differences drawn so that the true P(male) is sigmoid(d / 2): a model twice
    /// as confident as it should be, which a temperature of 2 corrects.
    fn overconfident_sample() -> (Vec<[f32; 2]>, Vec<u32>) {
        let mut logits = Vec::new();
        let mut labels = Vec::new();
        for i in 0..400 {
            let d = -6.0 + 12.0 * i as f32 / 399.0;
            let p_true = 1.0 / (1.0 + (-d / 2.0).exp());
            // 100 images per logit value, labelled in the true proportion.
            let males = (100.0 * p_true).round() as usize;
            for k in 0..100 {
                logits.push([0.0, d]);
                labels.push(u32::from(k < males));
            }
        }
        (logits, labels)
    }

    #[test]
    fn fitting_recovers_the_temperature_and_lowers_the_error() {
        let (logits, labels) = overconfident_sample();
        let t = fit_temperature(&logits, &labels);
        assert!((t - 2.0).abs() < 0.05, "fitted {t}");
        let report = measure(&logits, &labels, "synthetic");
        assert!(report.nll_after < report.nll_before);
        assert!(report.ece_after < 0.01, "{report:?}");
        assert!(report.ece_before > 0.05, "{report:?}");
    }
}
