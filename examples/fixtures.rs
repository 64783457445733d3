//! Makes the committed test photos from two public-domain pictures that come with packages:
//! `test.png` of the rustface 0.1.7 crate (its package from crates.io, unpacked) and `skimage/data/astronaut.png` of the scikit-image wheel (NASA's
//! portrait of Eileen Collins):
//!
//! `cargo run --release --example fixtures -- <rustface package folder>/test.png <astronaut.png>`
//!
//! That file is the output of rustface's own example: its detections are drawn on the grey
//! photograph as boxes of pure red (255, 0, 0). Left in, they would hand every face to the
//! detector framed by two dark lines (red is dark in the grey the detector sees) and put
//! coloured lines into every face crop. Each red pixel is painted out by linear interpolation
//! between the nearest photo pixels across the line (the lines are 1–3 px thick), then the
//! photo is shrunk to 1024 px wide as `tests/fixtures/solvay-1927.jpg` and one face is cut
//! out as the package's `js/warm-up.jpg` (JPEG quality 88). Portraits are cut from the
//! full-size photos as `tests/fixtures/faces/*.jpg` (200 × 200 px, like the UTKFace chips):
//! the tests' single faces, so that no test needs a data set.

use image::codecs::jpeg::JpegEncoder;
use image::imageops::{crop_imm, resize, FilterType};
use image::{Rgb, RgbImage};
use std::path::Path;

const RED: Rgb<u8> = Rgb([255, 0, 0]);
const FIXTURE_WIDTH: u32 = 1024;
/// The warm-up photo: this square of the 1024 px fixture, around one face of about 40 px
/// (a man in the front row), with context for the detector.
const WARM_UP: (u32, u32, u32) = (389, 143, 72);
const QUALITY: u8 = 88;
/// Portraits of the Solvay photo: file name and the upstream detector's box (x, y, side) in
/// `test.png`, one of the red boxes painted out. Each is cut as a square of `PORTRAIT_MARGIN`
/// × the box side around the box's centre (the face then fills about as much of it as in a
/// UTKFace chip).
const PORTRAITS: [(&str, (u32, u32, u32)); 2] =
    [("einstein", (865, 250, 62)), ("planck", (283, 258, 62))];
/// Eileen Collins's face in `astronaut.png` (512 × 512), as the cascade detector the project
/// used then boxed it.
const COLLINS: (u32, u32, u32) = (177, 68, 94);
const PORTRAIT_MARGIN: f32 = 2.0;
const PORTRAIT_SIDE: u32 = 200;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let usage = "usage: fixtures <rustface package folder>/test.png <astronaut.png>";
    let source = std::env::args().nth(1).ok_or(usage)?;
    let astronaut = std::env::args().nth(2).ok_or(usage)?;
    let annotated = image::open(&source)?.to_rgb8();
    let (photo, painted) = paint_out(&annotated, RED);
    println!("{source}: {painted} red box pixels painted out");

    let height = (photo.height() as f64 * FIXTURE_WIDTH as f64 / photo.width() as f64).round();
    let fixture = resize(&photo, FIXTURE_WIDTH, height as u32, FilterType::Lanczos3);
    write_jpeg(&fixture, Path::new("tests/fixtures/solvay-1927.jpg"))?;
    let (x, y, side) = WARM_UP;
    let warm_up = crop_imm(&fixture, x, y, side, side).to_image();
    write_jpeg(&warm_up, Path::new("js/warm-up.jpg"))?;
    std::fs::create_dir_all("tests/fixtures/faces")?;
    let collins = image::open(&astronaut)?.to_rgb8();
    let portraits = PORTRAITS
        .map(|(name, face)| (name, &photo, face))
        .into_iter()
        .chain([("collins", &collins, COLLINS)]);
    for (name, photo, face) in portraits {
        let path = Path::new("tests/fixtures/faces").join(format!("{name}.jpg"));
        write_jpeg(&portrait(photo, face), &path)?;
    }
    Ok(())
}

/// The square of `PORTRAIT_MARGIN` × the face box's side around its centre, resized to
/// `PORTRAIT_SIDE`.
fn portrait(photo: &RgbImage, (x, y, side): (u32, u32, u32)) -> RgbImage {
    let crop_side = (side as f32 * PORTRAIT_MARGIN).round() as u32;
    let left = (x + side / 2).saturating_sub(crop_side / 2);
    let top = (y + side / 2).saturating_sub(crop_side / 2);
    let square = crop_imm(photo, left, top, crop_side, crop_side).to_image();
    resize(&square, PORTRAIT_SIDE, PORTRAIT_SIDE, FilterType::Lanczos3)
}

/// `image` with every pixel of colour `ink` replaced by the photo around it; returns the new
/// image and how many pixels were painted.
fn paint_out(image: &RgbImage, ink: Rgb<u8>) -> (RgbImage, usize) {
    let (w, h) = image.dimensions();
    let pixel_at = |x: i64, y: i64| {
        (x >= 0 && y >= 0 && x < w as i64 && y < h as i64)
            .then(|| *image.get_pixel(x as u32, y as u32))
    };
    let is_ink = |x: i64, y: i64| pixel_at(x, y) == Some(ink);
    let mut out = image.clone();
    let mut painted = 0;
    for (x, y, pixel) in image.enumerate_pixels() {
        if *pixel != ink {
            continue;
        }
        let (x, y) = (x as i64, y as i64);
        // The first non-ink pixel in each direction; lines run along one axis, so
        // interpolate across the narrower gap (at corners both are narrow).
        let reach = |dx: i64, dy: i64| {
            let mut k = 1;
            while is_ink(x + k * dx, y + k * dy) {
                k += 1;
            }
            k
        };
        let (up, down, left, right) = (reach(0, -1), reach(0, 1), reach(-1, 0), reach(1, 0));
        let ((ax, ay, a), (bx, by, b)) = if up + down <= left + right {
            ((0, -1, up), (0, 1, down))
        } else {
            ((-1, 0, left), (1, 0, right))
        };
        let value = match (
            pixel_at(x + a * ax, y + a * ay),
            pixel_at(x + b * bx, y + b * by),
        ) {
            (Some(p), Some(q)) => {
                let t = a as f32 / (a + b) as f32;
                Rgb(std::array::from_fn(|c| {
                    (p[c] as f32 * (1.0 - t) + q[c] as f32 * t).round() as u8
                }))
            }
            (Some(p), None) | (None, Some(p)) => p,
            (None, None) => Rgb([128, 128, 128]),
        };
        out.put_pixel(x as u32, y as u32, value);
        painted += 1;
    }
    (out, painted)
}

fn write_jpeg(image: &RgbImage, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    JpegEncoder::new_with_quality(&mut file, QUALITY).encode_image(image)?;
    println!(
        "{}: {}×{} px",
        path.display(),
        image.width(),
        image.height()
    );
    Ok(())
}
