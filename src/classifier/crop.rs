//! Detector box → face crop framed like the training images.
//!
//! Measured on the Kaggle training crops (the detector run on copies inside a grey border;
//! `tests/crop_framing.rs` measures it again): relative to the detector's box of height
//! `h`, a training crop is `0.77 h` wide and `1.00 h` tall, its centre `0.026 h` above the
//! box's. Cropping detector boxes the same way shows the classifier faces framed as it
//! learned them; a model may ask for more of the head around them ([`CropScale`]), and for
//! faces turned upright on the detector's five points ([`Framing::aligned`]).

use super::preprocess::{resize_to_input, INPUT_SIZE};
use crate::detect::FaceBox;
use crate::resize::triangle_resize;
use crate::weights::optional_scalar;
use image::RgbImage;
use safetensors::SafeTensors;

/// Crop width and height as multiples of the detector box's height, at [`CropScale::TIGHT`].
pub const CROP_WIDTH_PER_BOX: f32 = 0.77;
pub const CROP_HEIGHT_PER_BOX: f32 = 1.00;
/// How far the crop's centre lies below the box's, in box heights (above: negative).
pub const CROP_CENTRE_BELOW_BOX: f32 = -0.026;

/// Where the five points (eyes, nose tip, mouth corners) of a face lie in the tight crop, on
/// average over the Kaggle training crops: (x, y) from the crop's centre, in box heights
/// (medians measured by `tests/crop_framing.rs`, made mirror-symmetric: training flips
/// faces). An aligned crop puts each face's points here.
pub const CANONICAL_POINTS: [[f32; 2]; 5] = [
    [-0.181, -0.099],
    [0.181, -0.099],
    [0.0, 0.101],
    [-0.153, 0.256],
    [0.153, 0.256],
];

/// How much of the head around a detected face the classifier sees: the crop's sides as a
/// multiple of the tight, Kaggle-like crop. A model learns one framing, so it is stored
/// with the weights and every crop for that model (training, calibration, product) uses it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CropScale(pub f32);

/// Where the crop scale is stored in a weights file (absent: [`CropScale::TIGHT`]).
pub const CROP_SCALE_TENSOR: &str = "crop.scale";
/// Where a weights file says its faces were aligned (1) or cut along the box (0, absent).
pub const CROP_ALIGNED_TENSOR: &str = "crop.aligned";

/// How every face is cut for a model: its crop scale, and whether the crop is turned and
/// sized so that the detector's five points land on [`CANONICAL_POINTS`] (otherwise it is
/// the box's upright rectangle). Stored with the weights, like the scale.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Framing {
    pub scale: CropScale,
    pub aligned: bool,
}

impl Framing {
    /// As stored beside the weights.
    pub(crate) fn from_tensors(file: &SafeTensors) -> Result<Self, String> {
        Ok(Self {
            scale: CropScale::from_tensors(file)?,
            aligned: optional_scalar(file, CROP_ALIGNED_TENSOR)?.is_some_and(|v| v >= 0.5),
        })
    }
}

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

/// The network-sized crop of a detected face, framed as `framing` says. An aligned crop
/// whose points do not make a plausible face (turned over, or sized far from the box) is cut
/// along the box instead.
pub fn crop_face(image: &RgbImage, face: &FaceBox, framing: Framing) -> RgbImage {
    if framing.aligned {
        if let Some(crop) = aligned_crop(image, face, framing.scale) {
            return crop;
        }
    }
    resize_to_input(&cut(image, crop_region(face, framing.scale)))
}

/// The region (x, y, width, height) cut out of the image, edge pixels repeated past the
/// borders.
fn cut(image: &RgbImage, (x, y, w, h): (f32, f32, f32, f32)) -> RgbImage {
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
    crop
}

/// The similarity (`[a −b; b a]·q + t`) that best maps [`CANONICAL_POINTS`] onto `points`
/// in the least-squares sense: `(a, b, t)`.
fn similarity(points: &[[f32; 2]; 5]) -> (f32, f32, [f32; 2]) {
    let mean = |p: &[[f32; 2]; 5]| {
        let s = p.iter().fold([0.0; 2], |s, q| [s[0] + q[0], s[1] + q[1]]);
        [s[0] / 5.0, s[1] / 5.0]
    };
    let (qm, pm) = (mean(&CANONICAL_POINTS), mean(points));
    let (mut dot, mut cross, mut norm) = (0.0, 0.0, 0.0);
    for (q, p) in CANONICAL_POINTS.iter().zip(points) {
        let (qx, qy, px, py) = (q[0] - qm[0], q[1] - qm[1], p[0] - pm[0], p[1] - pm[1]);
        dot += qx * px + qy * py;
        cross += qx * py - qy * px;
        norm += qx * qx + qy * qy;
    }
    let (a, b) = (dot / norm, cross / norm);
    (
        a,
        b,
        [
            pm[0] - (a * qm[0] - b * qm[1]),
            pm[1] - (b * qm[0] + a * qm[1]),
        ],
    )
}

