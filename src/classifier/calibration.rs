//! From logits to probabilities that mean what they say, and to a label that admits doubt.
//!
//! The network is trained with label smoothing, so its raw softmax is systematically
//! under- or over-confident. A temperature, fitted on the validation sets by the trainer and
//! stored in the weights file (one for every face, or one a face's age moves: `temperature`),
//! rescales the logit difference; this one function turns logits into the probability
//! everyone sees (CLI, JSON, browser).

use super::inference::CLASSES;
use serde::Serialize;

/// Below this calibrated probability for the more likely class the label is "uncertain".
/// On the validation set fewer than 2 % of faces fall below it; on utk-dev the answers above it
/// are markedly more accurate than those below (see the model card).
pub const UNCERTAIN_BELOW: f32 = 0.75;

/// Faces narrower than this (pixels of the image the crop is cut from) are labelled
/// "uncertain" whatever the probability: shrunk so, utk-dev's faces are classified 89 %
/// right at 20 px against 92-95 % from 24 px up (`eval --face-size`, docs/performance.md).
pub const SMALLEST_SURE_FACE: f32 = 24.0;

/// The label shown when neither class reaches [`UNCERTAIN_BELOW`].
pub const UNCERTAIN: &str = "uncertain";

/// Calibrated P(male) from the two logits (female, male) at `temperature`.
pub fn p_male(logits: [f32; 2], temperature: f32) -> f32 {
    let z = (logits[1] - logits[0]) / temperature;
    1.0 / (1.0 + (-z).exp())
}

/// What a probability means for a reader: the more likely class, how sure, and the label.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Verdict {
    /// "female", "male" or "uncertain".
    pub label: &'static str,
    /// The more likely class, always "female" or "male".
    pub likely: &'static str,
    /// Calibrated probability of `likely` (0.5–1).
    pub confidence: f32,
}

pub fn verdict(p_male: f32) -> Verdict {
    let male = p_male >= 0.5;
    let likely = CLASSES[usize::from(male)];
    let confidence = if male { p_male } else { 1.0 - p_male };
    Verdict {
        label: if confidence < UNCERTAIN_BELOW {
            UNCERTAIN
        } else {
            likely
        },
        likely,
        confidence,
    }
}

/// [`verdict`] for a face `side` pixels wide: below [`SMALLEST_SURE_FACE`] it is
/// "uncertain", with its likely class and probability kept.
pub fn verdict_for_face(p_male: f32, side: f32) -> Verdict {
    let verdict = verdict(p_male);
    if side < SMALLEST_SURE_FACE {
        Verdict {
            label: UNCERTAIN,
            ..verdict
        }
    } else {
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temperature_scales_the_logit_difference() {
        assert!((p_male([0.0, 0.0], 0.7) - 0.5).abs() < 1e-6);
        let sharp = p_male([0.0, 1.0], 0.5);
        let soft = p_male([0.0, 1.0], 2.0);
        assert!((sharp - 1.0 / (1.0 + (-2f32).exp())).abs() < 1e-6);
        assert!((soft - 1.0 / (1.0 + (-0.5f32).exp())).abs() < 1e-6);
        // Only the difference matters, as in a softmax.
        assert!((p_male([3.0, 4.0], 1.3) - p_male([0.0, 1.0], 1.3)).abs() < 1e-6);
    }

    #[test]
    fn verdicts_admit_doubt_below_the_threshold() {
        assert_eq!(verdict(0.9).label, "male");
        assert_eq!(verdict(0.1).label, "female");
        assert!((verdict(0.1).confidence - 0.9).abs() < 1e-6);
        let unsure = verdict(0.4);
        assert_eq!((unsure.label, unsure.likely), (UNCERTAIN, "female"));
        assert_eq!(verdict(UNCERTAIN_BELOW).label, "male");
    }

    #[test]
    fn small_faces_are_uncertain_whatever_the_probability() {
        assert_eq!(verdict_for_face(0.99, SMALLEST_SURE_FACE).label, "male");
        let small = verdict_for_face(0.99, SMALLEST_SURE_FACE - 1.0);
        assert_eq!((small.label, small.likely), (UNCERTAIN, "male"));
        assert!((small.confidence - 0.99).abs() < 1e-6);
    }
}
