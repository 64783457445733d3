//! Detector box → face crop framed like the training images.
//!
//! Measured on the Kaggle validation crops (rustface run on padded copies): relative to the
//! detector's square box of side `s`, a training crop is centred on the box, `0.85 s` wide
//! and `1.09 s` tall. Cropping detector boxes the same way shows the classifier faces framed
//! as it learned them.

use crate::detect::FaceBox;
use crate::preprocess::resize_to_input;
use image::RgbImage;

/// Crop width and height as multiples of the detector box side.
pub const CROP_WIDTH_PER_BOX: f32 = 0.85;
pub const CROP_HEIGHT_PER_BOX: f32 = 1.09;

/// The training-style crop region (x, y, width, height) for a detected face; it may extend
/// past the image borders.
pub fn crop_region(face: &FaceBox) -> (f32, f32, f32, f32) {
    let side = face.width.max(face.height);
    let (cx, cy) = (face.x + face.width / 2.0, face.y + face.height / 2.0);
    let (w, h) = (side * CROP_WIDTH_PER_BOX, side * CROP_HEIGHT_PER_BOX);
    (cx - w / 2.0, cy - h / 2.0, w, h)
}

/// Cuts the region out of the image (edge pixels repeat past the border) and resizes it to
/// the network input.
pub fn crop_face(image: &RgbImage, face: &FaceBox) -> RgbImage {
    let (x, y, w, h) = crop_region(face);
    let (width, height) = image.dimensions();
    let (cw, ch) = (w.round().max(1.0) as u32, h.round().max(1.0) as u32);
    let (x0, y0) = (x.round() as i64, y.round() as i64);
    let clamp = |v: i64, max: u32| v.clamp(0, max as i64 - 1) as usize;
    let mut crop = RgbImage::new(cw, ch);
    let source_row = 3 * width as usize;
    // A call per row: see "Tier-up" in the detector's lib.rs.
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
        // Inside, over each border, and larger than the whole image.
        for (x, y, side) in [
            (5.0, 3.0, 12.0),
            (-6.0, -4.0, 15.0),
            (30.0, 15.0, 14.0),
            (-20.0, -20.0, 80.0),
        ] {
            let face = FaceBox {
                x,
                y,
                width: side,
                height: side,
                score: 1.0,
            };
            let (rx, ry, rw, rh) = crop_region(&face);
            let (cw, ch) = (rw.round().max(1.0) as u32, rh.round().max(1.0) as u32);
            let (x0, y0) = (rx.round() as i64, ry.round() as i64);
            let reference = RgbImage::from_fn(cw, ch, |cx, cy| {
                let px = (x0 + cx as i64).clamp(0, 36) as u32;
                let py = (y0 + cy as i64).clamp(0, 22) as u32;
                *image.get_pixel(px, py)
            });
            assert_eq!(
                crop_face(&image, &face),
                resize_to_input(&reference),
                "{face:?}"
            );
        }
    }
}
