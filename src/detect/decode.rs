//! The heads' maps → face boxes: one candidate per cell (anchor-free), then non-maximum
//! suppression.

use super::yunet::HeadMaps;
use super::FaceBox;

/// Boxes that overlap a surer box by more than this intersection over union are the same
/// face (the value YuNet's authors evaluate with).
pub const NMS_IOU: f32 = 0.3;

/// The cells of `heads` whose score reaches `threshold`, as boxes in the input's pixels.
/// A cell's score is √(σ(class) · σ(objectness)); its box centre is offset from the cell's
/// corner by the box maps (in strides), its sides are exp(map) strides, and each landmark
/// is offset from the cell's corner like the centre.
pub fn candidates(heads: &[HeadMaps], threshold: f32) -> Vec<FaceBox> {
    let mut found = Vec::new();
    for head in heads {
        let s = head.stride as f32;
        for row in 0..head.rows {
            for col in 0..head.cols {
                let at = |m: usize| head.at(m, row, col);
                let score = (sigmoid(at(0)) * sigmoid(at(1))).sqrt();
                // A NaN score is no face either.
                if score.is_nan() || score < threshold {
                    continue;
                }
                let (cx, cy) = ((col as f32 + at(2)) * s, (row as f32 + at(3)) * s);
                let (width, height) = (at(4).exp() * s, at(5).exp() * s);
                let landmarks = std::array::from_fn(|i| {
                    [
                        (col as f32 + at(6 + 2 * i)) * s,
                        (row as f32 + at(7 + 2 * i)) * s,
                    ]
                });
                found.push(FaceBox {
                    x: cx - width / 2.0,
                    y: cy - height / 2.0,
                    width,
                    height,
                    score,
                    landmarks,
                });
            }
        }
    }
    found
}

fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

/// Greedy non-maximum suppression: the surest box first, then every box that overlaps none
/// kept so far by more than `iou`. Most confident first.
pub fn suppress_overlaps(mut boxes: Vec<FaceBox>, iou: f32) -> Vec<FaceBox> {
    boxes.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<FaceBox> = Vec::with_capacity(boxes.len().min(64));
    for candidate in boxes {
        if kept.iter().all(|k| k.iou(&candidate) <= iou) {
            kept.push(candidate);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(
        stride: usize,
        rows: usize,
        cols: usize,
        cell: (usize, usize),
        values: [f32; 16],
    ) -> HeadMaps {
        // Every other cell is sure there is no face.
        let mut maps = vec![-20f32; 16 * rows * cols];
        for (m, v) in values.iter().enumerate() {
            maps[(m * rows + cell.0) * cols + cell.1] = *v;
        }
        HeadMaps {
            stride,
            rows,
            cols,
            maps,
        }
    }

    #[test]
    fn a_cell_becomes_a_box_around_its_offset_centre() {
        let mut values = [0f32; 16];
        values[..6].copy_from_slice(&[4.0, 4.0, 0.5, 0.25, 1f32.ln(), 2f32.ln()]);
        for (i, v) in values[6..].iter_mut().enumerate() {
            *v = i as f32 * 0.1;
        }
        let heads = [head(8, 4, 5, (2, 3), values)];
        let found = candidates(&heads, 0.5);
        assert_eq!(found.len(), 1);
        let f = found[0];
        let score = 1.0 / (1.0 + (-4f32).exp());
        assert!((f.score - score).abs() < 1e-6);
        // Centre (3.5, 2.25) cells = (28, 18) px; 8 × 16 px.
        assert_eq!((f.x, f.y, f.width, f.height), (24.0, 10.0, 8.0, 16.0));
        assert!((f.landmarks[0][0] - 24.0).abs() < 1e-5 && (f.landmarks[0][1] - 16.8).abs() < 1e-5);
        assert!((f.landmarks[4][0] - 30.4).abs() < 1e-5 && (f.landmarks[4][1] - 23.2).abs() < 1e-5);
        assert!(candidates(&heads, 0.99).is_empty());
    }

    #[test]
    fn suppression_keeps_the_surest_of_overlapping_boxes() {
        let b = |x: f32, score: f32| FaceBox {
            x,
            y: 0.0,
            width: 10.0,
            height: 10.0,
            score,
            landmarks: [[0.0; 2]; 5],
        };
        // 2 overlaps 1 by IoU 0.67; 3 overlaps 2 by 0.43 but 1 only by 0.25; 4 is apart.
        let kept = suppress_overlaps(
            vec![b(2.0, 0.8), b(0.0, 0.9), b(6.0, 0.7), b(40.0, 0.6)],
            NMS_IOU,
        );
        let xs: Vec<f32> = kept.iter().map(|k| k.x).collect();
        assert_eq!(xs, [0.0, 6.0, 40.0]);
    }
}
