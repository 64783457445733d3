//! `genderlens bench`: native speed of the detector, the classifier and the pipeline on one
//! core.

use crate::model_arg::ModelArg;
use anyhow::{Context, Result};
use genderlens::classifier::preprocess::resize_to_input;
use genderlens::detect::FaceDetector;
use genderlens::resize::fit_within;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// A group photo to time detection on.
    #[arg(long, default_value = "tests/fixtures/solvay-1927.jpg")]
    pub image: PathBuf,
    #[arg(long, default_value_t = 50)]
    pub iterations: usize,
    #[command(flatten)]
    pub model: ModelArg,
}

#[derive(Serialize)]
struct BenchReport {
    threads: usize,
    classifier_ms_per_face_batch1: f64,
    classifier_ms_per_face_batch32: f64,
    /// One pass of the detector's network (with decoding) over the photo shrunk to 640 px
    /// wide, and at its own size.
    detector_ms_640: f64,
    detector_ms_full: f64,
    pipeline_ms_640: f64,
    detect_ms_640: f64,
    classify_ms_640: f64,
    faces_640: usize,
    pipeline_ms_full: f64,
    faces_full: usize,
    /// The photo enlarged to 4 032 px wide (a phone's 12 megapixels), the pipeline as it
    /// runs by default and searching small faces at full resolution too.
    pipeline_ms_phone: f64,
    pipeline_ms_phone_small_faces: f64,
}

fn median_ms(iterations: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?; // warm-up
    let mut times = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

pub fn run(args: BenchArgs) -> Result<()> {
    // One core, like the browser's single worker thread.
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global()
        .ok();
    let bytes =
        std::fs::read(&args.image).with_context(|| format!("reading {}", args.image.display()))?;
    let image = genderlens::decode::decode_image(&bytes)?;
    let mut pipeline = args.model.pipeline()?;
    let face = resize_to_input(&image);
    let batch: Vec<_> = (0..32).map(|_| face.clone()).collect();
    let classifier = pipeline.classifier();
    let single = median_ms(args.iterations, || {
        classifier
            .p_male(std::slice::from_ref(&face))
            .map(drop)
            .map_err(Into::into)
    })?;
    let batched = median_ms(args.iterations / 5 + 1, || {
        classifier.p_male(&batch).map(drop).map_err(Into::into)
    })? / 32.0;

    let (small, _) = fit_within(&image, 640);
    let small = small.into_owned();
    let detector = FaceDetector::new();
    let detector_640 = median_ms(args.iterations, || {
        detector.search(&small);
        Ok(())
    })?;
    let detector_full = median_ms(args.iterations / 2 + 1, || {
        detector.search(&image);
        Ok(())
    })?;
    let mut last = None;
    let pipeline_640 = median_ms(args.iterations / 5 + 1, || {
        last = Some(pipeline.analyze(&small)?);
        Ok(())
    })?;
    let analysis_640 = last.take().expect("ran");
    let pipeline_full = median_ms(args.iterations / 10 + 1, || {
        last = Some(pipeline.analyze(&image)?);
        Ok(())
    })?;
    let phone_width = 4032;
    let phone = genderlens::resize::triangle_resize(
        &image,
        phone_width,
        image.height() * phone_width / image.width().max(1),
    );
    let phone_ms = median_ms(args.iterations / 10 + 1, || {
        pipeline.analyze(&phone).map(drop).map_err(Into::into)
    })?;
    let mut thorough = args.model.pipeline()?.searching_small_faces(true);
    let phone_small_faces_ms = median_ms(args.iterations / 25 + 1, || {
        thorough.analyze(&phone).map(drop).map_err(Into::into)
    })?;
    let report = BenchReport {
        threads: 1,
        classifier_ms_per_face_batch1: single,
        classifier_ms_per_face_batch32: batched,
        detector_ms_640: detector_640,
        detector_ms_full: detector_full,
        pipeline_ms_640: pipeline_640,
        detect_ms_640: analysis_640.detect_ms,
        classify_ms_640: analysis_640.classify_ms,
        faces_640: analysis_640.faces.len(),
        pipeline_ms_full: pipeline_full,
        faces_full: last.map(|a| a.faces.len()).unwrap_or(0),
        pipeline_ms_phone: phone_ms,
        pipeline_ms_phone_small_faces: phone_small_faces_ms,
    };
    println!(
        "detector, one pass: {detector_640:.1} ms at {}×{}, {detector_full:.1} ms at {}×{}; classifier: {single:.2} ms/face (batch 1), {batched:.2} ms/face (batch 32); {}×{} photo: {pipeline_640:.1} ms ({} faces); {}×{}: {pipeline_full:.1} ms; {}×{}: {phone_ms:.1} ms, {phone_small_faces_ms:.1} ms searching small faces too",
        small.width(),
        small.height(),
        image.width(),
        image.height(),
        small.width(),
        small.height(),
        report.faces_640,
        image.width(),
        image.height(),
        phone.width(),
        phone.height()
    );
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
