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
use crate::feat::LabBoostedFeatureMap;
use crate::Rectangle;

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

impl LabBoostedClassifier {
    /// Sums the weak classifiers' weights group by group, rejecting the window as soon as a
    /// group's running score falls below its threshold (most windows leave after one group).
    pub fn classify(&self, feature_map: &LabBoostedFeatureMap, roi: Rectangle) -> Score {
        let (codes, width) = (feature_map.codes(), feature_map.width() as usize);
        let origin = roi.y() as usize * width + roi.x() as usize;
        let mut positive = true;
        let mut score = 0.0;

        let groups = self
            .features
            .chunks_exact(K_FEAT_GROUP_SIZE)
            .zip(self.weights.chunks_exact(K_FEAT_GROUP_SIZE))
            .zip(self.thresholds.chunks_exact(K_FEAT_GROUP_SIZE));
        for ((features, weights), thresholds) in groups {
            for (&(x, y), table) in features.iter().zip(weights) {
                let code = codes[origin + y as usize * width + x as usize];
                score += table[code as usize];
            }
            positive = score >= thresholds[K_FEAT_GROUP_SIZE - 1];
            if !positive {
                break;
            }
        }
        positive = positive && (feature_map.get_std_dev(roi) > K_STDDEV_THRESH);

        Score { positive, score }
    }
}
