//! One optimiser step and its bookkeeping: the trainable variables, the smoothed loss, the
//! running totals of an epoch, a copy of the weights.

use crate::training::adam::AdamW;
use crate::training::age_task::AgeTargets;
use anyhow::Result;
use candle_core::{Tensor, Var};
use candle_nn::VarMap;
use genderlens::classifier::model::GenderNet;
use std::collections::HashMap;

/// Trainable variables by name: everything except batch-norm running statistics.
pub fn trainable(varmap: &VarMap) -> Vec<(String, Var)> {
    let data = varmap.data().lock().expect("varmap lock");
    let mut vars: Vec<(String, Var)> = data
        .iter()
        .filter(|(name, _)| !name.contains("running_"))
        .map(|(name, var)| (name.clone(), var.clone()))
        .collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars
}

pub fn snapshot(varmap: &VarMap) -> Result<HashMap<String, Tensor>> {
    let data = varmap.data().lock().expect("varmap lock");
    Ok(data
        .iter()
        .map(|(name, var)| (name.clone(), var.as_tensor().copy().expect("copy")))
        .collect())
}

/// Loss and accuracy summed over the training batches of an epoch (or a fine-tuning run).
#[derive(Clone, Copy, Debug, Default)]
pub struct BatchTotals {
    /// Mean batch loss times batch size, summed.
    pub loss_sum: f64,
    pub correct: usize,
    pub seen: usize,
    /// The age head's mean loss times its rows, summed, and those rows (`--age-weight`;
    /// after a resume, only the batches of this process).
    pub age_loss_sum: f64,
    pub age_rows: usize,
}

impl BatchTotals {
    pub fn mean_loss(&self) -> f64 {
        self.loss_sum / self.seen.max(1) as f64
    }

    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.seen.max(1) as f64
    }

    /// The age head's mean loss, when it trained.
    pub fn age_loss(&self) -> Option<f64> {
        (self.age_rows > 0).then(|| self.age_loss_sum / self.age_rows as f64)
    }

    /// The progress bar's message after `seconds` of steps.
    pub fn message(&self, seconds: f64) -> String {
        format!(
            "loss {:.3} acc {:.1}% {:.0} img/s",
            self.mean_loss(),
            100.0 * self.accuracy(),
            self.seen as f64 / seconds
        )
    }
}

/// The age as a second target of a step: the batch's ages and the weight of their loss.
pub struct AgeTask<'a> {
    pub targets: &'a AgeTargets,
    pub weight: f64,
}

/// One optimiser step on a batch (forward in training mode, smoothed cross-entropy plus, with
/// `age`, its weighted age loss, backward, AdamW at the optimiser's current learning rate),
/// counted into `totals`.
pub fn train_step(
    net: &GenderNet,
    optimizer: &mut AdamW,
    inputs: &Tensor,
    targets: &Tensor,
    label_smoothing: f64,
    age: Option<AgeTask>,
    totals: &mut BatchTotals,
) -> Result<()> {
    let (logits, age_logits) = net.forward_with_age(inputs, true)?;
    let loss = smoothed_cross_entropy(&logits, targets, label_smoothing)?;
    let objective = match (age, age_logits) {
        (Some(age), Some(age_logits)) => {
            let age_loss = age.targets.cross_entropy(&age_logits)?;
            totals.age_loss_sum += age_loss.to_scalar::<f32>()? as f64 * age.targets.rows as f64;
            totals.age_rows += age.targets.rows;
            (&loss + (age_loss * age.weight)?)?
        }
        (None, _) => loss.clone(),
        (Some(_), None) => anyhow::bail!("an age target needs a network with an age head"),
    };
    optimizer.step(&objective.backward()?)?;
    let predicted = logits.argmax(1)?.to_vec1::<u32>()?;
    let truth = targets.to_vec1::<u32>()?;
    totals.correct += predicted.iter().zip(&truth).filter(|(p, t)| p == t).count();
    totals.loss_sum += loss.to_scalar::<f32>()? as f64 * truth.len() as f64;
    totals.seen += truth.len();
    Ok(())
}

/// Cross-entropy against targets smoothed towards the uniform distribution.
pub fn smoothed_cross_entropy(
    logits: &Tensor,
    targets: &Tensor,
    smoothing: f64,
) -> candle_core::Result<Tensor> {
    let classes = logits.dim(1)?;
    let log_probs = candle_nn::ops::log_softmax(logits, 1)?;
    let one_hot = candle_nn::encoding::one_hot(targets.clone(), classes, 1f32, 0f32)?;
    let soft = ((one_hot * (1.0 - smoothing))? + smoothing / classes as f64)?;
    (soft * log_probs)?.sum(1)?.mean_all()?.neg()
}
