//! A data set in the Kaggle folder layout made of generated pictures, not faces: for tests of
//! the trainer's mechanics (checkpoints, resuming, reports, exports), which must run on a
//! fresh clone without the data sets. What a model learns is tested on the real ones.

use image::{Rgb, RgbImage};
use std::path::Path;

/// Writes `Training/{female,male}` with `train` and `Validation/{female,male}` with
/// `validation` PNG pictures each. The classes differ the way a network can learn: a light
/// disc for `female`, a dark square for `male`, at jittered places on noisy backgrounds.
pub fn kaggle_layout(dir: &Path, train: usize, validation: usize) {
    for (split, count) in [("Training", train), ("Validation", validation)] {
        for (class, label) in [("female", 0u32), ("male", 1)] {
            let folder = dir.join(split).join(class);
            std::fs::create_dir_all(&folder).unwrap();
            for i in 0..count {
                let seed = (i as u32) * 2 + label + if split == "Training" { 0 } else { 1 << 20 };
                picture(label, seed)
                    .save(folder.join(format!("{i:05}.png")))
                    .unwrap();
            }
        }
    }
}

fn picture(label: u32, seed: u32) -> RgbImage {
    let mut state = seed.wrapping_mul(0x9E37_79B9) ^ 0x85EB_CA6B;
    let mut next = move || {
        // xorshift32: a fixed, dependency-free sequence per picture.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    };
    let (w, h) = (72u32, 88u32);
    let (cx, cy) = (24 + next() % 24, 28 + next() % 32);
    let r = 14 + next() % 6;
    let mut image = RgbImage::new(w, h);
    for (x, y, pixel) in image.enumerate_pixels_mut() {
        let noise = (next() % 60) as u8;
        let (dx, dy) = (x.abs_diff(cx), y.abs_diff(cy));
        let inside = if label == 0 {
            dx * dx + dy * dy <= r * r
        } else {
            dx <= r && dy <= r
        };
        *pixel = match (inside, label) {
            (true, 0) => Rgb([230 - noise / 2, 200 - noise / 2, 190]),
            (true, _) => Rgb([40 + noise / 2, 50, 60 + noise / 2]),
            (false, _) => Rgb([100 + noise, 110 + noise, 120 + noise]),
        };
    }
    image
}
