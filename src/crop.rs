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
    let clamp = |v: i64, max: u32| v.clamp(0, max as i64 - 1) as u32;
    let crop = RgbImage::from_fn(cw, ch, |cx, cy| {
        *image.get_pixel(clamp(x0 + cx as i64, width), clamp(y0 + cy as i64, height))
    });
    resize_to_input(&crop)
}
