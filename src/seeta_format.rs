//! The SeetaFace detector model with its numbers stored in fewer bits: it is most of the
//! page's download and barely compresses. f16 numbers halve it (1.2 MB to 0.6 MB); the
//! boosted classifiers' bin weights in 8 bits (an f32 scale per classifier, every other
//! number in f16) take it to 0.49 MB, which is what the build embeds. Both find the same faces
//! as the original on the Solvay photo (tests below) and on utk-dev (README); the MLP weights
//! in 8 bits did not (`face_detector::Floats::Q8`).
//!
//! The model file is a stream of little-endian i32 (counts, feature indices) and f32
//! (thresholds, weights) whose order follows the model's structure. [`transcode`] walks that
//! structure exactly as rustface's reader does and rewrites every float; the build script
//! uses it to pack the model (the detector reads the packed stream directly, see
//! `face_detector::read_model_with_floats`). Also compiled into `build.rs`.

/// Float width of a model stream: the detector's own type, which reads any of them.
pub use face_detector::Floats;

/// Bytes per plain number: thresholds and biases always, weights unless in 8 bits.
fn width(floats: Floats) -> usize {
    match floats {
        Floats::F32 => 4,
        Floats::F16 | Floats::Q8 => 2,
    }
}

/// Largest magnitude of an 8-bit weight: symmetric, so zero stays exactly zero.
const Q8_MAX: f32 = 127.0;

struct Transcoder<'a> {
    input: &'a [u8],
    at: usize,
    from: Floats,
    to: Floats,
    output: Vec<u8>,
}

impl Transcoder<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let bytes = self
            .input
            .get(self.at..self.at + n)
            .ok_or_else(|| format!("model stream ends early at byte {}", self.at))?;
        self.at += n;
        Ok(bytes)
    }

    /// Copies one i32 and returns it.
    fn int(&mut self) -> Result<i32, String> {
        let value = i32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes"));
        self.output.extend_from_slice(&value.to_le_bytes());
        Ok(value)
    }

    /// Copies `count` numbers (an i32 from the stream), refusing absurd counts.
    fn count(&mut self) -> Result<usize, String> {
        let n = self.int()?;
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.input.len())
            .ok_or_else(|| format!("implausible count {n} at byte {}", self.at - 4))
    }

    fn float(&mut self) -> Result<(), String> {
        self.floats(1)
    }

    /// Rewrites `n` consecutive plain numbers (thresholds, biases).
    fn floats(&mut self, n: usize) -> Result<(), String> {
        let values = self.read_plain(n)?;
        write_plain(&mut self.output, self.to, &values);
        Ok(())
    }

    /// Rewrites `rows` weight rows of `len` numbers each (in 8 bits: a scale per row).
    fn weights(&mut self, rows: usize, len: usize) -> Result<(), String> {
        let values = if self.from == Floats::Q8 {
            let mut values = vec![0.0; rows * len];
            for row in values.chunks_exact_mut(len) {
                let scale = f32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes"));
                let quantised: Vec<i8> = self.take(len)?.iter().map(|&q| q as i8).collect();
                face_detector::dequantise(&quantised, scale, row);
            }
            values
        } else {
            self.read_plain(rows * len)?
        };
        if self.to != Floats::Q8 {
            write_plain(&mut self.output, self.to, &values);
            return Ok(());
        }
        for row in values.chunks_exact(len) {
            let peak = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let scale = peak / Q8_MAX;
            self.output.extend_from_slice(&scale.to_le_bytes());
            self.output.extend(row.iter().map(|&v| {
                let q = if scale > 0.0 {
                    (v / scale).round()
                } else {
                    0.0
                };
                q.clamp(-Q8_MAX, Q8_MAX) as i8 as u8
            }));
        }
        Ok(())
    }

    /// Reads `n` plain numbers in the input's width.
    fn read_plain(&mut self, n: usize) -> Result<Vec<f32>, String> {
        let from = self.from;
        let bytes = self.take(n * width(from))?;
        Ok(bytes
            .chunks_exact(width(from))
            .map(|number| match from {
                Floats::F32 => f32::from_le_bytes(number.try_into().expect("4 bytes")),
                Floats::F16 | Floats::Q8 => {
                    half::f16::from_le_bytes(number.try_into().expect("2 bytes")).to_f32()
                }
            })
            .collect())
    }

    fn model(&mut self) -> Result<(), String> {
        for _ in 0..self.count()? {
            for _ in 0..self.count()? {
                for _ in 0..self.count()? {
                    match self.int()? {
                        0 => self.lab_boosted()?,
                        1 => self.surf_mlp()?,
                        kind => return Err(format!("unknown classifier kind {kind}")),
                    }
                }
                let windows = self.int()?.max(0);
                (0..windows).try_for_each(|_| self.int().map(drop))?;
            }
        }
        if self.at != self.input.len() {
            return Err(format!(
                "{} bytes left after the model",
                self.input.len() - self.at
            ));
        }
        Ok(())
    }

    fn lab_boosted(&mut self) -> Result<(), String> {
        let base_classifiers = self.count()?;
        let bins = self.count()?;
        (0..2 * base_classifiers).try_for_each(|_| self.int().map(drop))?; // feature x, y
        self.floats(base_classifiers)?; // thresholds
        self.weights(base_classifiers, bins + 1)
    }

    fn surf_mlp(&mut self) -> Result<(), String> {
        let layers = self.count()?;
        let features = self.count()?;
        (0..features).try_for_each(|_| self.int().map(drop))?;
        self.float()?; // threshold
        let mut input_dim = self.count()?;
        for _ in 1..layers {
            let output_dim = self.count()?;
            self.floats(input_dim * output_dim + output_dim)?; // weights, biases
            input_dim = output_dim;
        }
        Ok(())
    }
}

