//! AdamW whose moment estimates can be saved and restored, so `--resume` continues
//! exactly where an interrupted run stopped (candle_nn's AdamW keeps them private).

use candle_core::{backprop::GradStore, Result, Tensor, Var};
use std::collections::HashMap;

pub struct AdamW {
    vars: Vec<(String, Var)>,
    first: Vec<Tensor>,
    second: Vec<Tensor>,
    pub step: usize,
    pub lr: f64,
    pub weight_decay: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
}

impl AdamW {
    /// `vars`: named trainable variables (running statistics must not be included).
    pub fn new(vars: Vec<(String, Var)>, weight_decay: f64) -> Result<Self> {
        let zeros = |v: &Var| v.zeros_like();
        let first = vars.iter().map(|(_, v)| zeros(v)).collect::<Result<_>>()?;
        let second = vars.iter().map(|(_, v)| zeros(v)).collect::<Result<_>>()?;
        Ok(Self {
            vars,
            first,
            second,
            step: 0,
            lr: 1e-3,
            weight_decay,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        })
    }

    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.step += 1;
        let t = self.step as i32;
        let correction1 = 1.0 - self.beta1.powi(t);
        let correction2 = 1.0 - self.beta2.powi(t);
        for (i, (_, var)) in self.vars.iter().enumerate() {
            let Some(grad) = grads.get(var) else { continue };
            let m = ((&self.first[i] * self.beta1)? + (grad * (1.0 - self.beta1))?)?;
            let v = ((&self.second[i] * self.beta2)? + (grad.sqr()? * (1.0 - self.beta2))?)?;
            let update = ((&m / correction1)? / ((&v / correction2)?.sqrt()? + self.eps)?)?;
            let decayed = (var.as_tensor() * (1.0 - self.lr * self.weight_decay))?;
            var.set(&(decayed - (update * self.lr)?)?)?;
            self.first[i] = m;
            self.second[i] = v;
        }
        Ok(())
    }

    /// Moment tensors keyed `m.<name>` / `v.<name>`, for checkpoints.
    pub fn state(&self) -> HashMap<String, Tensor> {
        let mut state = HashMap::new();
        for (i, (name, _)) in self.vars.iter().enumerate() {
            state.insert(format!("m.{name}"), self.first[i].clone());
            state.insert(format!("v.{name}"), self.second[i].clone());
        }
        state
    }

    pub fn load_state(&mut self, state: &HashMap<String, Tensor>, step: usize) -> Result<()> {
        for (i, (name, _)) in self.vars.iter().enumerate() {
            let get = |key: String| {
                state
                    .get(&key)
                    .cloned()
                    .ok_or_else(|| candle_core::Error::Msg(format!("checkpoint lacks {key}")))
            };
            self.first[i] = get(format!("m.{name}"))?;
            self.second[i] = get(format!("v.{name}"))?;
        }
        self.step = step;
        Ok(())
    }
}