/// The crop turned and sized so the face's points land on [`CANONICAL_POINTS`]; `None` when
/// they make no plausible face (more than 60° of roll, or sized beyond half or twice the box).
fn aligned_crop(image: &RgbImage, face: &FaceBox, scale: CropScale) -> Option<RgbImage> {
    let (a, b, t) = similarity(&face.landmarks);
    let size = a.hypot(b);
    let plausible = size.is_finite()
        && (0.5 * face.height..=2.0 * face.height).contains(&size)
        && a >= 0.5 * size;
    if !plausible {
        return None;
    }
    let side = INPUT_SIZE as f32;
    let (w, h) = (CROP_WIDTH_PER_BOX * scale.0, CROP_HEIGHT_PER_BOX * scale.0);
    // Output pixel (u, v) ↦ canonical q ↦ image point p = [a −b; b a]·q + t.
    let to_image = |u: f32, v: f32| {
        let q = [(u / side - 0.5) * w, (v / side - 0.5) * h];
        [a * q[0] - b * q[1] + t[0], b * q[0] + a * q[1] + t[1]]
    };
    let corners = [(0.0, 0.0), (side, 0.0), (0.0, side), (side, side)].map(|(u, v)| to_image(u, v));
    let (x0, y0) = corners
        .iter()
        .fold((f32::MAX, f32::MAX), |(x, y), p| (x.min(p[0]), y.min(p[1])));
    let (x1, y1) = corners
        .iter()
        .fold((f32::MIN, f32::MIN), |(x, y), p| (x.max(p[0]), y.max(p[1])));
    let (x0, y0) = (x0.floor() - 1.0, y0.floor() - 1.0);
    let region = cut(image, (x0, y0, x1.ceil() + 1.0 - x0, y1.ceil() + 1.0 - y0));
    // Shrunk first with the antialiasing resize to about one pixel per output pixel, so
    // the bilinear samples below do not alias on large faces.
    let shrink = (size * h / side).max(1.0);
    let (rw, rh) = region.dimensions();
    let small = if shrink > 1.0 {
        let (sw, sh) = (
            (rw as f32 / shrink).round().max(2.0) as u32,
            (rh as f32 / shrink).round().max(2.0) as u32,
        );
        triangle_resize(&region, sw, sh)
    } else {
        region
    };
    let (sw, sh) = small.dimensions();
    let (fx, fy) = (sw as f32 / rw as f32, sh as f32 / rh as f32);
    Some(RgbImage::from_fn(
        INPUT_SIZE as u32,
        INPUT_SIZE as u32,
        |u, v| {
            let p = to_image(u as f32 + 0.5, v as f32 + 0.5);
            let x = (p[0] - x0) * fx - 0.5;
            let y = (p[1] - y0) * fy - 0.5;
            image::Rgb(bilinear(&small, x, y))
        },
    ))
}

