//! The model card's table: accuracy, `uncertain` answers and the accuracy of the rest, overall
//! and by sex, race and age band. Race and age come from UTKFace file names
//! (`age_gender_race_date…`), age also from All-Age-Faces names (`00123A45.jpg`: 45 years);
//! files named otherwise count in the "unknown" rows.

use crate::data::folders::FileList;
use crate::measure::ece::CalibrationError;
use crate::measure::metrics::class_of;
use crate::measure::outcome::Outcome;
use genderlens::classifier::calibration::UNCERTAIN;
use genderlens::classifier::model::CLASSES;
use serde::Serialize;
use std::path::Path;

/// UTKFace race codes, in code order.
pub const RACES: [&str; 5] = ["White", "Black", "Asian", "Indian", "Other"];

pub const AGE_BANDS: [(&str, u32, u32); 5] = [
    ("under 16", 0, 15),
    ("16–29", 16, 29),
    ("30–44", 30, 44),
    ("45–59", 45, 59),
    ("60+", 60, u32::MAX),
];

/// Sex and age band together (women 60 and over are a group of their own), in
/// [`CLASSES`] × [`AGE_BANDS`] order, then unknown ages.
const SEX_AND_AGE: [&str; 12] = [
    "female under 16",
    "female 16–29",
    "female 30–44",
    "female 45–59",
    "female 60+",
    "male under 16",
    "male 16–29",
    "male 30–44",
    "male 45–59",
    "male 60+",
    "female unknown",
    "male unknown",
];

/// One row of the table.
#[derive(Clone, Debug, Default, Serialize)]
pub struct GroupRow {
    pub group: String,
    pub value: String,
    pub images: usize,
    pub faces_found: usize,
    /// Correct / images (no face counts as wrong).
    pub accuracy: f64,
    /// Share of images whose face was labelled "uncertain".
    pub uncertain: f64,
    /// Accuracy over the faces not labelled "uncertain".
    pub accuracy_when_certain: f64,
}

/// Age and race from a UTKFace file name, or age from an All-Age-Faces one, if it has
/// that form.
pub fn age_and_race(path: &Path) -> (Option<u32>, Option<usize>) {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if let Some((id, age)) = name.split('.').next().and_then(|stem| stem.split_once('A')) {
        if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
            return (age.parse().ok(), None);
        }
    }
    let mut parts = name.split('_');
    let age = parts.next().and_then(|a| a.parse().ok());
    let race = parts
        .nth(1)
        .and_then(|r| r.parse::<usize>().ok())
        .filter(|&r| r < RACES.len());
    (age, race)
}

/// Children split at three: babies' apparent sex is a different question from a child's
/// (the targets ask 3–15 for a figure, under 3 only reported).
pub fn child_band(age: Option<u32>) -> &'static str {
    match age {
        Some(0..=2) => "under 3",
        Some(3..=15) => "3–15",
        _ => "",
    }
}

pub fn age_band(age: Option<u32>) -> &'static str {
    age.and_then(|a| {
        AGE_BANDS
            .iter()
            .find(|(_, lo, hi)| (*lo..=*hi).contains(&a))
    })
    .map_or("unknown", |(name, _, _)| name)
}

/// A grouping of the report: its name, its values in table order, and each image's value.
pub type GroupBy = (
    &'static str,
    Vec<&'static str>,
    fn(&Labelled) -> &'static str,
);

pub struct Labelled<'a> {
    pub truth: u32,
    pub sex: &'static str,
    pub race: &'static str,
    pub age: &'static str,
    pub child: &'static str,
    pub sex_and_age: &'static str,
    pub outcome: &'a Outcome,
}

pub fn row(group: &str, value: &str, members: &[&Labelled]) -> GroupRow {
    let faces: Vec<_> = members
        .iter()
        .filter_map(|m| match m.outcome {
            Outcome::Face(face) => Some((m.truth, face)),
            _ => None,
        })
        .collect();
    let correct = members
        .iter()
        .filter(|m| m.outcome.predicted_or_wrong(m.truth) == m.truth)
        .count();
    let certain: Vec<_> = faces
        .iter()
        .filter(|(_, f)| f.verdict.label != UNCERTAIN)
        .collect();
    let certain_correct = certain
        .iter()
        .filter(|(t, f)| class_of(f.p_male) == *t)
        .count();
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    GroupRow {
        group: group.into(),
        value: value.into(),
        images: members.len(),
        faces_found: faces.len(),
        accuracy: ratio(correct, members.len()),
        uncertain: ratio(faces.len() - certain.len(), members.len()),
        accuracy_when_certain: ratio(certain_correct, certain.len()),
    }
}

