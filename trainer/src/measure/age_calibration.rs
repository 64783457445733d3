//! The age-aware calibration stored with a model (`genderlens::classifier::temperature`): a linear probe
//! on the network's features that tells children's faces from adults', fitted on training
//! photos whose file names give the age, then adults' and children's temperatures fitted
//! together on the validation faces, each source weighing the same.

use crate::data::folders::{FaceCache, FileList};
use crate::measure::ece::{expected_calibration_error, ECE_BINS};
use crate::measure::groups::age_and_race;
use crate::measure::nll::face_nll;
use crate::measure::temperature::{golden_section, write_temperatures, LOG_TEMPERATURE_RANGE};
use anyhow::{Context, Result};
use genderlens::classifier::calibration::p_male;
use genderlens::classifier::temperature::{blend, ChildProbe, Temperatures, CHILD_BELOW_AGE};
use genderlens::Classifier;
use serde::Serialize;
use std::path::Path;

/// What the age-aware calibration measured, as stored in the model JSON.
#[derive(Clone, Debug, Serialize)]
pub struct AgeCalibrationReport {
    /// Training faces the probe was fitted on, and how many of them are children's.
    pub probe_faces: usize,
    pub probe_children: usize,
    /// The single temperature it is compared with (fitted on the union of the sources).
    pub single_temperature: f32,
    pub adult_temperature: f32,
    pub child_temperature: f32,
    /// Each validation source's expected calibration error with the single temperature and
    /// with the age-aware ones.
    pub ece_single: Vec<(String, f64)>,
    pub ece_by_age: Vec<(String, f64)>,
    /// Stored only when it lowers the largest of the sources' errors.
    pub stored: bool,
}

/// Labelled features for the probe: `child[i]` is whether face `i` is under 16.
pub struct AgedFeatures {
    pub features: Vec<Vec<f32>>,
    pub child: Vec<bool>,
}

/// Appends the faces of a split whose file names give an age to `into`, each with whether
/// it is a child's.
pub fn add_aged_faces(
    files: &FileList,
    faces: &FaceCache,
    file_of_face: &[usize],
    into: &mut (FaceCache, Vec<bool>),
) {
    for (face, &file) in file_of_face.iter().enumerate() {
        let (path, label) = &files.files[file];
        if let (Some(age), _) = age_and_race(path) {
            into.0.push(&faces.face(face), *label);
            into.1.push(age < CHILD_BELOW_AGE);
        }
    }
}

/// One source's validation faces as the calibration sees them.
pub struct ValidationFaces {
    pub name: String,
    pub logits: Vec<[f32; 2]>,
    pub features: Vec<Vec<f32>>,
    pub labels: Vec<u32>,
}

/// Logistic regression by full-batch gradient descent on standardised features (a few
/// thousand faces, a couple of hundred features: seconds), with a little L2; the
/// standardisation is folded back into the weights. The weights are 0 when one class is
/// missing (no child, or no adult): the probe then says the same for every face.
pub fn fit_probe(data: &AgedFeatures) -> (Vec<f32>, f32) {
    const STEPS: usize = 1000;
    const RATE: f64 = 0.5;
    const L2: f64 = 1e-3;
    let n = data.features.len();
    let width = data.features.first().map_or(0, Vec::len);
    let children = data.child.iter().filter(|&&c| c).count();
    if children == 0 || children == n {
        return (vec![0.0; width], 0.0);
    }
    let mean: Vec<f64> = (0..width)
        .map(|j| data.features.iter().map(|f| f64::from(f[j])).sum::<f64>() / n as f64)
        .collect();
    let std: Vec<f64> = (0..width)
        .map(|j| {
            let var = data
                .features
                .iter()
                .map(|f| (f64::from(f[j]) - mean[j]).powi(2))
                .sum::<f64>()
                / n as f64;
            var.sqrt().max(1e-6)
        })
        .collect();
    let x: Vec<Vec<f64>> = data
        .features
        .iter()
        .map(|f| {
            (0..width)
                .map(|j| (f64::from(f[j]) - mean[j]) / std[j])
                .collect()
        })
        .collect();
    let (mut w, mut b) = (vec![0f64; width], 0f64);
    let mut gradient = vec![0f64; width];
    for _ in 0..STEPS {
        gradient.fill(0.0);
        let mut gradient_b = 0.0;
        for (xi, &yi) in x.iter().zip(&data.child) {
            let z: f64 = xi.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>() + b;
            let error = 1.0 / (1.0 + (-z).exp()) - f64::from(u8::from(yi));
            for (g, a) in gradient.iter_mut().zip(xi) {
                *g += error * a;
            }
            gradient_b += error;
        }
        for (wj, gj) in w.iter_mut().zip(&gradient) {
            *wj -= RATE * (gj / n as f64 + L2 * *wj);
        }
        b -= RATE * gradient_b / n as f64;
    }
    let weight: Vec<f32> = (0..width).map(|j| (w[j] / std[j]) as f32).collect();
    let bias = b - (0..width).map(|j| w[j] * mean[j] / std[j]).sum::<f64>();
    (weight, bias as f32)
}

