//! PNG charts of a training run: loss and accuracy per epoch, and the confusion matrix.
//! Text is drawn with an embedded DejaVu font, so the charts look the same on every machine
//! and need no system fonts.

use crate::model_file::EpochRecord;
use anyhow::{anyhow, Context, Result};
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const FONT: &str = "sans-serif";

const CLASSES: [&str; 2] = ["female", "male"];

/// Line colours of the two curves in each panel.
pub const TRAINING_COLOUR: RGBColor = BLUE;

pub const VALIDATION_COLOUR: RGBColor = RED;

/// Background of the epochs trained on smaller faces (`train --low-res-epochs`).
pub const LOW_RES_SHADE: RGBColor = RGBColor(228, 228, 228);

fn font_registered() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok());
    ok.then_some(())
        .ok_or_else(|| anyhow!("the embedded chart font did not load"))
}

/// Draws into an RGB buffer of `size` and writes it to `path` as PNG.
fn render_png(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(DrawingArea<BitMapBackend, plotters::coord::Shift>) -> Result<()>,
) -> Result<()> {
    font_registered()?;
    let mut pixels = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area();
        root.fill(&WHITE)?;
        draw(root.clone())?;
        root.present()?;
    }
    let image = image::RgbImage::from_raw(size.0, size.1, pixels)
        .ok_or_else(|| anyhow!("chart buffer has the wrong size"))?;
    image
        .save(path)
        .with_context(|| format!("writing {}", path.display()))
}

/// Loss (left) and accuracy (right) per epoch, training and validation.
pub fn training_curves(history: &[EpochRecord], path: &Path) -> Result<()> {
    if history.is_empty() {
        return Err(anyhow!("no epochs to plot"));
    }
    let epochs = history.len();
    let full_side = history.iter().map(|p| p.input_side).max().unwrap_or(0);
    let low_res: Vec<&EpochRecord> = history
        .iter()
        .filter(|p| p.input_side < full_side)
        .collect();
    let x_desc = match low_res.first() {
        Some(p) => format!("epoch (shaded: trained on {} px faces)", p.input_side),
        None => "epoch".to_string(),
    };
    render_png(path, (1000, 420), |root| {
        let panels = root.split_evenly((1, 2));
        type Pick = fn(&EpochRecord) -> (f64, f64);
        // Training numbers are measured on augmented batches (and the loss with label
        // smoothing), so they sit below validation; the legend goes where the curves are not.
        let specs: [(&str, Pick, SeriesLabelPosition); 2] = [
            (
                "loss",
                |p| (p.train_loss, p.val_loss),
                SeriesLabelPosition::UpperRight,
            ),
            (
                "accuracy",
                |p| (p.train_accuracy, p.val_accuracy),
                SeriesLabelPosition::LowerRight,
            ),
        ];
        for (panel, (name, pick, legend_at)) in panels.iter().zip(specs) {
            let values: Vec<(f64, f64)> = history.iter().map(pick).collect();
            let (lo, hi) = values
                .iter()
                .flat_map(|&(t, v)| [t, v])
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
                    (lo.min(x), hi.max(x))
                });
            let pad = ((hi - lo) * 0.08).max(1e-3);
            let mut chart = ChartBuilder::on(panel)
                .caption(format!("{name} per epoch"), (FONT, 22))
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(56)
                .build_cartesian_2d(0.5f64..epochs as f64 + 0.5, (lo - pad)..(hi + pad))?;
            // Shaded first, so the curves and grid stay on top.
            chart.draw_series(low_res.iter().map(|p| {
                let x = p.epoch as f64;
                Rectangle::new(
                    [(x - 0.5, lo - pad), (x + 0.5, hi + pad)],
                    LOW_RES_SHADE.filled(),
                )
            }))?;
            chart
                .configure_mesh()
                .x_desc(x_desc.as_str())
                .x_labels(epochs.min(12))
                .x_label_formatter(&|x| format!("{x:.0}"))
                .y_label_formatter(&|y| format!("{y:.3}"))
                .label_style((FONT, 14))
                .draw()?;
            for (label, colour, take) in [
                ("training", TRAINING_COLOUR, 0usize),
                ("validation", VALIDATION_COLOUR, 1usize),
            ] {
                let points = history
                    .iter()
                    .zip(&values)
                    .map(|(p, v)| (p.epoch as f64, if take == 0 { v.0 } else { v.1 }));
                chart
                    .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))?
                    .label(label)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
                    });
                chart.draw_series(points.map(|xy| Circle::new(xy, 3, colour.filled())))?;
            }
            chart
                .configure_series_labels()
                .position(legend_at)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font((FONT, 14))
                .draw()?;
        }
        Ok(())
    })
}

