//! `--shard K/N`: which part of a library one machine takes, decided by each file's name
//! alone, so machines that never talk to each other split a library between them exactly:
//! every file lands in one shard, the same one on every machine and in every run.

use sha2::{Digest, Sha256};
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    index: u64,
    count: u64,
}

impl Shard {
    /// Whether the file named `key` (its path relative to the folder given, or as given)
    /// is this shard's: the first 8 bytes of its SHA-256, modulo the shard count. A digest
    /// rather than Rust's own hasher, whose output may change between releases.
    pub fn holds(&self, key: &str) -> bool {
        let digest = Sha256::digest(key.as_bytes());
        let head = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
        head % self.count == self.index
    }

    pub fn count(&self) -> u64 {
        self.count
    }
}

impl FromStr for Shard {
    type Err = String;

    /// `K/N` with 0 ≤ K < N: the index as Kubernetes' `JOB_COMPLETION_INDEX` and a Slurm
    /// array from 0 give it.
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("--shard takes K/N with 0 ≤ K < N (e.g. 0/4 … 3/4), not {text:?}");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count): (u64, u64) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_in_exactly_one_shard_and_the_shards_are_even() {
        let shards: Vec<Shard> = (0..8).map(|k| format!("{k}/8").parse().unwrap()).collect();
        let mut sizes = [0usize; 8];
        for i in 0..8000 {
            let key = format!("album-{}/{i:05}.jpg", i / 1000);
            let holders: Vec<usize> = (0..8).filter(|&k| shards[k].holds(&key)).collect();
            assert_eq!(holders.len(), 1, "{key}: {holders:?}");
            sizes[holders[0]] += 1;
        }
        assert!(
            sizes.iter().all(|&n| (850..=1150).contains(&n)),
            "{sizes:?}"
        );
        // The same name, the same shard, on every machine and in every release (SHA-256's
        // first 8 bytes of the name, big-endian, modulo N, as any sha256 tool computes it).
        let holder = |key: &str, n: u64| {
            (0..n).find(|k| format!("{k}/{n}").parse::<Shard>().unwrap().holds(key))
        };
        assert_eq!(holder("album-0/00000.jpg", 64), Some(16));
        assert_eq!(holder("photo.jpg", 8), Some(6));
    }

    #[test]
    fn bad_shards_are_clear_errors() {
        for bad in ["4/4", "1", "a/2", "0/0", "-1/3", "1/2/3"] {
            let error = bad.parse::<Shard>().unwrap_err();
            assert!(error.contains("K/N"), "{bad}: {error}");
        }
        assert_eq!("0/1".parse::<Shard>().unwrap().count(), 1);
    }
}