/// Mean over sources of each source's mean NLL, face `i` of source `s` at the temperature
/// `p_child[s][i]` blends to.
fn balanced_nll(sources: &[ValidationFaces], p_child: &[Vec<f32>], adult: f32, child: f32) -> f64 {
    let per_source = sources.iter().zip(p_child).map(|(s, p_child)| {
        let total: f64 = s
            .logits
            .iter()
            .zip(p_child)
            .zip(&s.labels)
            .map(|((&l, &p), &label)| face_nll(l, label, blend(adult, child, p)))
            .sum();
        total / s.labels.len().max(1) as f64
    });
    per_source.sum::<f64>() / sources.len().max(1) as f64
}

/// Adults' and children's temperatures for `probe` (its own temperature ignored), by
/// alternating searches on their logarithms in [1/20, 20].
pub fn fit_temperatures(sources: &[ValidationFaces], probe: &ChildProbe) -> (f32, f32) {
    let p_child: Vec<Vec<f32>> = sources
        .iter()
        .map(|s| s.features.iter().map(|f| probe.p_child(f)).collect())
        .collect();
    let cost = |adult: f64, child: f64| {
        balanced_nll(sources, &p_child, adult.exp() as f32, child.exp() as f32)
    };
    let range = LOG_TEMPERATURE_RANGE;
    let (mut adult, mut child) = (0f64, 0f64);
    for _ in 0..6 {
        adult = golden_section(-range, range, |a| cost(a, child));
        child = golden_section(-range, range, |c| cost(adult, c));
    }
    (adult.exp() as f32, child.exp() as f32)
}