/// Rows are the true class, columns the predicted one; each cell shows its count and its
/// share of the row, shaded by that share.
pub fn confusion_matrix(
    classes: [&str; 2],
    confusion: &[[usize; 2]; 2],
    path: &Path,
) -> Result<()> {
    let cell = 170i32;
    let (left, top) = (150i32, 90i32);
    let size = ((left + 2 * cell + 30) as u32, (top + 2 * cell + 30) as u32);
    render_png(path, size, |root| {
        let text = |size: u32| TextStyle::from((FONT, size).into_font()).color(&BLACK);
        let centred = |size: u32| {
            text(size).pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Center,
                plotters::style::text_anchor::VPos::Center,
            ))
        };
        root.draw(&Text::new(
            "confusion matrix (validation)",
            (left - 130, 12),
            text(20),
        ))?;
        root.draw(&Text::new(
            "predicted",
            (left + cell, top - 50),
            centred(16),
        ))?;
        for (i, class) in classes.iter().enumerate() {
            let offset = i as i32 * cell + cell / 2;
            root.draw(&Text::new(*class, (left + offset, top - 22), centred(16)))?;
            root.draw(&Text::new(
                format!("true {class}"),
                (left / 2, top + offset),
                centred(16),
            ))?;
        }
        for (row, counts) in confusion.iter().enumerate() {
            let total = counts.iter().sum::<usize>().max(1) as f64;
            for (col, &count) in counts.iter().enumerate() {
                let share = count as f64 / total;
                let shade = (255.0 * (1.0 - 0.75 * share)) as u8;
                let (x, y) = (left + col as i32 * cell, top + row as i32 * cell);
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell, y + cell)],
                    RGBColor(shade, shade, 255).filled(),
                ))?;
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell, y + cell)],
                    BLACK.stroke_width(1),
                ))?;
                let (cx, cy) = (x + cell / 2, y + cell / 2);
                let ink = if share > 0.5 { WHITE } else { BLACK };
                root.draw(&Text::new(
                    count.to_string(),
                    (cx, cy - 14),
                    centred(26).color(&ink),
                ))?;
                root.draw(&Text::new(
                    format!("{:.2} %", 100.0 * share),
                    (cx, cy + 18),
                    centred(16).color(&ink),
                ))?;
            }
        }
        Ok(())
    })
}

/// Where the charts of a model report `DIR/NAME.json` go: `DIR/NAME-curves.png` and
/// `DIR/NAME-confusion.png`.
pub fn chart_paths(report: &Path) -> (PathBuf, PathBuf) {
    let stem = report.file_stem().unwrap_or_default().to_string_lossy();
    let dir = report.parent().unwrap_or(Path::new("."));
    (
        dir.join(format!("{stem}-curves.png")),
        dir.join(format!("{stem}-confusion.png")),
    )
}

/// Draws both charts from a model report written by `train`.
pub fn charts_from_report(report: &Path) -> Result<(PathBuf, PathBuf)> {
    #[derive(serde::Deserialize)]
    struct Validation {
        confusion: [[usize; 2]; 2],
    }
    #[derive(serde::Deserialize)]
    struct Report {
        history: Vec<EpochRecord>,
        validation: Validation,
    }
    let text = std::fs::read_to_string(report)
        .with_context(|| format!("reading the model report {}", report.display()))?;
    let parsed: Report = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a model report from `train`", report.display()))?;
    let (curves, confusion) = chart_paths(report);
    training_curves(&parsed.history, &curves)?;
    confusion_matrix(CLASSES, &parsed.validation.confusion, &confusion)?;
    Ok((curves, confusion))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pixel(path: &Path, x: u32, y: u32) -> [u8; 3] {
        image::open(path).unwrap().to_rgb8().get_pixel(x, y).0
    }

    #[test]
    fn confusion_cells_are_shaded_by_their_share_of_the_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.png");
        confusion_matrix(CLASSES, &[[90, 10], [40, 60]], &path).unwrap();
        // Near the top-left corner of each cell, away from its text.
        let shade = |row: u32, col: u32| pixel(&path, 150 + col * 170 + 8, 90 + row * 170 + 8)[0];
        assert!(shade(0, 0) < shade(1, 1), "90 % darker than 60 %");
        assert!(shade(1, 1) < shade(1, 0), "60 % darker than 40 %");
        assert!(shade(1, 0) < shade(0, 1), "40 % darker than 10 %");
    }

    #[test]
    fn curves_draw_both_series_shade_small_face_epochs_and_refuse_an_empty_history() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.png");
        assert!(training_curves(&[], &path).is_err());
        let history: Vec<EpochRecord> = (1..=4)
            .map(|epoch| EpochRecord {
                epoch,
                input_side: if epoch <= 2 { 48 } else { 64 },
                train_loss: 1.0 / epoch as f64,
                train_accuracy: 1.0 - 0.3 / epoch as f64,
                train_age_loss: None,
                val_loss: 0.8 / epoch as f64,
                val_accuracy: 1.0 - 0.2 / epoch as f64,
                seconds: 1.0,
                images_per_second: 1.0,
                sources: vec![],
            })
            .collect();
        training_curves(&history, &path).unwrap();
        let image = image::open(&path).unwrap().to_rgb8();
        let count = |colour: RGBColor| {
            image
                .pixels()
                .filter(|p| p.0 == [colour.0, colour.1, colour.2])
                .count()
        };
        assert!(count(TRAINING_COLOUR) > 500, "training curve drawn");
        assert!(count(VALIDATION_COLOUR) > 500, "validation curve drawn");
        assert!(count(LOW_RES_SHADE) > 10_000, "the two 48 px epochs shaded");
    }
}
