// This file is part of the open-source port of SeetaFace engine, which originally includes three modules:
//      SeetaFace Detection, SeetaFace Alignment, and SeetaFace Identification.
//
// This file is part of the SeetaFace Detection module, containing codes implementing the face detection method described in the following paper:
//
//      Funnel-structured cascade for multi-view face detection with alignment awareness,
//      Shuzhe Wu, Meina Kan, Zhenliang He, Shiguang Shan, Xilin Chen.
//      In Neurocomputing (under review)
//
// Copyright (C) 2016, Visual Information Processing and Learning (VIPL) group,
// Institute of Computing Technology, Chinese Academy of Sciences, Beijing, China.
//
// As an open-source face recognition engine: you can redistribute SeetaFace source codes
// and/or modify it under the terms of the BSD 2-Clause License.
//
// You should have received a copy of the BSD 2-Clause License along with the software.
// If not, see < https://opensource.org/licenses/BSD-2-Clause>.

use super::Score;
use crate::common::Rectangle;
use crate::feat::LabBoostedFeatureMap;

/// Number of LAB feature values (8-bit codes) a weak classifier has a weight for.
const NUM_CODES: usize = 256;

#[derive(Clone)]
pub struct LabBoostedClassifier {
    /// Feature positions (x, y) inside the window, one per weak classifier.
    features: Vec<(i32, i32)>,
    /// One weight per feature code for each weak classifier, stored contiguously.
    weights: Vec<[f32; NUM_CODES]>,
    thresholds: Vec<f32>,
}

impl LabBoostedClassifier {
    #[inline]
    pub fn new() -> Self {
        LabBoostedClassifier {
            features: Vec::new(),
            weights: Vec::new(),
            thresholds: Vec::new(),
        }
    }

    #[inline]
    pub fn add_feature(&mut self, x: i32, y: i32) {
        self.features.push((x, y));
    }

    /// `weights` has one entry per feature code (at most 256; missing codes weigh 0).
    #[inline]
    pub fn add_base_classifier(&mut self, weights: Vec<f32>, thresh: f32) {
        let mut table = [0.0; NUM_CODES];
        for (slot, weight) in table.iter_mut().zip(weights) {
            *slot = weight;
        }
        self.weights.push(table);
        self.thresholds.push(thresh);
    }
}

const K_FEAT_GROUP_SIZE: usize = 10;
const K_STDDEV_THRESH: f64 = 10.0;
/// Windows scored per call of [`LabBoostedClassifier::surviving`] (see "Tier-up" in lib.rs).
const WINDOWS_PER_CALL: usize = 1024;

impl LabBoostedClassifier {
    /// Whether the window `roi` is a face candidate, and its score.
    pub fn classify(&self, feature_map: &LabBoostedFeatureMap, roi: Rectangle) -> Score {
        let window = (roi.x() as u32, roi.y() as u32);
        match self
            .classify_windows(feature_map, &[window], roi.width())
            .pop()
        {
            Some((_, score)) => score,
            None => Score {
                positive: false,
                score: 0.0,
            },
        }
    }

    /// The positive windows among `windows` (top-left corners of `size`-pixel squares), as
    /// (index, score) in the order given.
    ///
    /// Sums the weak classifiers' weights group by group and drops a window as soon as a
    /// group's running score falls below its threshold (most leave after one group). The
    /// windows go through a group together, 1 024 at a time, so the sums of different windows
    /// overlap in the processor and the exits cost no mispredicted branches; each window's own
    /// sum is added in the original order, so the scores are exactly rustface's.
    pub fn classify_windows(
        &self,
        feature_map: &LabBoostedFeatureMap,
        windows: &[(u32, u32)],
        size: u32,
    ) -> Vec<(usize, Score)> {
        let (codes, width) = (feature_map.codes(), feature_map.width() as usize);
        let offsets: Vec<usize> = self
            .features
            .iter()
            .map(|&(x, y)| y as usize * width + x as usize)
            .collect();
        let mut alive = vec![];
        for (chunk, first) in windows
            .chunks(WINDOWS_PER_CALL)
            .zip((0..).step_by(WINDOWS_PER_CALL))
        {
            alive.extend(self.surviving(codes, width, &offsets, chunk, first));
        }

        alive
            .into_iter()
            .filter_map(|(index, _, score)| {
                let (x, y) = windows[index];
                let roi = Rectangle::new(x as i32, y as i32, size, size);
                (feature_map.get_std_dev(roi) > K_STDDEV_THRESH).then_some((
                    index,
                    Score {
                        positive: true,
                        score,
                    },
                ))
            })
            .collect()
    }
}