/// Appends plain numbers in the output's width.
fn write_plain(output: &mut Vec<u8>, to: Floats, values: &[f32]) {
    output.reserve(values.len() * width(to));
    for &value in values {
        match to {
            Floats::F32 => output.extend_from_slice(&value.to_le_bytes()),
            Floats::F16 | Floats::Q8 => {
                output.extend_from_slice(&half::f16::from_f32(value).to_le_bytes())
            }
        }
    }
}

/// Rewrites a model stream from one float width to another; `Err` if it is not a model.
pub fn transcode(input: &[u8], from: Floats, to: Floats) -> Result<Vec<u8>, String> {
    let mut transcoder = Transcoder {
        input,
        at: 0,
        from,
        to,
        output: Vec::with_capacity(input.len() * 2),
    };
    transcoder.model()?;
    Ok(transcoder.output)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    const ORIGINAL: &[u8] = include_bytes!("assets/seeta_fd_frontal_v1.0.bin");

    fn faces(model: &[u8], image: &image::GrayImage) -> Vec<(i32, i32, u32, u32)> {
        let mut detector = rustface::create_detector_with_model(
            rustface::read_model(model).expect("model parses"),
        );
        detector.set_score_thresh(2.0);
        detector.set_pyramid_scale_factor(0.8);
        detector.set_slide_window_step(4, 4);
        let (w, h) = image.dimensions();
        let mut found: Vec<_> = detector
            .detect(&rustface::ImageData::new(image.as_raw(), w, h))
            .iter()
            .map(|f| {
                (
                    f.bbox().x(),
                    f.bbox().y(),
                    f.bbox().width(),
                    f.bbox().height(),
                )
            })
            .collect();
        found.sort();
        found
    }

    #[test]
    fn packing_halves_the_model_and_keeps_its_structure() {
        assert_eq!(
            transcode(ORIGINAL, Floats::F32, Floats::F32).unwrap(),
            ORIGINAL
        );
        let packed = transcode(ORIGINAL, Floats::F32, Floats::F16).unwrap();
        assert!(packed.len() < ORIGINAL.len() * 51 / 100, "{}", packed.len());
        let unpacked = transcode(&packed, Floats::F16, Floats::F32).unwrap();
        assert_eq!(unpacked.len(), ORIGINAL.len());
        // Integers survive exactly, floats to f16 precision: compare word by word.
        let words = |b: &[u8]| -> Vec<u32> {
            b.chunks_exact(4)
                .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
                .collect()
        };
        let changed = words(ORIGINAL)
            .iter()
            .zip(words(&unpacked))
            .filter(|(a, b)| {
                let (x, y) = (f32::from_bits(**a), f32::from_bits(*b));
                **a != *b && (x - y).abs() > 1e-3 * x.abs().max(1e-4)
            })
            .count();
        assert_eq!(changed, 0);
    }

    #[test]
    fn eight_bit_weights_shrink_the_model_further_within_half_a_step() {
        let packed = transcode(ORIGINAL, Floats::F32, Floats::Q8).unwrap();
        assert!(packed.len() < ORIGINAL.len() * 41 / 100, "{}", packed.len());
        let unpacked = transcode(&packed, Floats::Q8, Floats::F32).unwrap();
        assert_eq!(unpacked.len(), ORIGINAL.len());
        // Repacking what was unpacked changes nothing: the scales and steps are exact.
        assert_eq!(
            transcode(&unpacked, Floats::F32, Floats::Q8).unwrap(),
            packed
        );
        // Every number moved by at most half a step of the largest weight (3.0 / 127), and
        // most by far less.
        let floats = |b: &[u8]| -> Vec<f32> {
            b.chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect()
        };
        let (before, after) = (floats(ORIGINAL), floats(&unpacked));
        let worst = before
            .iter()
            .zip(&after)
            .filter(|(a, _)| a.is_finite() && a.abs() < 100.0)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst > 0.0 && worst <= 0.5 * 3.01 / 127.0, "{worst}");
    }

    fn unpacked(floats: Floats) -> Vec<u8> {
        transcode(
            &transcode(ORIGINAL, Floats::F32, floats).unwrap(),
            floats,
            Floats::F32,
        )
        .unwrap()
    }

    #[test]
    fn the_packed_models_find_the_same_faces() {
        let photo = image::load_from_memory(include_bytes!("../tests/fixtures/solvay-1927.jpg"))
            .unwrap()
            .to_luma8();
        let full = faces(ORIGINAL, &photo);
        assert!(full.len() >= 20, "{} faces", full.len());
        for floats in [Floats::F16, Floats::Q8] {
            let packed = faces(&unpacked(floats), &photo);
            assert_eq!(full.len(), packed.len(), "{floats:?}");
            for (a, b) in full.iter().zip(&packed) {
                assert!(
                    (a.0 - b.0).abs() <= 2 && (a.1 - b.1).abs() <= 2,
                    "{floats:?}: {a:?} vs {b:?}"
                );
            }
        }
    }

    #[test]
    fn streams_that_are_not_models_are_errors() {
        assert!(transcode(&ORIGINAL[..1000], Floats::F32, Floats::F16).is_err());
        assert!(transcode(&ORIGINAL[..1000], Floats::F32, Floats::Q8).is_err());
        assert!(transcode(b"not a model at all", Floats::F32, Floats::F16).is_err());
        let mut trailing = ORIGINAL.to_vec();
        trailing.extend_from_slice(&[0; 4]);
        assert!(transcode(&trailing, Floats::F32, Floats::F16).is_err());
    }
}
