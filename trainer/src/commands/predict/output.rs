//! What `predict` writes per image, in the three forms it streams or collects: JSON lines,
//! CSV rows (one per face) and one JSON array; and, for `--resume`, which images a stream
//! written earlier already holds.

use anyhow::{Context, Result};
use genderlens::Face;
use serde::Serialize;
use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// One image's result: its faces, or why it could not be analysed.
#[derive(Serialize)]
pub struct ImageResult {
    pub file: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub faces: Vec<Face>,
    pub error: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Format {
    JsonLines,
    Csv,
}

const CSV_HEADER: [&str; 24] = [
    "file",
    "width",
    "height",
    "face",
    "x",
    "y",
    "w",
    "h",
    "label",
    "likely",
    "confidence",
    "p_male",
    "detector_score",
    // The detector's five points (the person's right eye first: on the image's left).
    "right_eye_x",
    "right_eye_y",
    "left_eye_x",
    "left_eye_y",
    "nose_x",
    "nose_y",
    "mouth_right_x",
    "mouth_right_y",
    "mouth_left_x",
    "mouth_left_y",
    "error",
];

/// The text of `results` in `format`: whole lines only, so a stream written with one call per
/// batch holds whole images.
pub fn render(results: &[ImageResult], format: Format) -> Result<String> {
    match format {
        Format::JsonLines => {
            let mut text = String::new();
            for result in results {
                text += &serde_json::to_string(result)?;
                text.push('\n');
            }
            Ok(text)
        }
        Format::Csv => {
            let mut writer = csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(vec![]);
            for result in results {
                for row in csv_rows(result) {
                    writer.write_record(&row)?;
                }
            }
            Ok(String::from_utf8(writer.into_inner()?)?)
        }
    }
}

/// One row per face; an image without faces, or with an error, gets one row of its own.
fn csv_rows(result: &ImageResult) -> Vec<Vec<String>> {
    let size = |v: Option<u32>| v.map_or(String::new(), |v| v.to_string());
    let image = [result.file.clone(), size(result.width), size(result.height)];
    let error = result.error.clone().unwrap_or_default();
    if result.faces.is_empty() {
        let mut row = image.to_vec();
        row.extend(std::iter::repeat_n(String::new(), CSV_HEADER.len() - 4));
        row.push(error);
        return vec![row];
    }
    result
        .faces
        .iter()
        .enumerate()
        .map(|(i, face)| {
            let [x, y, w, h] = face.bbox.map(|v| format!("{v:.1}"));
            let mut row = image.to_vec();
            row.extend([
                (i + 1).to_string(),
                x,
                y,
                w,
                h,
                face.verdict.label.to_string(),
                face.verdict.likely.to_string(),
                format!("{:.4}", face.verdict.confidence),
                format!("{:.4}", face.p_male),
                face.detector_score
                    .map_or(String::new(), |s| format!("{s:.3}")),
            ]);
            let points = face.landmarks.map(|points| points.concat());
            row.extend((0..10).map(|i| {
                points
                    .as_ref()
                    .map_or(String::new(), |p| format!("{:.1}", p[i]))
            }));
            row.push(error.clone());
            row
        })
        .collect()
}

/// The header a new stream starts with (CSV only).
pub fn header(format: Format) -> String {
    match format {
        Format::JsonLines => String::new(),
        Format::Csv => CSV_HEADER.join(",") + "\n",
    }
}

/// Opens `path` to continue a stream written earlier: cuts off what an interrupted process
/// may have left unfinished (a partial last line; in CSV also the last image's rows, which
/// may be incomplete) and returns the images it holds in full.
pub fn resume(path: &Path, format: Format) -> Result<HashSet<String>> {
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .with_context(|| format!("opening {} to resume", path.display()))?;
    let mut bytes = vec![];
    file.read_to_end(&mut bytes)?;
    // Whole lines only.
    let mut keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let text = std::str::from_utf8(&bytes[..keep])
        .with_context(|| format!("{} is not a text stream of `predict`", path.display()))?;
    let mut done = HashSet::new();
    match format {
        Format::JsonLines => {
            for (number, line) in text.lines().enumerate() {
                let value: serde_json::Value = serde_json::from_str(line).with_context(|| {
                    format!(
                        "{} line {}: not a JSON line of `predict`",
                        path.display(),
                        number + 1
                    )
                })?;
                let file = value["file"].as_str().with_context(|| {
                    format!("{} line {}: no \"file\"", path.display(), number + 1)
                })?;
                done.insert(file.to_string());
            }
        }
        Format::Csv => {
            let rows =
                csv_rows_of(text).with_context(|| format!("{} is not CSV", path.display()))?;
            // The last image may have lost rows to the interruption: its rows are cut off
            // and it is analysed again.
            if let Some((_, last)) = rows.last() {
                let first_of_last = rows
                    .iter()
                    .rposition(|(_, f)| f != last)
                    .map_or(0, |i| i + 1);
                keep = rows[first_of_last].0;
                done.extend(rows[..first_of_last].iter().map(|(_, f)| f.clone()));
            }
        }
    }
    file.set_len(keep as u64)?;
    file.seek(SeekFrom::End(0))?;
    Ok(done)
}

/// The byte offset and file of each row of a CSV `text` of whole lines, after its header.
fn csv_rows_of(text: &str) -> Result<Vec<(usize, String)>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    let mut rows = vec![];
    loop {
        let start = reader.position().byte() as usize;
        if !reader.read_record(&mut record)? {
            break;
        }
        rows.push((start, record.get(0).unwrap_or_default().to_string()));
    }
    Ok(rows.into_iter().skip(1).collect())
}

/// Appends `text` in one write, so that an interruption leaves whole batches or a partial
/// last line that `resume` cuts off.
pub fn append(out: &mut dyn Write, text: &str) -> Result<()> {
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}
