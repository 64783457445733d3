//! The progress file of `genderlens adapt`: the out-of-fold logits of every finished fold,
//! rewritten atomically as each fold ends, so an interrupted run continues with `--resume`
//! and loses at most the fold it was in.

use crate::model_file::write_atomically;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Serialize, Deserialize)]
pub struct FoldProgress {
    /// What the saved logits depend on (settings, starting model, the faces found);
    /// resuming with anything else is refused.
    pub fingerprint: serde_json::Value,
    /// Finished folds, in the order they ran.
    pub folds_done: Vec<usize>,
    /// Out-of-fold logits by crop; `None` until the crop's fold has run.
    pub logits: Vec<Option<[f32; 2]>>,
    /// Every command that worked on this run (the first, then each `--resume`).
    pub commands: Vec<String>,
    /// Wall-clock seconds of cross-validation in earlier processes, up to their last fold.
    pub seconds: f64,
}

impl FoldProgress {
    /// Where a run writing `<out>/<name>.safetensors` keeps its progress.
    pub fn path(out: &Path, name: &str) -> PathBuf {
        out.join(format!("{name}.adapt-progress.json"))
    }

    pub fn start(fingerprint: serde_json::Value, crops: usize) -> Self {
        Self {
            fingerprint,
            folds_done: vec![],
            logits: vec![None; crops],
            commands: vec![],
            seconds: 0.0,
        }
    }

    /// The saved progress of an interrupted run.
    pub fn load(path: &Path) -> Result<Self> {
        if !path.exists() {
            bail!("no interrupted adapt run to resume at {}", path.display());
        }
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is damaged", path.display()))
    }

    /// `self` if it was written by a run of the same settings, model and faces.
    pub fn matching(self, fingerprint: &serde_json::Value, path: &Path) -> Result<Self> {
        if &self.fingerprint != fingerprint {
            bail!(
                "{} was written by a run with other settings, another model or other photos \
                 (saved: {}; now: {}); run without --resume to start over",
                path.display(),
                self.fingerprint,
                fingerprint
            );
        }
        Ok(self)
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_string(self)?;
        write_atomically(path, |tmp| Ok(std::fs::write(tmp, json)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_round_trips_and_refuses_other_settings() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let path = FoldProgress::path(dir.path(), "m");
        assert!(FoldProgress::load(&path).is_err(), "nothing saved yet");
        let fingerprint = serde_json::json!({"steps": 4});
        let mut progress = FoldProgress::start(fingerprint.clone(), 3);
        progress.folds_done.push(1);
        progress.logits[2] = Some([0.5, -1.25]);
        progress.save(&path)?;
        let loaded = FoldProgress::load(&path)?.matching(&fingerprint, &path)?;
        assert_eq!(loaded.folds_done, [1]);
        assert_eq!(loaded.logits, [None, None, Some([0.5, -1.25])]);
        let other = serde_json::json!({"steps": 5});
        let refused = FoldProgress::load(&path)?.matching(&other, &path);
        assert!(refused.is_err_and(|e| e.to_string().contains("other settings")));
        Ok(())
    }
}
