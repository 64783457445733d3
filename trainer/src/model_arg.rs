//! `--model PATH`: weights to use instead of the ones embedded in this build.

use anyhow::{Context, Result};
use genderlens::{Classifier, Pipeline};
use std::path::PathBuf;

#[derive(clap::Args, Clone, Debug)]
pub struct ModelArg {
    /// Classifier weights (safetensors from `genderlens train`); default: the embedded model.
    #[arg(long)]
    pub model: Option<PathBuf>,
}

impl ModelArg {
    pub fn classifier(&self) -> Result<Classifier> {
        match &self.model {
            Some(path) => {
                let bytes =
                    std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
                Classifier::from_safetensors(&bytes)
                    .with_context(|| format!("loading {}", path.display()))
            }
            None => Ok(Classifier::embedded()?),
        }
    }

    pub fn pipeline(&self) -> Result<Pipeline> {
        Ok(Pipeline::new(self.classifier()?))
    }
}
