//! `genderlens calibrate`: refits the temperature of an existing model on labelled crops (see
//! `measure::temperature`; `train` and `adapt` do the same when they export), and with
//! `--photos` its age-aware temperatures (`measure::age_calibration`), as `train` does.

use crate::data::detected::detect_faces;
use crate::data::folders::{FaceCache, FileList};
use crate::measure::age_calibration::{add_aged_faces, calibrate_by_age, print_age_summary};
use crate::measure::ece::CalibrationError;
use crate::measure::end_to_end::end_to_end;
use crate::measure::logits::cache_p_male;
use crate::measure::temperature::{calibrate_weights, print_summary};
use crate::model_file::update_model_json;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct CalibrateArgs {
    /// Weights to calibrate; rewritten in place with the fitted temperature.
    #[arg(long, default_value = "models/genderlens.safetensors")]
    pub model: PathBuf,
    /// Labelled face crops (`female/`, `male/`) to fit on: the validation split (the
    /// temperature is fitted on these and the `--photos`' validation faces together).
    #[arg(long, default_value = "../shared/datasets/gender/Validation")]
    pub data: PathBuf,
    /// Photos whose file names give ages, NAME=DIR (repeatable; DIR has Training/ and
    /// Validation/, as `genderlens prepare` makes them): an age probe is fitted on their
    /// training faces, and adults' and children's temperatures on every validation set,
    /// kept when they lower the largest set's calibration error.
    #[arg(long = "photos", value_name = "NAME=DIR")]
    pub photos: Vec<String>,
}

pub fn run(args: CalibrateArgs, command: &str) -> Result<()> {
    // Bad arguments fail before minutes of reading.
    let photos = args
        .photos
        .iter()
        .map(|value| match value.split_once('=') {
            Some((name, dir)) if !name.is_empty() && !dir.is_empty() => {
                Ok((name.to_string(), PathBuf::from(dir)))
            }
            _ => bail!("--photos takes NAME=DIR, not `{value}`"),
        })
        .collect::<Result<Vec<_>>>()?;
    let bytes =
        std::fs::read(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    // The photos' faces are cut as the model learned them.
    let framing = genderlens::Classifier::from_safetensors(&bytes)
        .with_context(|| format!("loading {}", args.model.display()))?
        .framing();
    let files = FileList::scan(&args.data)?;
    let crops = FaceCache::load(&files, &indicatif::ProgressBar::hidden());
    let mut validation = vec![("crops".to_string(), crops)];
    // The photos' files, to measure them end to end afterwards (crops: none).
    let mut val_files: Vec<Option<FileList>> = vec![None];
    let mut aged = (FaceCache::default(), vec![]);
    for (name, dir) in photos {
        let bar = indicatif::ProgressBar::hidden();
        let train = detect_faces(FileList::scan(&dir.join("Training"))?, framing, &bar);
        add_aged_faces(&train.files, &train.crops, &train.image_of_crop, &mut aged);
        let val = detect_faces(FileList::scan(&dir.join("Validation"))?, framing, &bar);
        validation.push((name, val.crops));
        val_files.push(Some(val.files));
    }
    // One temperature on every validation face together, as `train` fits it.
    let mut union = FaceCache::default();
    for (_, cache) in &validation {
        union.append(cache);
    }
    let names: Vec<String> = std::iter::once(args.data.display().to_string())
        .chain(args.photos.iter().cloned())
        .collect();
    let report = calibrate_weights(&args.model, &union, &names.join(", "))?;
    drop(union);
    print_summary(&report);
    let age_report = if args.photos.is_empty() {
        None
    } else {
        let sets: Vec<(String, &FaceCache)> =
            validation.iter().map(|(n, c)| (n.clone(), c)).collect();
        let age_report =
            calibrate_by_age(&args.model, &sets, (&aged.0, &aged.1), report.temperature)?;
        print_age_summary(&age_report);
        Some(age_report)
    };
    // What `train` reported of each source depends on the temperatures: measured again.
    let stored =
        std::fs::read(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    let calibrated = genderlens::Classifier::from_safetensors(&stored)?;
    let mut remeasured = vec![];
    for ((name, cache), files) in validation.iter().zip(&val_files) {
        let result = match files {
            None => {
                let p_male = cache_p_male(&calibrated, cache, false)?;
                serde_json::to_value(CalibrationError::of(&p_male, &cache.labels))?
            }
            Some(files) => {
                let measured = end_to_end(files, &args.model)?;
                let mut result = serde_json::to_value(measured.calibration)?;
                result["validation"] = serde_json::to_value(measured.metrics)?;
                result["groups"] = serde_json::to_value(measured.groups)?;
                result
            }
        };
        remeasured.push((name.clone(), result));
    }
    let json_path = args.model.with_extension("json");
    if update_model_json(&json_path, command, |json| {
        json["calibration"] = serde_json::to_value(&report)?;
        match &age_report {
            Some(age) => json["age_calibration"] = serde_json::to_value(age)?,
            None => {
                json.as_object_mut()
                    .map(|o| o.shift_remove("age_calibration"));
            }
        }
        if let Some(sources) = json["sources"].as_array_mut() {
            for source in sources {
                let Some((_, fresh)) = remeasured
                    .iter()
                    .find(|(n, _)| source["name"] == n.as_str())
                else {
                    continue;
                };
                for (key, value) in fresh.as_object().expect("an object") {
                    source[key] = value.clone();
                }
            }
        }
        Ok(())
    })? {
        println!("updated {}", json_path.display());
    }
    Ok(())
}
