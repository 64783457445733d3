//! The SeetaFace detector model with its numbers stored as f16 instead of f32: it is most of
//! the page's download and barely compresses, and half precision finds the same faces
//! (measured on utk-dev and the Solvay photo, see the README).
//!
//! The model file is a stream of little-endian i32 (counts, feature indices) and f32
//! (thresholds, weights) whose order follows the model's structure. [`transcode`] walks that
//! structure exactly as rustface's reader does and rewrites every float; the build script
//! uses it to pack the model (the detector reads the packed stream directly, see
//! `face_detector::read_model_with_floats`). Also compiled into `build.rs`.

/// Float width of a model stream: the detector's own type, which reads either.
pub use face_detector::Floats;

/// Bytes per number.
fn width(floats: Floats) -> usize {
    match floats {
        Floats::F32 => 4,
        Floats::F16 => 2,
    }
}

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

    /// Rewrites `n` consecutive floats in one pass over their bytes: the detector unpacks
    /// about 300 000 of them when the page starts, so no per-number bookkeeping.
    fn floats(&mut self, n: usize) -> Result<(), String> {
        let (from, to, input, start) = (self.from, self.to, self.input, self.at);
        self.take(n * width(from))?;
        let output = &mut self.output;
        output.reserve(n * width(to));
        for number in input[start..self.at].chunks_exact(width(from)) {
            let value = match from {
                Floats::F32 => f32::from_le_bytes(number.try_into().expect("4 bytes")),
                Floats::F16 => {
                    half::f16::from_le_bytes(number.try_into().expect("2 bytes")).to_f32()
                }
            };
            match to {
                Floats::F32 => output.extend_from_slice(&value.to_le_bytes()),
                Floats::F16 => output.extend_from_slice(&half::f16::from_f32(value).to_le_bytes()),
            }
        }
        Ok(())
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
        self.floats(base_classifiers * (bins + 1)) // weights
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
    fn the_f16_model_finds_the_same_faces() {
        let photo = image::load_from_memory(include_bytes!("../tests/fixtures/solvay-1927.jpg"))
            .unwrap()
            .to_luma8();
        let unpacked = transcode(
            &transcode(ORIGINAL, Floats::F32, Floats::F16).unwrap(),
            Floats::F16,
            Floats::F32,
        )
        .unwrap();
        let (full, half) = (faces(ORIGINAL, &photo), faces(&unpacked, &photo));
        assert!(full.len() >= 20, "{} faces", full.len());
        assert_eq!(full.len(), half.len());
        for (a, b) in full.iter().zip(&half) {
            assert!(
                (a.0 - b.0).abs() <= 2 && (a.1 - b.1).abs() <= 2,
                "{a:?} vs {b:?}"
            );
        }
    }

    #[test]
    fn streams_that_are_not_models_are_errors() {
        assert!(transcode(&ORIGINAL[..1000], Floats::F32, Floats::F16).is_err());
        assert!(transcode(b"not a model at all", Floats::F32, Floats::F16).is_err());
        let mut trailing = ORIGINAL.to_vec();
        trailing.extend_from_slice(&[0; 4]);
        assert!(transcode(&trailing, Floats::F32, Floats::F16).is_err());
    }
}
