//! Non-maximum suppression as SeetaFace does it (greedy by score; a kept box absorbs the
//! scores of the boxes it overlaps by more than the threshold), with the same results, but
//! each kept box is compared only with boxes that could overlap it that much: enlarged
//! pyramid levels give thousands of proposals, and comparing every pair took a seventh of
//! the detection time.

use crate::common::FaceInfo;

/// `bboxes` sorted by score (highest first, ties in their given order) and the survivors
/// in `bboxes_nms`, each with the summed score of the boxes it absorbed.
pub(super) fn non_maximum_suppression(
    bboxes: &mut [FaceInfo],
    bboxes_nms: &mut Vec<FaceInfo>,
    iou_thresh: f32,
) {
    bboxes_nms.clear();
    bboxes.sort_by(|a, b| {
        b.score()
            .partial_cmp(&a.score())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let corners: Vec<[i32; 4]> = bboxes
        .iter()
        .map(|f| {
            let b = f.bbox();
            let (w, h) = (b.width() as i32, b.height() as i32);
            [b.x(), b.y(), b.x() + w - 1, b.y() + h - 1]
        })
        .collect();
    let areas: Vec<f32> = bboxes
        .iter()
        .map(|f| (f.bbox().width() * f.bbox().height()) as f32)
        .collect();
    let bins = SizeBins::new(bboxes, &corners, &areas);

    let mut merged = vec![false; bboxes.len()];
    let mut absorbed = Vec::new();
    for selected in 0..bboxes.len() {
        if merged[selected] {
            continue;
        }
        merged[selected] = true;
        let [x1, y1, x2, y2] = corners[selected];
        let area = areas[selected];
        absorbed.clear();
        for bin in &bins.0 {
            // IoU <= smaller area / larger area.
            if bin.max_area.min(area) <= iou_thresh * bin.min_area.max(area) {
                continue;
            }
            // A box overlapping [x1, x2] has its left edge in [x1 - widest + 1, x2].
            let first = bin
                .lefts
                .partition_point(|&(left, _)| left < x1 - bin.widest + 1);
            for &(left, i) in &bin.lefts[first..] {
                if left > x2 {
                    break;
                }
                let i = i as usize;
                if merged[i] || i < selected {
                    continue;
                }
                let [bx1, by1, bx2, by2] = corners[i];
                let w = x2.min(bx2) - x1.max(bx1) + 1;
                let h = y2.min(by2) - y1.max(by1) + 1;
                if w <= 0 || h <= 0 {
                    continue;
                }
                let intersection = (w * h) as f32;
                if intersection / (area + areas[i] - intersection) > iou_thresh {
                    absorbed.push(i);
                }
            }
        }
        // Added in score order, as the pairwise loop did: the same rounding.
        absorbed.sort_unstable();
        let mut score = bboxes[selected].score();
        for &i in &absorbed {
            merged[i] = true;
            score += bboxes[i].score();
        }
        let mut kept = bboxes[selected].clone();
        kept.set_score(score);
        bboxes_nms.push(kept);
    }
}

/// The boxes in groups of similar width (a quarter octave each), each group sorted by left
/// edge, with the group's widest box and its range of areas.
struct SizeBins(Vec<SizeBin>);

struct SizeBin {
    lefts: Vec<(i32, u32)>,
    widest: i32,
    min_area: f32,
    max_area: f32,
}

impl SizeBins {
    fn new(bboxes: &[FaceInfo], corners: &[[i32; 4]], areas: &[f32]) -> Self {
        let mut bins: Vec<(u32, SizeBin)> = Vec::new();
        for (i, face) in bboxes.iter().enumerate() {
            let width = face.bbox().width();
            let key = ((width.max(1) as f32).log2() * 4.0) as u32;
            let slot = match bins.iter().position(|(k, _)| *k == key) {
                Some(slot) => slot,
                None => {
                    bins.push((
                        key,
                        SizeBin {
                            lefts: Vec::new(),
                            widest: 0,
                            min_area: f32::INFINITY,
                            max_area: 0.0,
                        },
                    ));
                    bins.len() - 1
                }
            };
            let bin = &mut bins[slot].1;
            bin.lefts.push((corners[i][0], i as u32));
            bin.widest = bin.widest.max(width as i32);
            bin.min_area = bin.min_area.min(areas[i]);
            bin.max_area = bin.max_area.max(areas[i]);
        }
        for (_, bin) in &mut bins {
            bin.lefts.sort_unstable();
        }
        Self(bins.into_iter().map(|(_, bin)| bin).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SeetaFace's own loop: every later box against the kept one.
    fn pairwise(bboxes: &mut [FaceInfo], iou_thresh: f32) -> Vec<FaceInfo> {
        bboxes.sort_by(|a, b| {
            b.score()
                .partial_cmp(&a.score())
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let mut merged = vec![false; bboxes.len()];
        let mut kept = Vec::new();
        for s in 0..bboxes.len() {
            if merged[s] {
                continue;
            }
            merged[s] = true;
            let a = *bboxes[s].bbox();
            let (x1, y1) = (a.x(), a.y());
            let (x2, y2) = (x1 + a.width() as i32 - 1, y1 + a.height() as i32 - 1);
            let area1 = (a.width() * a.height()) as f32;
            let mut score = bboxes[s].score();
            for i in s + 1..bboxes.len() {
                let b = *bboxes[i].bbox();
                let w = x2.min(b.x() + b.width() as i32 - 1) - x1.max(b.x()) + 1;
                let h = y2.min(b.y() + b.height() as i32 - 1) - y1.max(b.y()) + 1;
                if merged[i] || w <= 0 || h <= 0 {
                    continue;
                }
                let inter = (w * h) as f32;
                if inter / (area1 + (b.width() * b.height()) as f32 - inter) > iou_thresh {
                    merged[i] = true;
                    score += bboxes[i].score();
                }
            }
            let mut face = bboxes[s].clone();
            face.set_score(score);
            kept.push(face);
        }
        kept
    }

    #[test]
    fn keeps_and_scores_exactly_what_the_pairwise_loop_does() {
        // A fixed pseudo-random field of boxes, clustered so that many overlap, with tied
        // scores among them.
        let mut state = 0x2545_f491_u64;
        let mut next = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        for (count, thresh) in [(0, 0.3), (1, 0.8), (400, 0.3), (2000, 0.8), (2000, 0.5)] {
            let boxes: Vec<FaceInfo> = (0..count)
                .map(|_| {
                    let (cx, cy) = (next(8) as i32 * 60, next(5) as i32 * 60);
                    let size = 20 + next(40) as u32;
                    let mut face = FaceInfo::new();
                    let b = face.bbox_mut();
                    b.set_x(cx + next(12) as i32 - 6);
                    b.set_y(cy + next(12) as i32 - 6);
                    b.set_width(size);
                    b.set_height(size);
                    face.set_score(next(50) as f64 / 7.0);
                    face
                })
                .collect();
            let mut fast = Vec::new();
            non_maximum_suppression(&mut boxes.clone(), &mut fast, thresh);
            let slow = pairwise(&mut boxes.clone(), thresh);
            let key = |f: &FaceInfo| {
                let b = f.bbox();
                (b.x(), b.y(), b.width(), b.height(), f.score().to_bits())
            };
            assert_eq!(
                fast.iter().map(key).collect::<Vec<_>>(),
                slow.iter().map(key).collect::<Vec<_>>(),
                "{count} boxes, threshold {thresh}"
            );
            // The comparison means something only if boxes were merged.
            assert!(
                count < 400 || fast.len() * 5 < count as usize * 3,
                "few merges"
            );
        }
    }
}