/// The image's colour at (x, y) (pixel centres at whole numbers), edges repeated.
fn bilinear(image: &RgbImage, x: f32, y: f32) -> [u8; 3] {
    let (w, h) = image.dimensions();
    let (xf, yf) = (x.floor(), y.floor());
    let (dx, dy) = (x - xf, y - yf);
    let at = |x: f32, y: f32| {
        image
            .get_pixel(
                x.clamp(0.0, (w - 1) as f32) as u32,
                y.clamp(0.0, (h - 1) as f32) as u32,
            )
            .0
    };
    let (p00, p10, p01, p11) = (
        at(xf, yf),
        at(xf + 1.0, yf),
        at(xf, yf + 1.0),
        at(xf + 1.0, yf + 1.0),
    );
    std::array::from_fn(|c| {
        let top = f32::from(p00[c]) * (1.0 - dx) + f32::from(p10[c]) * dx;
        let bottom = f32::from(p01[c]) * (1.0 - dx) + f32::from(p11[c]) * dx;
        (top * (1.0 - dy) + bottom * dy).round().clamp(0.0, 255.0) as u8
    })
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
            let framing = Framing {
                scale,
                aligned: false,
            };
            assert_eq!(
                crop_face(&image, &face, framing),
                resize_to_input(&reference),
                "{face:?} {scale:?}"
            );
        }
    }

    /// A smooth, unsymmetric picture: a face-sized pattern any turn or shift would change.
    fn pattern(width: u32, height: u32, turn: f32, centre: [f32; 2]) -> RgbImage {
        let (sin, cos) = turn.sin_cos();
        RgbImage::from_fn(width, height, |x, y| {
            // The upright picture's point that lands on (x, y) after turning by `turn`.
            let (dx, dy) = (x as f32 + 0.5 - centre[0], y as f32 + 0.5 - centre[1]);
            let (u, v) = (cos * dx + sin * dy, -sin * dx + cos * dy);
            let value = |f: f32| (127.5 + 120.0 * f.sin()) as u8;
            image::Rgb([value(u / 9.0), value(v / 13.0), value((u + 2.0 * v) / 17.0)])
        })
    }

    /// The box of height `side` centred on `centre` whose points sit on the canonical
    /// frame turned by `turn` around the box's centre (as `pattern` turns the picture).
    fn face_at(centre: [f32; 2], side: f32, turn: f32) -> FaceBox {
        let (sin, cos) = turn.sin_cos();
        FaceBox {
            x: centre[0] - side / 2.0,
            y: centre[1] - side / 2.0,
            width: side,
            height: side,
            score: 1.0,
            landmarks: CANONICAL_POINTS.map(|[x, y]| {
                let (x, y) = (x * side, (y + CROP_CENTRE_BELOW_BOX) * side);
                [centre[0] + cos * x - sin * y, centre[1] + sin * x + cos * y]
            }),
        }
    }

    fn mean_difference(a: &RgbImage, b: &RgbImage) -> f32 {
        let sum: f32 = a
            .iter()
            .zip(b.iter())
            .map(|(x, y)| (f32::from(*x) - f32::from(*y)).abs())
            .sum();
        sum / a.len() as f32
    }

    #[test]
    fn an_aligned_crop_turns_the_face_upright() {
        let centre = [100.0, 90.0];
        let aligned = Framing {
            scale: CropScale(1.4),
            aligned: true,
        };
        let upright_image = pattern(200, 180, 0.0, centre);
        let upright = crop_face(&upright_image, &face_at(centre, 70.0, 0.0), aligned);
        // Points on the canonical frame without a turn: the box's own crop, up to resampling.
        let along_box = crop_face(
            &upright_image,
            &face_at(centre, 70.0, 0.0),
            Framing {
                aligned: false,
                ..aligned
            },
        );
        assert!(mean_difference(&upright, &along_box) < 6.0);
        for turn in [0.4f32, -0.7] {
            let turned_image = pattern(200, 180, turn, centre);
            let face = face_at(centre, 70.0, turn);
            let turned = crop_face(&turned_image, &face, aligned);
            let difference = mean_difference(&upright, &turned);
            assert!(difference < 6.0, "turned by {turn}: {difference}");
            // The box's crop of the turned face is not upright: the comparison can fail.
            let boxed = crop_face(
                &turned_image,
                &face,
                Framing {
                    aligned: false,
                    ..aligned
                },
            );
            assert!(mean_difference(&upright, &boxed) > 20.0, "turned by {turn}");
        }
    }

    #[test]
    fn points_that_make_no_face_fall_back_to_the_box() {
        let centre = [60.0, 60.0];
        let image = pattern(120, 120, 0.0, centre);
        let mut face = face_at(centre, 50.0, 0.0);
        let aligned = Framing {
            scale: CropScale::TIGHT,
            aligned: true,
        };
        let boxed = Framing {
            aligned: false,
            ..aligned
        };
        for landmarks in [
            [[0.0; 2]; 5],
            [[f32::NAN; 2]; 5],
            face_at(centre, 50.0, std::f32::consts::PI).landmarks,
            face_at(centre, 200.0, 0.0).landmarks,
        ] {
            face.landmarks = landmarks;
            assert_eq!(
                crop_face(&image, &face, aligned),
                crop_face(&image, &face, boxed)
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