/// The table: everything, then by sex, race and age band (values in a fixed order, each
/// listed only when it has images).
pub fn group_rows(files: &FileList, outcomes: &[Outcome]) -> Vec<GroupRow> {
    let labelled: Vec<Labelled> = files
        .files
        .iter()
        .zip(outcomes)
        .map(|((path, truth), outcome)| {
            let (age, race) = age_and_race(path);
            let band = AGE_BANDS.iter().position(|b| b.0 == age_band(age));
            Labelled {
                truth: *truth,
                sex: CLASSES[*truth as usize],
                race: race.map_or("unknown", |r| RACES[r]),
                age: age_band(age),
                child: child_band(age),
                sex_and_age: SEX_AND_AGE[band
                    .map_or(CLASSES.len() * AGE_BANDS.len() + *truth as usize, |b| {
                        *truth as usize * AGE_BANDS.len() + b
                    })],
                outcome,
            }
        })
        .collect();
    let mut rows = vec![row("all", "all", &labelled.iter().collect::<Vec<_>>())];
    let groups: [GroupBy; 6] = [
        ("sex", CLASSES.to_vec(), |l| l.sex),
        (
            "race",
            RACES.iter().chain(["unknown"].iter()).copied().collect(),
            |l| l.race,
        ),
        (
            "age",
            AGE_BANDS.iter().map(|b| b.0).chain(["unknown"]).collect(),
            |l| l.age,
        ),
        ("adults", vec!["16 and over"], |l| {
            if matches!(l.age, "under 16" | "unknown") {
                ""
            } else {
                "16 and over"
            }
        }),
        ("children", vec!["under 3", "3–15"], |l| l.child),
        ("sex and age", SEX_AND_AGE.to_vec(), |l| l.sex_and_age),
    ];
    for (group, values, key) in groups {
        for value in values {
            let members: Vec<&Labelled> = labelled.iter().filter(|l| key(l) == value).collect();
            if !members.is_empty() {
                rows.push(row(group, value, &members));
            }
        }
    }
    rows
}

/// Calibration error of the probabilities of the images where a face was found.
pub fn faces_calibration_error(files: &FileList, outcomes: &[Outcome]) -> CalibrationError {
    let (p_male, truth): (Vec<f32>, Vec<u32>) = outcomes
        .iter()
        .zip(&files.files)
        .filter_map(|(o, (_, t))| match o {
            Outcome::Face(face) => Some((face.p_male, *t)),
            _ => None,
        })
        .unzip();
    CalibrationError::of(&p_male, &truth)
}

/// The rows as a Markdown table (the model card's format).
pub fn print_table(rows: &[GroupRow]) {
    println!(
        "| group | value | images | faces found | accuracy | uncertain | accuracy when certain |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {:.1} % | {:.1} % | {:.1} % |",
            r.group,
            r.value,
            r.images,
            r.faces_found,
            100.0 * r.accuracy,
            100.0 * r.uncertain,
            100.0 * r.accuracy_when_certain
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utk_file_names_give_age_and_race() {
        let path = Path::new("utk/female/34_1_3_20170104222422274.jpg.chip.jpg");
        assert_eq!(age_and_race(path), (Some(34), Some(3)));
        assert_eq!(age_band(Some(34)), "30–44");
        assert_eq!(age_band(Some(16)), "16–29");
        assert_eq!(age_band(Some(15)), "under 16");
        assert_eq!(age_band(Some(60)), "60+");
        assert_eq!(
            [0, 2, 3, 15, 16].map(|a| child_band(Some(a))),
            ["under 3", "under 3", "3–15", "3–15", ""]
        );
        assert_eq!(child_band(None), "");
        assert_eq!(age_and_race(Path::new("x/holiday.jpg")), (None, None));
        assert_eq!(age_and_race(Path::new("x/Alice.jpg")), (None, None));
        assert_eq!(
            age_and_race(Path::new("aaf/female/01234A62.jpg")),
            (Some(62), None)
        );
        assert_eq!(age_and_race(Path::new("x/20_0_9_1.jpg")).1, None);
    }
}
