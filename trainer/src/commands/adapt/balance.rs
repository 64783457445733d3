//! Moving the decision boundary so that women and men are misclassified about equally often.
//!
//! Trained on celebrity crops, the network calls older and short-haired women "male" on real
//! photos far more often than the reverse, even after `adapt`: its boundary, P(male) = ½, is not
//! the one that treats both classes alike there. One offset added to the logit difference
//! (male − female) moves it; `adapt` fits that offset on the out-of-fold logits of the photos it
//! adapts to, and measures what it does with offsets fitted without each fold (nested), so the
//! quoted accuracy never rests on an offset chosen on the same photos.

/// One face: its logit difference (male − female) and its true class (0 female, 1 male).
pub type Scored = (f32, u32);

/// The offset for the logit difference (male − female) that makes the larger of the two
/// classes' error rates as small as possible. `missed` is each class's share of images without
/// a face, wrong whatever the offset. Among equally good offsets the one with fewer errors in all
/// wins, then the one closest to zero (the network's own boundary when it is already even).
pub fn balancing_offset(faces: &[Scored], missed: [f64; 2]) -> f32 {
    let mut sorted = faces.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let count = |class| sorted.iter().filter(|f| f.1 == class).count().max(1) as f64;
    let totals = [count(0), count(1)];
    let rate = |class: usize, wrong: usize| {
        missed[class] + (1.0 - missed[class]) * wrong as f64 / totals[class]
    };
    // A face is called male when difference + offset >= 0, i.e. difference >= threshold; the
    // threshold sits between the faces at `split - 1` and `split` of the sorted list.
    let mut women_called_male = sorted.iter().filter(|f| f.1 == 0).count();
    let mut men_called_female = 0;
    let mut best: Option<((f64, f64, f32), f32)> = None;
    for split in 0..=sorted.len() {
        if split > 0 {
            match sorted[split - 1].1 {
                0 => women_called_male -= 1,
                _ => men_called_female += 1,
            }
        }
        let below = split.checked_sub(1).map(|i| sorted[i].0);
        let above = sorted.get(split).map(|f| f.0);
        let threshold = match (below, above) {
            (Some(b), Some(a)) if b == a => continue, // no boundary between equal scores
            (Some(b), Some(a)) if b < 0.0 && a >= 0.0 => 0.0,
            (Some(b), Some(a)) => (b + a) / 2.0,
            (None, Some(a)) => a.min(0.0) - 1.0,
            (Some(b), None) => b.max(0.0) + 1.0,
            (None, None) => 0.0,
        };
        let (female, male) = (rate(0, women_called_male), rate(1, men_called_female));
        let key = (female.max(male), female + male, threshold.abs());
        if best.is_none_or(|(k, _)| key < k) {
            best = Some((key, -threshold));
        }
    }
    best.map_or(0.0, |(_, offset)| offset)
}

/// For each fold, the offset fitted on the faces of every other fold: applied to its own faces,
/// it measures the balancing the way a new photo meets it.
pub fn nested_offsets(
    faces: &[Scored],
    fold_of: &[usize],
    folds: usize,
    missed: [f64; 2],
) -> Vec<f32> {
    (0..folds)
        .map(|fold| {
            let others: Vec<Scored> = faces
                .iter()
                .zip(fold_of)
                .filter(|&(_, &f)| f != fold)
                .map(|(&face, _)| face)
                .collect();
            balancing_offset(&others, missed)
        })
        .collect()
}

