//! `genderlens`: train, evaluate and run the GenderLens classifier.

mod charts;
mod commands;
mod data;
mod digest;
mod measure;
mod model_arg;
mod model_file;
mod training;

use clap::{Parser, Subcommand};
use commands::{
    adapt, bench, bench_train, calibrate, eval, import_detector, plot, predict, prepare, quantize,
    report, train,
};

#[derive(Parser)]
#[command(
    name = "genderlens",
    version,
    about = "Face gender classification: train, eval, predict"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train the classifier on a dataset in the Kaggle folder layout.
    Train(train::TrainArgs),
    /// Measure accuracy on a labelled folder (`female/`, `male/`).
    Eval(eval::EvalArgs),
    /// Find and classify the faces in image files.
    Predict(predict::PredictArgs),
    /// Turn a public data set of everyday faces into the folders `train` reads.
    Prepare(prepare::PrepareArgs),
    /// Time the classifier and the pipeline on one core.
    Bench(bench::BenchArgs),
    /// Training throughput of our network and of the original architecture.
    BenchTrain(bench_train::BenchTrainArgs),
    /// Fine-tune a model on labelled photos of its target domain, cross-validated.
    Adapt(adapt::AdaptArgs),
    /// Fit the probability calibration (temperature) of a model on labelled crops.
    Calibrate(calibrate::CalibrateArgs),
    /// Store an existing model's large convolutions in 8 bits, re-measuring its metrics.
    Quantize(quantize::QuantizeArgs),
    /// Accuracy of the full pipeline on a labelled folder by sex, race and age band.
    Report(report::ReportArgs),
    /// Write the face detector's weights (YuNet-s) from its ONNX file.
    ImportDetector(import_detector::ImportDetectorArgs),
    /// Draw the training curves and confusion matrix of a model report as PNG.
    Plot(plot::PlotArgs),
}

fn main() {
    tune_allocator();
    if let Err(error) = run(Cli::parse()) {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    // Recorded beside the weights: the program name, not where this binary happens to live.
    let command_line = std::iter::once("genderlens".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    match cli.command {
        Command::Train(args) => train::run(args, command_line),
        Command::Eval(args) => eval::run(args),
        Command::Predict(args) => predict::run(args),
        Command::Prepare(args) => prepare::run(args),
        Command::Bench(args) => bench::run(args),
        Command::BenchTrain(args) => bench_train::run(args),
        Command::Adapt(args) => adapt::run(args, &command_line),
        Command::Calibrate(args) => calibrate::run(args, &command_line),
        Command::Quantize(args) => quantize::run(args, &command_line),
        Command::Report(args) => report::run(args),
        Command::Plot(args) => plot::run(args),
        Command::ImportDetector(args) => import_detector::run(args, &command_line),
    }
}

/// Training allocates and frees the same large activation buffers every step; glibc's
/// default returns them to the OS each time, and re-faulting the pages cost a third of the
/// step time. Keep freed memory in the process instead.
fn tune_allocator() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only adjusts allocator thresholds; called before any other thread runs.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
