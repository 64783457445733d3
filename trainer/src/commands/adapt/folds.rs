//! The target photos of `adapt` and its cross-validation over them: the faces the product's
//! detector finds, stratified folds, and metrics, outcomes and balancing offsets from each
//! face's out-of-fold logits.

use super::balance::{balancing_offset, nested_offsets, Scored};
use crate::data::detected::DetectedFaces;
use crate::measure::metrics::Metrics;
use crate::measure::outcome::Outcome;
use genderlens::classifier::calibration::{p_male, verdict};
use genderlens::Face;
use rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};

/// Fold number of each item: each class shuffled on its own and dealt round-robin, so every
/// fold has the classes in the proportions of the whole.
pub fn stratified_folds(labels: &[u32], folds: usize, seed: u64) -> Vec<usize> {
    let mut fold_of = vec![0; labels.len()];
    let mut rng = StdRng::seed_from_u64(seed);
    for class in 0..2u32 {
        let mut members: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        members.shuffle(&mut rng);
        for (k, i) in members.into_iter().enumerate() {
            fold_of[i] = k % folds;
        }
    }
    fold_of
}

/// Metrics over the images of DIR from each crop's logits (`None`: its fold did not run);
/// when every fold ran, an image without a face counts as wrong.
pub fn target_metrics(
    target: &DetectedFaces,
    all_folds: bool,
    logits: impl Fn(usize) -> Option<[f32; 2]>,
) -> Metrics {
    let mut crop_of_image = vec![None; target.files.files.len()];
    for (c, &i) in target.image_of_crop.iter().enumerate() {
        crop_of_image[i] = Some(c);
    }
    let (truth, predicted): (Vec<u32>, Vec<u32>) = target
        .files
        .files
        .iter()
        .enumerate()
        .filter_map(|(i, &(_, label))| {
            let predicted = match crop_of_image[i] {
                // None: the crop's fold did not run (`--only-folds`).
                Some(c) => u32::from(logits(c).map(|l| l[1] > l[0])?),
                None if all_folds => 1 - label, // no face: wrong
                None => return None,
            };
            Some((label, predicted))
        })
        .unzip();
    Metrics::from_predictions(&truth, &predicted)
}

pub fn outcomes(
    target: &DetectedFaces,
    logits: impl Fn(usize) -> Option<[f32; 2]>,
    temperature: f32,
) -> Vec<Outcome> {
    let mut outcomes: Vec<Outcome> = target.files.files.iter().map(|_| Outcome::NoFace).collect();
    for (c, &i) in target.image_of_crop.iter().enumerate() {
        if let Some(l) = logits(c) {
            let p = p_male(l, temperature);
            outcomes[i] = Outcome::Face(Face {
                bbox: [0.0; 4],
                verdict: verdict(p),
                p_male: p,
                detector_score: None,
                landmarks: None,
            });
        }
    }
    outcomes
}

/// Each fold's offset (fitted without it) and the one fitted on every out-of-fold face.
pub fn decision_offsets(
    target: &DetectedFaces,
    logits: &[Option<[f32; 2]>],
    fold_of: &[usize],
    folds: usize,
) -> (Vec<f32>, f32) {
    let (faces, folds_of): (Vec<Scored>, Vec<usize>) = (0..target.crops.len())
        .filter_map(|c| {
            let l = logits[c]?;
            Some(((l[1] - l[0], target.crops.labels[c]), fold_of[c]))
        })
        .unzip();
    // Share of each class's images without a face: wrong whatever the offset.
    let missed = [0, 1].map(|class| {
        let images = target.files.files.iter().filter(|f| f.1 == class).count();
        let found = target.crops.labels.iter().filter(|&&l| l == class).count();
        (images - found) as f64 / images.max(1) as f64
    });
    (
        nested_offsets(&faces, &folds_of, folds, missed),
        balancing_offset(&faces, missed),
    )
}