impl LabBoostedClassifier {
    /// The windows of `chunk` (the first being window number `first`) whose running score
    /// stays above every group's threshold, as (window number, index of its top-left code,
    /// score).
    #[cfg_attr(target_arch = "wasm32", inline(never))] // see "Tier-up" in lib.rs
    fn surviving(
        &self,
        codes: &[u8],
        width: usize,
        offsets: &[usize],
        chunk: &[(u32, u32)],
        first: usize,
    ) -> Vec<(usize, usize, f32)> {
        let mut alive: Vec<(usize, usize, f32)> = chunk
            .iter()
            .enumerate()
            .map(|(i, &(x, y))| (first + i, y as usize * width + x as usize, 0.0))
            .collect();
        let groups = offsets
            .chunks_exact(K_FEAT_GROUP_SIZE)
            .zip(self.weights.chunks_exact(K_FEAT_GROUP_SIZE))
            .zip(self.thresholds.chunks_exact(K_FEAT_GROUP_SIZE));
        for ((offsets, weights), thresholds) in groups {
            let threshold = thresholds[K_FEAT_GROUP_SIZE - 1];
            let mut kept = 0;
            for j in 0..alive.len() {
                let (index, origin, mut score) = alive[j];
                for (&offset, table) in offsets.iter().zip(weights) {
                    score += table[codes[origin + offset] as usize];
                }
                alive[kept] = (index, origin, score);
                kept += usize::from(score >= threshold);
            }
            alive.truncate(kept);
            if alive.is_empty() {
                break;
            }
        }
        alive
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::ImageData;
    use crate::feat::FeatureMap;

    #[test]
    fn windows_scored_in_chunks_equal_windows_scored_one_by_one() {
        let mut state = 7u32;
        let mut next = move || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            state >> 8
        };
        let (w, h, size) = (160, 120, 40);
        let pixels: Vec<u8> = (0..w * h).map(|_| next() as u8).collect();
        let mut map = LabBoostedFeatureMap::new();
        map.compute(&ImageData::new(&pixels, w, h));
        // Two groups of weak classifiers; the group thresholds let some windows through.
        let mut classifier = LabBoostedClassifier::new();
        for i in 0..2 * K_FEAT_GROUP_SIZE {
            classifier.add_feature((next() % 31) as i32, (next() % 31) as i32);
            let weights = (0..NUM_CODES).map(|_| (next() % 201) as f32 / 100.0 - 1.0);
            let threshold = if i < K_FEAT_GROUP_SIZE { -0.5 } else { 0.0 };
            classifier.add_base_classifier(weights.collect(), threshold);
        }
        let windows: Vec<(u32, u32)> = (0..=h - size)
            .flat_map(|y| (0..=w - size).map(move |x| (x, y)))
            .collect();
        assert!(windows.len() > 2 * WINDOWS_PER_CALL);

        let scores = |found: Vec<(usize, Score)>| -> Vec<(usize, f32)> {
            found.into_iter().map(|(i, s)| (i, s.score())).collect()
        };
        let together = scores(classifier.classify_windows(&map, &windows, size));
        let one_by_one: Vec<(usize, f32)> = windows
            .iter()
            .enumerate()
            .flat_map(|(i, &window)| {
                scores(classifier.classify_windows(&map, &[window], size))
                    .into_iter()
                    .map(move |(_, score)| (i, score))
            })
            .collect();
        assert!(!together.is_empty() && together.len() < windows.len() / 2);
        assert_eq!(together, one_by_one);
    }
}
