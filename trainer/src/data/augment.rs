//! Training-time augmentation on network-sized faces: the original recipe (flip, rotation,
//! zoom, brightness, contrast) plus a small shift, as one random affine warp, then photo
//! effects the celebrity crops rarely show but users' photos do: washed-out or grey colour
//! and low resolution (small faces in group photos, webcams).

use image::{imageops, Rgb, RgbImage};
use rand::Rng;

/// Ranges of the random transforms.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Augmentation {
    pub max_rotation_deg: f32,
    pub max_zoom: f32,
    pub max_shift: f32,
    pub max_brightness: f32,
    pub max_contrast: f32,
    /// Saturation is scaled by 1 ± this.
    pub max_saturation: f32,
    pub grayscale_probability: f64,
    /// Chance that a face is shrunk to `low_resolution_sides` and scaled back up.
    pub low_resolution_probability: f64,
    pub low_resolution_sides: (u32, u32),
}

impl Default for Augmentation {
    fn default() -> Self {
        Self {
            max_rotation_deg: 12.0,
            max_zoom: 0.15,
            max_shift: 0.08,
            max_brightness: 0.2,
            max_contrast: 0.2,
            max_saturation: 0.4,
            grayscale_probability: 0.1,
            low_resolution_probability: 0.2,
            low_resolution_sides: (20, 48),
        }
    }
}

impl Augmentation {
    /// The last epochs' ranges: mild geometry and light, none of the photo effects. The
    /// network under-fits (its accuracy on the clean training crops is no higher than on
    /// validation), so once the learning rate is small the hard variations only compete
    /// with the faces it is used on for its capacity.
    pub fn light() -> Self {
        Self {
            max_rotation_deg: 5.0,
            max_zoom: 0.05,
            max_shift: 0.03,
            max_brightness: 0.1,
            max_contrast: 0.1,
            max_saturation: 0.1,
            grayscale_probability: 0.0,
            low_resolution_probability: 0.0,
            low_resolution_sides: (20, 48),
        }
    }

    pub fn apply(&self, face: &RgbImage, rng: &mut impl Rng) -> RgbImage {
        let (w, h) = face.dimensions();
        let flip = rng.random_bool(0.5);
        let angle = rng
            .random_range(-self.max_rotation_deg..=self.max_rotation_deg)
            .to_radians();
        let zoom = 1.0 + rng.random_range(-self.max_zoom..=self.max_zoom);
        let shift_x = rng.random_range(-self.max_shift..=self.max_shift) * w as f32;
        let shift_y = rng.random_range(-self.max_shift..=self.max_shift) * h as f32;
        let brightness = rng.random_range(-self.max_brightness..=self.max_brightness) * 255.0;
        let contrast = 1.0 + rng.random_range(-self.max_contrast..=self.max_contrast);
        let saturation = if rng.random_bool(self.grayscale_probability) {
            0.0
        } else {
            1.0 + rng.random_range(-self.max_saturation..=self.max_saturation)
        };

        // Inverse map: output pixel → source position (rotate and scale about the centre).
        let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
        let (sin, cos) = angle.sin_cos();
        let mean = mean_intensity(face);
        let mut out = RgbImage::new(w, h);
        for (x, y, pixel) in out.enumerate_pixels_mut() {
            let dx = x as f32 + 0.5 - cx - shift_x;
            let dy = y as f32 + 0.5 - cy - shift_y;
            let mut sx = (cos * dx + sin * dy) / zoom + cx - 0.5;
            let sy = (-sin * dx + cos * dy) / zoom + cy - 0.5;
            if flip {
                sx = w as f32 - 1.0 - sx;
            }
            let src = bilinear(face, sx, sy);
            let grey = 0.299 * src[0] + 0.587 * src[1] + 0.114 * src[2];
            *pixel = Rgb(src.map(|v| {
                let v = grey + (v - grey) * saturation;
                ((v - mean) * contrast + mean + brightness).clamp(0.0, 255.0) as u8
            }));
        }
        if rng.random_bool(self.low_resolution_probability) {
            let (lo, hi) = self.low_resolution_sides;
            let side = rng.random_range(lo..=hi);
            let small = imageops::resize(&out, side, side, imageops::FilterType::Triangle);
            out = imageops::resize(&small, w, h, imageops::FilterType::Triangle);
        }
        out
    }
}

fn mean_intensity(face: &RgbImage) -> f32 {
    let sum: u64 = face.as_raw().iter().map(|&v| v as u64).sum();
    sum as f32 / face.as_raw().len().max(1) as f32
}

/// Bilinear sample with edge clamping (no black corners after rotation).
fn bilinear(img: &RgbImage, x: f32, y: f32) -> [f32; 3] {
    let (w, h) = img.dimensions();
    let x = x.clamp(0.0, (w - 1) as f32);
    let y = y.clamp(0.0, (h - 1) as f32);
    let (x0, y0) = (x.floor() as u32, y.floor() as u32);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let p = |xx, yy| img.get_pixel(xx, yy).0.map(|v| v as f32);
    let (a, b, c, d) = (p(x0, y0), p(x1, y0), p(x0, y1), p(x1, y1));
    std::array::from_fn(|i| {
        let top = a[i] + (b[i] - a[i]) * fx;
        let bottom = c[i] + (d[i] - c[i]) * fx;
        top + (bottom - top) * fy
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    /// A colourful 64 × 64 face stand-in, mirror-symmetric like a face (flips barely change
    /// it, so the comparison measures the other transforms).
    fn pattern() -> RgbImage {
        RgbImage::from_fn(64, 64, |x, y| {
            let dx = x.abs_diff(31) + x.abs_diff(32);
            Rgb([(dx * 3) as u8, (y * 4) as u8, 255 - (dx * 2 + y * 2) as u8])
        })
    }

    /// Mean absolute change per channel value, and how many outputs came out grey.
    fn changes(augmentation: &Augmentation) -> (f64, usize) {
        let face = pattern();
        let mut rng = StdRng::seed_from_u64(7);
        let (mut total, mut grey) = (0f64, 0);
        let runs = 200;
        for _ in 0..runs {
            let out = augmentation.apply(&face, &mut rng);
            let diff: u64 = out
                .as_raw()
                .iter()
                .zip(face.as_raw())
                .map(|(a, b)| u64::from(a.abs_diff(*b)))
                .sum();
            total += diff as f64 / out.as_raw().len() as f64;
            grey += usize::from(out.pixels().all(|p| p[0] == p[1] && p[1] == p[2]));
        }
        (total / runs as f64, grey)
    }

    #[test]
    fn light_augmentation_changes_faces_less_and_never_greys_them() {
        let (full_change, full_grey) = changes(&Augmentation::default());
        let (light_change, light_grey) = changes(&Augmentation::light());
        assert!(full_grey > 5, "grey faces in 200 draws: {full_grey}");
        assert_eq!(light_grey, 0);
        assert!(
            light_change < 0.6 * full_change,
            "light {light_change:.1} vs full {full_change:.1}"
        );
    }
}
