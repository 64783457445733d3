//! Detector box → face crop framed like the training images.
//!
//! Measured on the Kaggle training crops (the detector run on copies inside a grey border;
//! `tests/crop_framing.rs` measures it again): relative to the detector's box of height
//! `h`, a training crop is `0.77 h` wide and `1.00 h` tall, its centre `0.026 h` above the
//! box's. Cropping detector boxes the same way shows the classifier faces framed as it
//! learned them; a model may ask for more of the head around them ([`CropScale`]).

use crate::detect::FaceBox;
use crate::inference::optional_scalar;
use crate::preprocess::resize_to_input;
use image::RgbImage;
use safetensors::SafeTensors;

/// Crop width and height as multiples of the detector box's height, at [`CropScale::TIGHT`].
pub const CROP_WIDTH_PER_BOX: f32 = 0.77;
pub const CROP_HEIGHT_PER_BOX: f32 = 1.00;
/// How far the crop's centre lies below the box's, in box heights (above: negative).
pub const CROP_CENTRE_BELOW_BOX: f32 = -0.026;

/// How much of the head around a detected face the classifier sees: the crop's sides as a
/// multiple of the tight, Kaggle-like crop. A model learns one framing, so it is stored
/// with the weights and every crop for that model (training, calibration, product) uses it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CropScale(pub f32);

/// Where the crop scale is stored in a weights file (absent: [`CropScale::TIGHT`]).
pub const CROP_SCALE_TENSOR: &str = "crop.scale";

impl CropScale {
    /// The Kaggle crops' framing: forehead to chin, little hair.
    pub const TIGHT: Self = Self(1.0);

    /// As stored beside the weights; a file without it was trained on tight crops.
    pub(crate) fn from_tensors(file: &SafeTensors) -> Result<Self, String> {
        optional_scalar(file, CROP_SCALE_TENSOR)?.map_or(Ok(Self::TIGHT), Self::checked)
    }

    /// A scale that crops something sensible: from half to three times the tight crop.
    pub fn checked(scale: f32) -> Result<Self, String> {
        if (0.5..=3.0).contains(&scale) {
            Ok(Self(scale))
        } else {
            Err(format!(
                "a crop scale of {scale} is outside 0.5–3 (1: the tight crop)"
            ))
        }
    }
}

/// The crop region (x, y, width, height) for a detected face; it may extend past the image
/// borders.
pub fn crop_region(face: &FaceBox, scale: CropScale) -> (f32, f32, f32, f32) {
    let side = face.height * scale.0;
    let (cx, cy) = (
        face.x + face.width / 2.0,
        face.y + face.height * (0.5 + CROP_CENTRE_BELOW_BOX),
    );
    let (w, h) = (side * CROP_WIDTH_PER_BOX, side * CROP_HEIGHT_PER_BOX);
    (cx - w / 2.0, cy - h / 2.0, w, h)
}

/// Cuts the region out of the image (edge pixels repeat past the border) and resizes it to
/// the network input.
pub fn crop_face(image: &RgbImage, face: &FaceBox, scale: CropScale) -> RgbImage {
    let (x, y, w, h) = crop_region(face, scale);
    let (width, height) = image.dimensions();
    let (cw, ch) = (w.round().max(1.0) as u32, h.round().max(1.0) as u32);
    let (x0, y0) = (x.round() as i64, y.round() as i64);
    let clamp = |v: i64, max: u32| v.clamp(0, max as i64 - 1) as usize;
    let mut crop = RgbImage::new(cw, ch);
    let source_row = 3 * width as usize;
    // A call per row: see "Tier-up" in docs/design.md.
    for (cy, out) in crop.chunks_exact_mut(3 * cw as usize).enumerate() {
        let y = clamp(y0 + cy as i64, height);
        let row = &image.as_raw()[y * source_row..][..source_row];
        copy_row(row, x0, out);
    }
    resize_to_input(&crop)
}

/// Pixels `x0..` of `row` into `out`, repeating the edge pixels past either end.
#[cfg_attr(target_arch = "wasm32", inline(never))]
fn copy_row(row: &[u8], x0: i64, out: &mut [u8]) {
    let last = (row.len() / 3 - 1) as i64;
    for (cx, pixel) in out.chunks_exact_mut(3).enumerate() {
        let x = (x0 + cx as i64).clamp(0, last) as usize;
        pixel.copy_from_slice(&row[3 * x..3 * x + 3]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crops_repeat_the_edge_pixels_past_every_border() {
        let image = RgbImage::from_fn(37, 23, |x, y| {
            image::Rgb([x as u8 * 7, y as u8 * 11, (x * y) as u8])
        });
        // Inside, over each border, and larger than the whole image; tight and wide.
        let boxes = [
            (5.0, 3.0, 12.0),
            (-6.0, -4.0, 15.0),
            (30.0, 15.0, 14.0),
            (-20.0, -20.0, 80.0),
        ];
        for ((x, y, side), scale) in boxes
            .into_iter()
            .flat_map(|b| [(b, CropScale::TIGHT), (b, CropScale(1.4))])
        {
            let face = FaceBox {
                x,
                y,
                width: side,
                height: side,
                score: 1.0,
                landmarks: [[0.0; 2]; 5],
            };
            let (rx, ry, rw, rh) = crop_region(&face, scale);
            let (cw, ch) = (rw.round().max(1.0) as u32, rh.round().max(1.0) as u32);
            let (x0, y0) = (rx.round() as i64, ry.round() as i64);
            let reference = RgbImage::from_fn(cw, ch, |cx, cy| {
                let px = (x0 + cx as i64).clamp(0, 36) as u32;
                let py = (y0 + cy as i64).clamp(0, 22) as u32;
                *image.get_pixel(px, py)
            });
            assert_eq!(
                crop_face(&image, &face, scale),
                resize_to_input(&reference),
                "{face:?} {scale:?}"
            );
        }
    }

    #[test]
    fn a_wider_scale_keeps_the_centre_and_grows_both_sides() {
        let face = FaceBox {
            x: 10.0,
            y: 20.0,
            width: 40.0,
            height: 40.0,
            score: 1.0,
            landmarks: [[0.0; 2]; 5],
        };
        let (x, y, w, h) = crop_region(&face, CropScale::TIGHT);
        let (wx, wy, ww, wh) = crop_region(&face, CropScale(1.5));
        assert!((ww - 1.5 * w).abs() < 1e-4 && (wh - 1.5 * h).abs() < 1e-4);
        assert!((wx + ww / 2.0 - (x + w / 2.0)).abs() < 1e-4);
        assert!((wy + wh / 2.0 - (y + h / 2.0)).abs() < 1e-4);
        assert!(CropScale::checked(0.3).is_err() && CropScale::checked(f32::NAN).is_err());
        assert_eq!(CropScale::checked(1.4), Ok(CropScale(1.4)));
    }
}