/// Fits the probe on `aged` and the two temperatures on `sources`' validation faces, and
/// stores them in the weights at `model_path` (which already carry `single_temperature`)
/// when they lower the largest per-source calibration error.
pub fn calibrate_by_age(
    model_path: &Path,
    sources: &[(String, &FaceCache)],
    aged: (&FaceCache, &[bool]),
    single_temperature: f32,
) -> Result<AgeCalibrationReport> {
    let bytes =
        std::fs::read(model_path).with_context(|| format!("reading {}", model_path.display()))?;
    let classifier = Classifier::from_safetensors(&bytes)?;
    let features = |cache: &FaceCache| -> Result<Vec<Vec<f32>>> {
        (0..cache.len())
            .map(|i| Ok(classifier.features(&[cache.face(i)])?.remove(0)))
            .collect()
    };
    let (aged_faces, child) = aged;
    let (weight, bias) = fit_probe(&AgedFeatures {
        features: features(aged_faces)?,
        child: child.to_vec(),
    });
    let validation = sources
        .iter()
        .map(|(name, cache)| {
            let features = features(cache)?;
            Ok(ValidationFaces {
                name: name.clone(),
                logits: features.iter().map(|f| classifier.head(f)).collect(),
                features,
                labels: cache.labels.clone(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut probe = ChildProbe {
        weight,
        bias,
        temperature: 1.0,
    };
    let (adult, child_temperature) = fit_temperatures(&validation, &probe);
    probe.temperature = child_temperature;
    let ece_single = ece_by_source(&validation, |_| single_temperature);
    let ece_by_age = ece_by_source(&validation, |f| {
        blend(adult, child_temperature, probe.p_child(f))
    });
    let largest = |e: &[(String, f64)]| e.iter().map(|(_, e)| *e).fold(0.0, f64::max);
    let stored = largest(&ece_by_age) < largest(&ece_single);
    if stored {
        write_temperatures(
            model_path,
            &Temperatures {
                base: adult,
                child: Some(probe),
            },
        )?;
    }
    Ok(AgeCalibrationReport {
        probe_faces: child.len(),
        probe_children: child.iter().filter(|&&c| c).count(),
        single_temperature,
        adult_temperature: adult,
        child_temperature,
        ece_single,
        ece_by_age,
        stored,
    })
}

pub fn print_age_summary(report: &AgeCalibrationReport) {
    let list = |e: &[(String, f64)]| {
        e.iter()
            .map(|(n, e)| format!("{n} {:.2}%", 100.0 * e))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "age probe on {} faces ({} children): temperatures adult {:.3}, child {:.3}; ECE by \
         source {} (single temperature {:.3}: {}); {}",
        report.probe_faces,
        report.probe_children,
        report.adult_temperature,
        report.child_temperature,
        list(&report.ece_by_age),
        report.single_temperature,
        list(&report.ece_single),
        if report.stored {
            "stored"
        } else {
            "not stored (no better)"
        }
    );
}

/// Each source's expected calibration error with `temperature` per face.
pub fn ece_by_source(
    sources: &[ValidationFaces],
    temperature: impl Fn(&[f32]) -> f32,
) -> Vec<(String, f64)> {
    sources
        .iter()
        .map(|s| {
            let p: Vec<f32> = s
                .logits
                .iter()
                .zip(&s.features)
                .map(|(&l, f)| p_male(l, temperature(f)))
                .collect();
            let ece = expected_calibration_error(&p, &s.labels, ECE_BINS);
            (s.name.clone(), ece)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two features; children have the first one high. Adults' logits are twice as
    /// confident as their labels warrant (true temperature 2), children's five times.
    fn sample() -> (AgedFeatures, Vec<ValidationFaces>) {
        let mut state = 11u32;
        let mut uniform = move || {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            f32::from((state >> 16) as u16) / 65_535.0
        };
        let mut train = AgedFeatures {
            features: vec![],
            child: vec![],
        };
        let mut val = ValidationFaces {
            name: "photos".into(),
            logits: vec![],
            features: vec![],
            labels: vec![],
        };
        for i in 0..4000 {
            let child = i % 3 == 0;
            let f = vec![if child { 2.0 } else { -1.0 } + uniform() - 0.5, uniform()];
            let d = -6.0 + 12.0 * uniform();
            let truth = if child { 5.0 } else { 2.0 };
            let label = u32::from(uniform() < 1.0 / (1.0 + (-d / truth).exp()));
            if i < 2000 {
                train.features.push(f);
                train.child.push(child);
            } else {
                val.logits.push([0.0, d]);
                val.features.push(f);
                val.labels.push(label);
            }
        }
        (train, vec![val])
    }

    #[test]
    fn the_probe_tells_children_and_the_temperatures_fit_each_group() {
        let (train, val) = sample();
        let (weight, bias) = fit_probe(&train);
        let probe = ChildProbe {
            weight,
            bias,
            temperature: 1.0,
        };
        let right = train
            .features
            .iter()
            .zip(&train.child)
            .filter(|(f, &c)| (probe.p_child(f) > 0.5) == c)
            .count();
        assert!(right as f64 / 2000.0 > 0.98, "{right}");
        let (adult, child) = fit_temperatures(&val, &probe);
        assert!((adult - 2.0).abs() < 0.4, "{adult}");
        assert!((child - 5.0).abs() < 1.5, "{child}");
        let probe = ChildProbe {
            temperature: child,
            ..probe
        };
        let aware = ece_by_source(&val, |f| blend(adult, child, probe.p_child(f)))[0].1;
        let single = ece_by_source(&val, |_| adult)[0].1;
        assert!(aware < single, "{aware} vs {single}");
    }

    #[test]
    fn without_children_the_probe_is_silent() {
        let data = AgedFeatures {
            features: vec![vec![1.0, 2.0]; 5],
            child: vec![false; 5],
        };
        assert_eq!(fit_probe(&data), (vec![0.0, 0.0], 0.0));
    }
}