/// Logits (female, male) with the offset added to the male one.
pub fn shifted(logits: [f32; 2], offset: f32) -> [f32; 2] {
    [logits[0], logits[1] + offset]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faces(women: &[f32], men: &[f32]) -> Vec<Scored> {
        let women = women.iter().map(|&d| (d, 0));
        women.chain(men.iter().map(|&d| (d, 1))).collect()
    }

    fn errors(faces: &[Scored], offset: f32) -> [usize; 2] {
        let mut wrong = [0; 2];
        for &(d, class) in faces {
            if (d + offset >= 0.0) != (class == 1) {
                wrong[class as usize] += 1;
            }
        }
        wrong
    }

    #[test]
    fn an_even_boundary_is_left_where_it_is() {
        let separate = faces(&[-3.0, -2.0, -1.0, -0.5], &[0.5, 1.0, 2.0, 3.0]);
        assert_eq!(balancing_offset(&separate, [0.0; 2]), 0.0);
        assert_eq!(balancing_offset(&[], [0.0; 2]), 0.0);
    }

    #[test]
    fn women_called_men_move_the_boundary_towards_male() {
        let skewed = faces(&[-3.0, -2.0, -1.0, 0.5, 1.0], &[1.5, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(errors(&skewed, 0.0), [2, 0]);
        let offset = balancing_offset(&skewed, [0.0; 2]);
        assert_eq!(
            offset, -1.25,
            "halfway between the last woman and the first man"
        );
        assert_eq!(errors(&skewed, offset), [0, 0]);
        // The mirror image moves the other way.
        let mirrored: Vec<Scored> = skewed.iter().map(|&(d, c)| (-d, 1 - c)).collect();
        assert_eq!(balancing_offset(&mirrored, [0.0; 2]), 1.25);
    }

    #[test]
    fn the_larger_error_rate_is_minimised_not_the_total() {
        // Offset 0: 3 of 10 women wrong, no man. Threshold 0.25 leaves 2 errors, both women;
        // threshold 0.45 also 2 errors, one of each: that is the balanced one.
        let women = [-5.0, -4.0, -3.0, -2.5, -2.0, -1.5, -1.2, 0.2, 0.4, 0.6];
        let men = [0.3, 0.5, 0.7, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
        let skewed = faces(&women, &men);
        let offset = balancing_offset(&skewed, [0.0; 2]);
        assert_eq!(errors(&skewed, offset), [1, 1]);
        assert!((offset + 0.45).abs() < 1e-6, "{offset}");
    }

    #[test]
    fn images_without_a_face_count_against_their_class() {
        let faces = faces(&[-2.0, -1.0, 0.5], &[0.2, 1.0, 2.0]);
        // Offsets 0 and -0.75 leave one of three wrong on one side each: zero wins.
        assert_eq!(balancing_offset(&faces, [0.0; 2]), 0.0);
        // Men already lose a fifth of their photos to the detector: giving up the man at 0.2
        // for the woman at 0.5 would make them the worse-served class, so the boundary stays.
        assert_eq!(balancing_offset(&faces, [0.0, 0.2]), 0.0);
        // If women lose a fifth, the woman at 0.5 is won back at the man's expense.
        assert_eq!(balancing_offset(&faces, [0.2, 0.0]), -0.75);
    }

    #[test]
    fn each_folds_offset_ignores_that_folds_faces() {
        let women = [-3.0, -2.0, 0.5, 1.0, -1.0, 2.5];
        let men = [1.5, 2.0, 3.0, 4.0, -0.5, 5.0];
        let all = faces(&women, &men);
        let fold_of = [0, 1, 0, 1, 2, 2, 0, 1, 2, 0, 1, 2];
        let offsets = nested_offsets(&all, &fold_of, 3, [0.0; 2]);
        for (fold, &offset) in offsets.iter().enumerate() {
            let others: Vec<Scored> = (0..all.len())
                .filter(|&i| fold_of[i] != fold)
                .map(|i| all[i])
                .collect();
            assert_eq!(offset, balancing_offset(&others, [0.0; 2]));
        }
        // Fold 1 holds the woman at 1.0: moving her changes nothing of fold 1's offset.
        let mut changed = all.clone();
        changed[3].0 = 9.0;
        assert_eq!(
            nested_offsets(&changed, &fold_of, 3, [0.0; 2])[1],
            offsets[1]
        );
        assert_ne!(
            offsets[0], offsets[2],
            "the folds differ, so do their offsets"
        );
        assert_eq!(shifted([1.0, 2.0], -0.5), [1.0, 1.5]);
    }
}
