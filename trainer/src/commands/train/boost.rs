//! `--boost AGES[:SEX]=TIMES`: faces of a group that a source's file names mark (its age, and
//! its class) come TIMES as often in each pass over their source, so scarce groups (children,
//! older women) weigh more without changing any source's share of a batch.

use super::sources::Source;
use anyhow::{bail, Context, Result};
use genderlens::classifier::model::CLASSES;
use std::ops::RangeInclusive;

#[derive(Clone, Debug, PartialEq)]
pub struct Boost {
    ages: RangeInclusive<u32>,
    /// A class index in [`CLASSES`] order, or every class.
    class: Option<u32>,
    times: usize,
}

impl std::str::FromStr for Boost {
    type Err = anyhow::Error;

    /// `0-15=2` (every face aged 0 to 15, twice), `60+:female=3`.
    fn from_str(value: &str) -> Result<Self> {
        let usage = || {
            format!("--boost takes AGES[:SEX]=TIMES, e.g. 0-15=2 or 60+:female=3, not `{value}`")
        };
        let (group, times) = value.split_once('=').with_context(usage)?;
        let times: usize = times.parse().ok().filter(|&t| t >= 1).with_context(usage)?;
        let (ages, class) = match group.split_once(':') {
            Some((ages, sex)) => {
                let Some(class) = CLASSES.iter().position(|c| *c == sex) else {
                    bail!("--boost {value}: the sex is one of {}", CLASSES.join(", "));
                };
                (ages, Some(class as u32))
            }
            None => (group, None),
        };
        let ages = match (ages.strip_suffix('+'), ages.split_once('-')) {
            (Some(low), _) => low.parse().ok().map(|low| low..=u32::MAX),
            (None, Some((low, high))) => {
                low.parse().ok().zip(high.parse().ok()).map(|(l, h)| l..=h)
            }
            (None, None) => None,
        }
        .filter(|range| !range.is_empty())
        .with_context(usage)?;
        Ok(Self { ages, class, times })
    }
}

/// How many times a face comes in each pass over its source: the largest TIMES of the boosts
/// its age and class match, 1 when none does or its age is unknown.
pub fn repeats(boosts: &[Boost], age: Option<u32>, class: u32) -> usize {
    let Some(age) = age else {
        return 1;
    };
    boosts
        .iter()
        .filter(|b| b.ages.contains(&age) && b.class.is_none_or(|c| c == class))
        .map(|b| b.times)
        .max()
        .unwrap_or(1)
}

/// Each source's training faces' repeats, from their ages (`Split::ages`, one list per
/// source); prints how many faces each source draws more often.
pub fn source_repeats(
    boosts: &[Boost],
    sources: &[Source],
    ages: &[Vec<Option<u32>>],
) -> Vec<Vec<usize>> {
    sources
        .iter()
        .zip(ages)
        .map(|(source, ages)| {
            let labels = &source.train.faces.labels;
            let repeats: Vec<usize> = ages
                .iter()
                .zip(labels)
                .map(|(&age, &class)| repeats(boosts, age, class))
                .collect();
            let boosted = repeats.iter().filter(|&&r| r > 1).count();
            if boosted > 0 {
                println!(
                    "{}: {boosted} of {} faces boosted, {} draws a pass",
                    source.name,
                    repeats.len(),
                    repeats.iter().sum::<usize>()
                );
            }
            repeats
        })
        .collect()
}

pub fn parse_all(boosts: &[String]) -> Result<Vec<Boost>> {
    boosts.iter().map(|b| b.parse()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::groups::age_and_race;
    use std::path::Path;

    #[test]
    fn boosts_match_age_and_sex_from_the_file_name() {
        let boosts: Vec<Boost> = ["0-15=2", "60+:female=3", "70+=4"]
            .iter()
            .map(|b| b.parse().unwrap())
            .collect();
        let utk = |name: &str| age_and_race(&Path::new("Training/female").join(name)).0;
        // UTKFace: age_gender_race_date; All-Age-Faces: number A age.
        assert_eq!(repeats(&boosts, utk("9_1_2_2017.jpg.chip.jpg"), 0), 2);
        assert_eq!(repeats(&boosts, utk("16_1_2_2017.jpg.chip.jpg"), 0), 1);
        assert_eq!(repeats(&boosts, utk("64_1_0_2017.jpg.chip.jpg"), 0), 3);
        assert_eq!(repeats(&boosts, utk("64_0_0_2017.jpg.chip.jpg"), 1), 1);
        assert_eq!(repeats(&boosts, utk("00123A61.jpg"), 0), 3);
        assert_eq!(repeats(&boosts, utk("00123A75.jpg"), 0), 4);
        assert_eq!(repeats(&boosts, utk("00123A75.jpg"), 1), 4);
        // Kaggle crops carry no age.
        assert_eq!(repeats(&boosts, utk("031234.jpg"), 0), 1);
    }

    #[test]
    fn malformed_boosts_are_refused() {
        for bad in [
            "0-15",
            "0-15=0",
            "0-15=x",
            "15-0=2",
            "old=2",
            "60+:woman=2",
            "=2",
            "60=2",
        ] {
            assert!(bad.parse::<Boost>().is_err(), "{bad}");
        }
        let b: Boost = "60+:male=3".parse().unwrap();
        assert_eq!((b.class, b.times), (Some(1), 3));
    }
}
