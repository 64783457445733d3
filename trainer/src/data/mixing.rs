//! Batches drawn from several sources at once, each with its own share of every batch.
//!
//! The sources lie one after another in one pool. Each batch takes a fixed number of faces
//! from each source (its share of the batch size, rounded by largest remainder). A source is
//! read in passes: a fresh shuffle of all its faces each pass, so within a pass no face comes
//! twice and a small source with a large share is simply read more often. Every draw is
//! decided by the seed and the batch's number alone, so a resumed run gets the same batches.
//! A face may come more than once in each pass (its repeats): scarce groups weigh more
//! without changing any source's share.

use anyhow::{bail, Result};
use rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};

pub struct Mixer {
    /// First pool index of each source's faces.
    starts: Vec<usize>,
    /// Each source's pass before shuffling: its faces (from 0), each as often as it repeats.
    unshuffled: Vec<Vec<usize>>,
    /// Faces each batch takes from each source.
    per_batch: Vec<usize>,
    seed: u64,
    /// The shuffle of the pass each source is in: (pass, order).
    passes: Vec<Option<(usize, Vec<usize>)>>,
}

impl Mixer {
    /// `repeats[i]` has one entry per face of source i (at pool indices after those of
    /// sources 0..i): how many times it comes in each pass, at least 1. `shares` sum to 1 and
    /// are each above 0.
    pub fn new(
        repeats: &[Vec<usize>],
        shares: &[f64],
        batch_size: usize,
        seed: u64,
    ) -> Result<Self> {
        if repeats.len() != shares.len() || repeats.is_empty() {
            bail!("one share per source");
        }
        if let Some(i) = repeats.iter().position(|r| r.is_empty()) {
            bail!("source {} has no faces to train on", i + 1);
        }
        if repeats.iter().flatten().any(|&r| r == 0) {
            bail!("every face comes at least once in a pass");
        }
        let per_batch = split_batch(shares, batch_size)?;
        let mut start = 0;
        let starts = repeats
            .iter()
            .map(|r| {
                start += r.len();
                start - r.len()
            })
            .collect();
        let unshuffled = repeats
            .iter()
            .map(|r| {
                r.iter()
                    .enumerate()
                    .flat_map(|(face, &times)| std::iter::repeat_n(face, times))
                    .collect()
            })
            .collect();
        Ok(Self {
            starts,
            unshuffled,
            per_batch,
            seed,
            passes: vec![None; repeats.len()],
        })
    }

    pub fn per_batch(&self) -> &[usize] {
        &self.per_batch
    }

    /// Pool indices of the faces of batch number `batch`, counted from the start of training.
    pub fn batch(&mut self, batch: usize) -> Vec<usize> {
        let mut indices = Vec::with_capacity(self.per_batch.iter().sum());
        for source in 0..self.starts.len() {
            let (start, len) = (self.starts[source], self.unshuffled[source].len());
            let take = self.per_batch[source];
            for draw in batch * take..(batch + 1) * take {
                let pass = draw / len;
                let order = self.pass(source, pass);
                indices.push(start + order[draw % len]);
            }
        }
        indices
    }

    fn pass(&mut self, source: usize, pass: usize) -> &[usize] {
        let current = &mut self.passes[source];
        if current.as_ref().is_none_or(|(p, _)| *p != pass) {
            let mut order = self.unshuffled[source].clone();
            let seed = self.seed ^ ((source as u64 + 1) << 48) ^ pass as u64;
            order.shuffle(&mut StdRng::seed_from_u64(seed));
            *current = Some((pass, order));
        }
        &current.as_ref().expect("set above").1
    }
}

