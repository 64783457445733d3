//! The temperature each face's logits are divided by, as stored beside the weights: one for
//! every face, or — when the model carries an age probe — one that moves from the adults'
//! temperature towards the children's as the probe grows surer the face is a child's.
//!
//! Children's faces carry few cues of apparent sex, and a network confident on adults is
//! over-confident on them; no single temperature suits both. The probe is a linear read-out
//! of the network's own features (no second network), fitted by the trainer on photos whose
//! file names give the age.

use crate::weights::{floats_of_shape, optional_scalar};
use safetensors::SafeTensors;

/// The temperature of every face (of adults' faces when the model has an age probe).
pub const TEMPERATURE_TENSOR: &str = "calibration.temperature";
/// The temperature of faces the probe is sure are children's.
pub const CHILD_TEMPERATURE_TENSOR: &str = "calibration.child_temperature";
/// The probe: P(under 16) = sigmoid(weight · features + bias).
pub const CHILD_WEIGHT_TENSOR: &str = "calibration.child.weight";
pub const CHILD_BIAS_TENSOR: &str = "calibration.child.bias";

/// Faces younger than this count as children for the probe.
pub const CHILD_BELOW_AGE: u32 = 16;

#[derive(Clone, Debug, PartialEq)]
pub struct Temperatures {
    /// Every face's, or adults' when there is a probe.
    pub base: f32,
    pub child: Option<ChildProbe>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ChildProbe {
    pub weight: Vec<f32>,
    pub bias: f32,
    pub temperature: f32,
}

impl ChildProbe {
    /// P(the face is a child's) from the network's features.
    pub fn p_child(&self, features: &[f32]) -> f32 {
        let z: f32 = self
            .weight
            .iter()
            .zip(features)
            .map(|(w, f)| w * f)
            .sum::<f32>()
            + self.bias;
        1.0 / (1.0 + (-z).exp())
    }
}

/// The temperature between `adult` (p_child 0) and `child` (p_child 1), geometrically.
pub fn blend(adult: f32, child: f32, p_child: f32) -> f32 {
    (adult.ln() * (1.0 - p_child) + child.ln() * p_child).exp()
}

impl Temperatures {
    /// One temperature for every face.
    pub fn single(base: f32) -> Self {
        Self { base, child: None }
    }

    /// The temperature for a face with these features.
    pub fn for_face(&self, features: &[f32]) -> f32 {
        match &self.child {
            None => self.base,
            Some(probe) => blend(self.base, probe.temperature, probe.p_child(features)),
        }
    }

    /// As stored (1 when the file has no temperature: an uncalibrated model); the probe
    /// must come whole, with `feature_width` weights, and every temperature be positive.
    pub(crate) fn from_tensors(file: &SafeTensors, feature_width: usize) -> Result<Self, String> {
        let scalar = |name: &str| -> Result<Option<f32>, String> {
            match optional_scalar(file, name)? {
                Some(value) if !(value.is_finite() && value > 0.0) => {
                    Err(format!("`{name}` is {value}, not a positive number"))
                }
                value => Ok(value),
            }
        };
        let base = scalar(TEMPERATURE_TENSOR)?.unwrap_or(1.0);
        let child = match scalar(CHILD_TEMPERATURE_TENSOR)? {
            None => None,
            Some(temperature) => Some(ChildProbe {
                weight: floats_of_shape(file, CHILD_WEIGHT_TENSOR, &[feature_width])?,
                bias: floats_of_shape(file, CHILD_BIAS_TENSOR, &[1])?[0],
                temperature,
            }),
        };
        Ok(Self { base, child })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_temperature_moves_from_adults_to_childrens_with_the_probe() {
        let t = Temperatures {
            base: 0.6,
            child: Some(ChildProbe {
                weight: vec![2.0, -1.0],
                bias: -1.0,
                temperature: 0.9,
            }),
        };
        // z = 2·3 − 1·0 − 1 = 5: almost surely a child.
        assert!((t.for_face(&[3.0, 0.0]) - 0.9).abs() < 0.01);
        assert!((t.for_face(&[0.0, 6.0]) - 0.6).abs() < 0.01);
        // z = 0: halfway, geometrically.
        let half = t.for_face(&[0.5, 0.0]);
        assert!((half - (0.6f32 * 0.9).sqrt()).abs() < 1e-5, "{half}");
        assert_eq!(Temperatures::single(0.7).for_face(&[3.0, 0.0]), 0.7);
    }

    /// A weights file of just these f32 tensors, read back.
    fn stored(tensors: &[(&str, Vec<f32>)]) -> Result<Temperatures, String> {
        let bytes: Vec<Vec<u8>> = tensors
            .iter()
            .map(|(_, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
            .collect();
        let views = tensors.iter().zip(&bytes).map(|((name, v), b)| {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![v.len()], b);
            (*name, view.unwrap())
        });
        let file = safetensors::serialize(views, None).unwrap();
        Temperatures::from_tensors(&SafeTensors::deserialize(&file).unwrap(), 3)
    }

    #[test]
    fn the_probe_is_read_whole_or_refused_by_name() {
        let probe = [
            (TEMPERATURE_TENSOR, vec![0.6]),
            (CHILD_TEMPERATURE_TENSOR, vec![0.9]),
            (CHILD_WEIGHT_TENSOR, vec![1.0, 2.0, 3.0]),
            (CHILD_BIAS_TENSOR, vec![-1.0]),
        ];
        let read = stored(&probe).unwrap();
        assert_eq!(read.base, 0.6);
        assert_eq!(
            read.child,
            Some(ChildProbe {
                weight: vec![1.0, 2.0, 3.0],
                bias: -1.0,
                temperature: 0.9
            })
        );
        // Older models: one temperature, or none.
        assert_eq!(stored(&probe[..1]).unwrap(), Temperatures::single(0.6));
        assert_eq!(stored(&[]).unwrap(), Temperatures::single(1.0));
        let error = stored(&probe[..2]).unwrap_err();
        assert_eq!(error, format!("the weights lack `{CHILD_WEIGHT_TENSOR}`"));
        let mut narrow = probe.to_vec();
        narrow[2].1.pop();
        assert!(stored(&narrow).unwrap_err().contains("shape mismatch"));
        let mut negative = probe.to_vec();
        negative[1].1[0] = -0.9;
        let error = stored(&negative).unwrap_err();
        assert!(error.contains("not a positive number"), "{error}");
    }
}
