//! `genderlens import-detector`: reads YuNet-s from its ONNX file (libfacedetection's
//! `yunet_s_dynamic.onnx`), checks its graph has the shape our network runs
//! (`genderlens::detect::yunet`) and writes the weights under our names (the 1×1
//! convolutions in 8 bits, the rest in f16), with a JSON record of where they came from.
//! Native only; the product embeds the safetensors.

use anyhow::{bail, ensure, Context, Result};
use candle_core::{DType, Tensor};
use candle_onnx::onnx::{GraphProto, NodeProto};
use genderlens::detect::yunet::{block_name, head_name, BLOCKS, HEAD_MAPS, STEM_CHANNELS, STRIDES};
use genderlens::detect::FaceDetector;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ImportDetectorArgs {
    /// The ONNX file (`onnx/yunet_s_dynamic.onnx` of libfacedetection.train).
    pub onnx: PathBuf,
    /// Where the file came from (repository, commit, path), recorded beside the weights.
    #[arg(long)]
    pub source: String,
    /// The weights to write; a JSON record goes beside them.
    #[arg(long, default_value = "models/yunet.safetensors")]
    pub out: PathBuf,
}

pub fn run(args: ImportDetectorArgs, command: &str) -> Result<()> {
    let bytes =
        std::fs::read(&args.onnx).with_context(|| format!("reading {}", args.onnx.display()))?;
    let model = candle_onnx::read_file(&args.onnx)
        .with_context(|| format!("{} is not an ONNX model", args.onnx.display()))?;
    let graph = model
        .graph
        .as_ref()
        .context("the ONNX model has no graph")?;
    let tensors = yunet_tensors(graph)?;
    let parameters: usize = tensors.values().map(|t| t.elem_count()).sum();
    // The 1×1 convolutions' weights (83 % of the parameters) in 8 bits per output channel:
    // 40 kB less to download, and the detections still match the reference runtime's
    // (`tests/detector.rs`).
    let tensors = genderlens::quantize::quantize_where(&tensors, |name, _| {
        name.ends_with(".pointwise.weight")
    })?;
    candle_core::safetensors::save(&tensors, &args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    // What was written must be what the product loads.
    let written = std::fs::read(&args.out)?;
    FaceDetector::from_tensors(&safetensors::SafeTensors::deserialize(&written)?)
        .map_err(anyhow::Error::msg)
        .context("the written weights do not load")?;
    let record = serde_json::json!({
        "command": command,
        "source": args.source,
        "source_file": args.onnx.file_name().map(|n| n.to_string_lossy()),
        "source_sha256": format!("{:x}", Sha256::digest(&bytes)),
        "producer": format!("{} {}", model.producer_name, model.producer_version),
        "opset": model.opset_import.iter().map(|o| o.version).max(),
        "parameters": parameters,
        "tensors": tensors.len(),
        "weights_sha256": format!("{:x}", Sha256::digest(&written)),
    });
    let json = args.out.with_extension("json");
    std::fs::write(&json, serde_json::to_string_pretty(&record)? + "\n")?;
    println!(
        "wrote {} ({parameters} parameters, {} bytes) and {}",
        args.out.display(),
        written.len(),
        json.display()
    );
    Ok(())
}

/// The graph's convolutions under our tensor names, after checking each one's kind and
/// shape and how the heads connect to the features.
fn yunet_tensors(graph: &GraphProto) -> Result<HashMap<String, Tensor>> {
    let initializers: HashMap<&str, Tensor> = graph
        .initializer
        .iter()
        .map(|t| Ok((t.name.as_str(), candle_onnx::eval::get_tensor(t, &t.name)?)))
        .collect::<Result<_>>()?;
    let producer: HashMap<&str, &NodeProto> = graph
        .node
        .iter()
        .flat_map(|n| n.output.iter().map(move |o| (o.as_str(), n)))
        .collect();
    let consumer = |name: &str| {
        graph
            .node
            .iter()
            .find(|n| n.input.iter().any(|i| i == name))
    };
    let weights = |conv: &NodeProto| -> Result<(Tensor, Tensor)> {
        let get = |i: usize| {
            conv.input
                .get(i)
                .and_then(|name| initializers.get(name.as_str()))
                .cloned()
                .with_context(|| format!("convolution {} lacks a stored input {i}", conv.name))
        };
        Ok((get(1)?, get(2)?))
    };
    let mut out = HashMap::new();

    // The heads: from each output back to its depthwise and 1×1 convolutions.
    let mut head_convs = Vec::new();
    let mut head_features: HashMap<usize, String> = HashMap::new();
    for &stride in &STRIDES {
        let mut pointwise = Vec::new();
        let mut depthwise = Vec::new();
        for kind in ["cls", "obj", "bbox", "kps"] {
            let output = format!("{kind}_{stride}");
            let mut node = *producer
                .get(output.as_str())
                .with_context(|| format!("the graph has no output `{output}`"))?;
            while node.op_type != "Conv" {
                node = producer
                    .get(node.input[0].as_str())
                    .with_context(|| format!("`{output}` does not come from a convolution"))?;
            }
            let pw = producer
                .get(node.input[0].as_str())
                .filter(|n| n.op_type == "Conv")
                .with_context(|| format!("`{output}`: no 1×1 convolution before its 3×3"))?;
            check_conv(node, 3, 1, true)?;
            check_conv(pw, 1, 1, false)?;
            let feature = &pw.input[0];
            ensure!(
                head_features
                    .entry(stride)
                    .or_insert_with(|| feature.clone())
                    == feature,
                "the heads at stride {stride} read different features"
            );
            pointwise.push(weights(pw)?);
            depthwise.push(weights(node)?);
            head_convs.extend([node.name.clone(), pw.name.clone()]);
        }
        let cat = |parts: &[(Tensor, Tensor)]| -> Result<(Tensor, Tensor)> {
            let w: Vec<_> = parts.iter().map(|p| p.0.clone()).collect();
            let b: Vec<_> = parts.iter().map(|p| p.1.clone()).collect();
            Ok((Tensor::cat(&w, 0)?, Tensor::cat(&b, 0)?))
        };
        let name = head_name(stride);
        let (pw, pwb) = cat(&pointwise)?;
        let (dw, dwb) = cat(&depthwise)?;
        out.insert(
            format!("{name}.pointwise.weight"),
            shaped(pw, &[HEAD_MAPS, 64])?,
        );
        out.insert(format!("{name}.pointwise.bias"), shaped(pwb, &[HEAD_MAPS])?);
        out.insert(
            format!("{name}.depthwise.weight"),
            shaped(dw, &[HEAD_MAPS, 3, 3])?,
        );
        out.insert(format!("{name}.depthwise.bias"), shaped(dwb, &[HEAD_MAPS])?);
    }

    // The rest in graph order: the stem, then (1×1, depthwise) pairs.
    let body: Vec<&NodeProto> = graph
        .node
        .iter()
        .filter(|n| n.op_type == "Conv" && !head_convs.contains(&n.name))
        .collect();
    ensure!(
        body.len() == 1 + 2 * BLOCKS.len(),
        "the graph has {} convolutions before its heads; YuNet-s has {}",
        body.len(),
        1 + 2 * BLOCKS.len()
    );
    check_conv(body[0], 3, 2, false)?;
    let (w, b) = weights(body[0])?;
    out.insert("stem.weight".into(), shaped(w, &[STEM_CHANNELS, 3, 3, 3])?);
    out.insert("stem.bias".into(), shaped(b, &[STEM_CHANNELS])?);
    let mut block_outputs = Vec::new();
    for (i, (pair, &(cin, cout))) in body[1..].chunks_exact(2).zip(&BLOCKS).enumerate() {
        check_conv(pair[0], 1, 1, false)?;
        check_conv(pair[1], 3, 1, true)?;
        ensure!(
            pair[1].input[0] == pair[0].output[0],
            "block {i}: its 3×3 does not follow its 1×1"
        );
        let name = block_name(i);
        let (pw, pwb) = weights(pair[0])?;
        let (dw, dwb) = weights(pair[1])?;
        out.insert(
            format!("{name}.pointwise.weight"),
            shaped(pw, &[cout, cin])?,
        );
        out.insert(format!("{name}.pointwise.bias"), shaped(pwb, &[cout])?);
        out.insert(
            format!("{name}.depthwise.weight"),
            shaped(dw, &[cout, 3, 3])?,
        );
        out.insert(format!("{name}.depthwise.bias"), shaped(dwb, &[cout])?);
        let relu = consumer(&pair[1].output[0]).filter(|n| n.op_type == "Relu");
        block_outputs.push(
            relu.with_context(|| format!("block {i} has no ReLU"))?
                .output[0]
                .clone(),
        );
    }
    // The top-down merge's blocks feed the heads: the last at stride 8, then 16, then 32.
    for (block, stride) in [(13, 8), (12, 16), (11, 32)] {
        ensure!(
            head_features.get(&stride) == Some(&block_outputs[block]),
            "the heads at stride {stride} do not read block {block}'s output"
        );
    }
    Ok(out)
}

/// A convolution of kernel `k`, `stride` and "same" padding, in one group unless
/// `depthwise` (whose weights' shape, checked by [`shaped`], makes it one group per channel).
fn check_conv(node: &NodeProto, k: i64, stride: i64, depthwise: bool) -> Result<()> {
    let ints = |name: &str| {
        node.attribute
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.ints.clone())
            .unwrap_or_default()
    };
    let group = node
        .attribute
        .iter()
        .find(|a| a.name == "group")
        .map_or(1, |a| a.i);
    let pad = (k - 1) / 2;
    if ints("kernel_shape") != [k, k]
        || ints("strides") != [stride, stride]
        || !ints("pads").iter().all(|&p| p == pad)
        || (!depthwise && group != 1)
    {
        bail!(
            "convolution {} is not a {k}×{k}{} with stride {stride}",
            node.name,
            if depthwise { " depthwise" } else { "" }
        );
    }
    Ok(())
}

/// `t` reshaped to `shape`, which must hold its elements exactly, stored in f16 (half the
/// download of f32; the 1×1 convolutions then go to 8 bits).
fn shaped(t: Tensor, shape: &[usize]) -> Result<Tensor> {
    ensure!(
        t.elem_count() == shape.iter().product::<usize>(),
        "a tensor of shape {:?} where the network needs {shape:?}",
        t.dims()
    );
    Ok(t.reshape(shape)?.to_dtype(DType::F16)?)
}