/// `batch_size` split by `shares`: floors first, the rest one each to the largest remainders.
/// A source whose share rounds to nothing is an error, not a silent drop.
fn split_batch(shares: &[f64], batch_size: usize) -> Result<Vec<usize>> {
    let total: f64 = shares.iter().sum();
    if shares.iter().any(|&s| !s.is_finite() || s <= 0.0) || (total - 1.0).abs() > 1e-6 {
        bail!("shares must be above 0 and sum to 1, not {shares:?}");
    }
    let exact: Vec<f64> = shares.iter().map(|s| s * batch_size as f64).collect();
    let mut counts: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut by_remainder: Vec<usize> = (0..shares.len()).collect();
    by_remainder.sort_by(|&a, &b| {
        let rem = |i: usize| exact[i] - counts[i] as f64;
        rem(b).total_cmp(&rem(a)).then(a.cmp(&b))
    });
    let missing = batch_size - counts.iter().sum::<usize>();
    for &i in by_remainder.iter().take(missing) {
        counts[i] += 1;
    }
    if let Some(i) = counts.iter().position(|&c| c == 0) {
        bail!(
            "a share of {} is less than one face in a batch of {batch_size}",
            shares[i]
        );
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Every face once a pass.
    fn once(sizes: &[usize]) -> Vec<Vec<usize>> {
        sizes.iter().map(|&n| vec![1; n]).collect()
    }

    #[test]
    fn every_batch_has_each_sources_share() {
        let sizes = [1000, 70, 300];
        let mut mixer = Mixer::new(&once(&sizes), &[0.5, 0.25, 0.25], 64, 7).unwrap();
        assert_eq!(mixer.per_batch(), [32, 16, 16]);
        for b in 0..40 {
            let batch = mixer.batch(b);
            assert_eq!(batch.len(), 64);
            let from =
                |lo: usize, hi: usize| batch.iter().filter(|&&i| (lo..hi).contains(&i)).count();
            assert_eq!(from(0, 1000), 32);
            assert_eq!(from(1000, 1070), 16);
            assert_eq!(from(1070, 1370), 16);
        }
    }

    #[test]
    fn shares_that_do_not_divide_the_batch_round_by_largest_remainder() {
        assert_eq!(split_batch(&[0.6, 0.2, 0.2], 64).unwrap(), [38, 13, 13]);
        assert_eq!(split_batch(&[1.0 / 3.0; 3], 64).unwrap(), [22, 21, 21]);
        assert!(split_batch(&[0.999, 0.001], 64).is_err());
        assert!(split_batch(&[0.5, 0.4], 64).is_err());
        assert!(split_batch(&[1.2, -0.2], 64).is_err());
    }

    #[test]
    fn a_pass_reads_every_face_of_a_source_once() {
        // Source 1 (70 faces, 16 a batch): batches 0..=3 read its first pass' first 64.
        let mut mixer = Mixer::new(&once(&[1000, 70]), &[0.75, 0.25], 64, 3).unwrap();
        let mut seen = HashSet::new();
        let mut small = vec![];
        for b in 0..35 {
            small.extend(mixer.batch(b).into_iter().filter(|&i| i >= 1000));
        }
        // 35 batches x 16 = 560 draws = 8 passes of 70.
        for pass in small.chunks(70) {
            seen.clear();
            seen.extend(pass.iter().copied());
            assert_eq!(seen.len(), 70, "a pass repeats a face");
        }
        // The large source: 35 x 48 = 1680 draws; the first 1000 are one pass.
        let mut mixer = Mixer::new(&once(&[1000, 70]), &[0.75, 0.25], 64, 3).unwrap();
        let large: Vec<usize> = (0..35)
            .flat_map(|b| mixer.batch(b))
            .filter(|&i| i < 1000)
            .collect();
        assert_eq!(large[..1000].iter().collect::<HashSet<_>>().len(), 1000);
    }

    #[test]
    fn batches_depend_only_on_seed_and_number() {
        let mut a = Mixer::new(&once(&[500, 90]), &[0.5, 0.5], 32, 11).unwrap();
        let mut b = Mixer::new(&once(&[500, 90]), &[0.5, 0.5], 32, 11).unwrap();
        let in_order: Vec<_> = (0..20).map(|n| a.batch(n)).collect();
        // Out of order (as after --resume): the same faces.
        for n in [13, 2, 19, 0, 7] {
            assert_eq!(b.batch(n), in_order[n]);
        }
        let mut c = Mixer::new(&once(&[500, 90]), &[0.5, 0.5], 32, 12).unwrap();
        assert_ne!(c.batch(0), in_order[0]);
    }

    #[test]
    fn a_repeated_face_comes_that_many_times_a_pass() {
        // Source 1: faces 0..10 three times a pass, the other 90 once: a pass of 120 draws.
        let mut repeats = once(&[200, 100]);
        repeats[1][..10].fill(3);
        let mut mixer = Mixer::new(&repeats, &[0.5, 0.5], 40, 5).unwrap();
        let draws: Vec<usize> = (0..12)
            .flat_map(|b| mixer.batch(b))
            .filter(|&i| i >= 200)
            .map(|i| i - 200)
            .collect();
        assert_eq!(draws.len(), 240);
        for pass in draws.chunks(120) {
            for face in 0..100 {
                let times = pass.iter().filter(|&&f| f == face).count();
                assert_eq!(times, if face < 10 { 3 } else { 1 }, "face {face}");
            }
        }
        repeats[0][3] = 0;
        assert!(Mixer::new(&repeats, &[0.5, 0.5], 40, 5).is_err());
    }
}
