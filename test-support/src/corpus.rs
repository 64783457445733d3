//! The hostile-input corpus: every kind of file users drop, generated from one face photo so
//! nothing binary is committed. Native tests, wasm tests, the page test (via
//! `cargo run --example write_corpus`) and the fuzzer's seeds all use this one list.

use image::codecs::gif::GifEncoder;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::metadata::Orientation;
use image::{
    imageops, DynamicImage, ExtendedColorType, Frame, ImageEncoder, Rgb, RgbImage, RgbaImage,
};

/// The face every "found and labelled male" case is made from: a 200 × 200 portrait.
pub const FACE_JPEG: &[u8] = crate::EINSTEIN_JPEG;

/// What the pipeline must do with a file.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Expect {
    /// A clear error, no result.
    Error,
    /// A result with no face (the image decodes but holds none).
    NoFace,
    /// The face of [`FACE_JPEG`] is found and labelled male. For EXIF-rotated files the
    /// image must also come out upright, `upright` × the size it was generated at.
    Face { upright: (u32, u32) },
}

pub struct BadFile {
    /// File name, with the extension a user's file would have.
    pub name: String,
    pub bytes: Vec<u8>,
    pub expect: Expect,
}

fn file(name: &str, bytes: Vec<u8>, expect: Expect) -> BadFile {
    BadFile {
        name: name.to_string(),
        bytes,
        expect,
    }
}

/// The face photo, decoded, placed off-centre on a wider grey canvas (so rotations show in
/// the output size).
pub fn face_scene() -> RgbImage {
    let face = image::load_from_memory(FACE_JPEG).unwrap().to_rgb8();
    let mut scene = RgbImage::from_pixel(300, 220, Rgb([128, 128, 128]));
    imageops::replace(&mut scene, &face, 20, 10);
    scene
}

/// Every case, small ones first. `with_huge` adds the 8 000 × 6 000 photo (about 2 MB of
/// JPEG and 144 MB decoded), which slow test environments may skip.
pub fn bad_files(with_huge: bool) -> Vec<BadFile> {
    let scene = face_scene();
    let face_expect = Expect::Face {
        upright: scene.dimensions(),
    };
    let jpeg = encode_jpeg(&scene);
    let png = encode_png(&DynamicImage::ImageRgb8(scene.clone()));
    let mut files = vec![
        file("empty.jpg", vec![], Expect::Error),
        file("random-bytes.jpg", pseudo_random_bytes(4096), Expect::Error),
        file(
            "notes.txt.jpg",
            b"Meeting notes\nnot an image at all\n".repeat(20),
            Expect::Error,
        ),
        file(
            "truncated.jpg",
            jpeg[..jpeg.len() / 2].to_vec(),
            Expect::Error,
        ),
        file(
            "truncated.png",
            png[..png.len() / 2].to_vec(),
            Expect::Error,
        ),
        file("header-only.png", png[..60].to_vec(), Expect::Error),
        file(
            "bomb-30000x30000.png",
            png_claiming(30_000, 30_000),
            Expect::Error,
        ),
        file(
            "bomb-30000x30000.jpg",
            jpeg_claiming(&jpeg, 30_000, 30_000),
            Expect::Error,
        ),
        file("zero-size.png", png_claiming(0, 0), Expect::Error),
        file("face.jpg", jpeg.clone(), face_expect),
        file("face.png", png, face_expect),
        file("cmyk.jpg", encode_cmyk_jpeg(&scene), face_expect),
        file(
            "rgb16.png",
            encode_png(&DynamicImage::ImageRgb16(
                DynamicImage::ImageRgb8(scene.clone()).to_rgb16(),
            )),
            face_expect,
        ),
        file(
            "grayscale.jpg",
            encode_jpeg_gray(&DynamicImage::ImageRgb8(scene.clone()).to_luma8()),
            face_expect,
        ),
        file("palette-alpha.png", encode_palette_png(&scene), face_expect),
        file("animated.gif", encode_animated_gif(&scene), face_expect),
        file("face.webp", encode_webp(&scene), face_expect),
        file(
            "one-pixel.png",
            encode_png(&DynamicImage::ImageRgb8(RgbImage::from_pixel(
                1,
                1,
                Rgb([200, 150, 120]),
            ))),
            Expect::NoFace,
        ),
    ];
    // Shapes and contents the detector's network must take without a face or a panic: its
    // input is padded to multiples of 32 px, and neither flat nor random pixels are faces.
    let noise: Vec<u8> = pseudo_random_bytes(640 * 480 * 3);
    for (name, image) in [
        (
            "one-pixel-wide.png",
            RgbImage::from_pixel(1, 700, Rgb([90, 60, 40])),
        ),
        (
            "one-pixel-tall.png",
            RgbImage::from_pixel(700, 1, Rgb([90, 60, 40])),
        ),
        (
            "tiny-3x2.png",
            RgbImage::from_pixel(3, 2, Rgb([200, 150, 120])),
        ),
        ("all-black.png", RgbImage::new(640, 480)),
        (
            "noise.png",
            RgbImage::from_raw(640, 480, noise).expect("640 × 480 × 3 bytes"),
        ),
    ] {
        files.push(file(
            name,
            encode_png(&DynamicImage::ImageRgb8(image)),
            Expect::NoFace,
        ));
    }
    for orientation in 2..=8u8 {
        files.push(file(
            &format!("exif-orientation-{orientation}.jpg"),
            encode_with_orientation(&scene, orientation),
            face_expect,
        ));
    }
    if with_huge {
        let upright = (8000, 6000);
        files.push(file(
            "huge-8000x6000.jpg",
            encode_jpeg(&imageops::resize(
                &scene,
                upright.0,
                upright.1,
                imageops::FilterType::Triangle,
            )),
            Expect::Face { upright },
        ));
    }
    files
}

fn encode_jpeg(image: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .write_image(
            image,
            image.width(),
            image.height(),
            ExtendedColorType::Rgb8,
        )
        .unwrap();
    out
}

fn encode_jpeg_gray(image: &image::GrayImage) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .write_image(image, image.width(), image.height(), ExtendedColorType::L8)
        .unwrap();
    out
}

fn encode_png(image: &DynamicImage) -> Vec<u8> {
    let mut out = Vec::new();
    image.write_with_encoder(PngEncoder::new(&mut out)).unwrap();
    out
}

fn encode_webp(image: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    WebPEncoder::new_lossless(&mut out)
        .write_image(
            image,
            image.width(),
            image.height(),
            ExtendedColorType::Rgb8,
        )
        .unwrap();
    out
}

/// A CMYK JPEG (as print workflows write them), via `jpeg-encoder`, which can write CMYK.
fn encode_cmyk_jpeg(image: &RgbImage) -> Vec<u8> {
    let cmyk: Vec<u8> = image
        .pixels()
        .flat_map(|p| {
            let k = 255 - p.0.iter().copied().max().unwrap();
            let scale = |v: u8| {
                if k == 255 {
                    0
                } else {
                    ((255 - v - k) as u32 * 255 / (255 - k) as u32) as u8
                }
            };
            [scale(p[0]), scale(p[1]), scale(p[2]), k]
        })
        .collect();
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 90)
        .encode(
            &cmyk,
            image.width() as u16,
            image.height() as u16,
            jpeg_encoder::ColorType::Cmyk,
        )
        .unwrap();
    out
}

/// An indexed PNG with a transparency table: colours quantised to 7×8×4 levels (dithered),
/// the image's border fully transparent.
fn encode_palette_png(image: &RgbImage) -> Vec<u8> {
    const LEVELS: [u32; 3] = [7, 8, 4];
    let colours = LEVELS.iter().product::<u32>() as usize;
    let mut palette = Vec::with_capacity(3 * colours + 3);
    for i in 0..colours as u32 {
        let (r, g, b) = (i / 32, i / 4 % 8, i % 4);
        palette.extend([(r, 7), (g, 8), (b, 4)].map(|(v, n)| (v * 255 / (n - 1)) as u8));
    }
    let transparent = colours as u8;
    palette.extend([0, 0, 0]);
    let mut alpha = vec![255u8; colours];
    alpha.push(0);
    // A 2×2 ordered dither keeps gradients (and so the face) recognisable.
    let dither = [[0.0, 0.5], [0.75, 0.25]];
    let (w, h) = image.dimensions();
    let indices: Vec<u8> = image
        .enumerate_pixels()
        .map(|(x, y, p)| {
            if x < 4 || y < 4 || x >= w - 4 || y >= h - 4 {
                return transparent;
            }
            let d = dither[(y % 2) as usize][(x % 2) as usize];
            let q = |c: usize| {
                let n = LEVELS[c] - 1;
                ((p[c] as f32 * n as f32 / 255.0 + d - 0.25).round() as u32).min(n)
            };
            (q(0) * 32 + q(1) * 4 + q(2)) as u8
        })
        .collect();
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, w, h);
        encoder.set_color(png::ColorType::Indexed);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_palette(palette);
        encoder.set_trns(alpha);
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(&indices).unwrap();
    }
    out
}

/// Two frames: the face, then a blank frame. The first frame is what gets analysed.
fn encode_animated_gif(image: &RgbImage) -> Vec<u8> {
    let first = DynamicImage::ImageRgb8(image.clone()).to_rgba8();
    let blank = RgbaImage::from_pixel(image.width(), image.height(), image::Rgba([0, 0, 0, 255]));
    let mut out = Vec::new();
    {
        let mut encoder = GifEncoder::new_with_speed(&mut out, 30);
        encoder
            .encode_frames([Frame::new(first), Frame::new(blank)])
            .unwrap();
    }
    out
}

/// A JPEG that is stored sideways/mirrored and carries the EXIF orientation that makes it
/// upright again (what phone cameras write).
fn encode_with_orientation(upright: &RgbImage, orientation: u8) -> Vec<u8> {
    // Stored pixels = the inverse transform of what the viewer applies.
    let inverse = match orientation {
        6 => 8,
        8 => 6,
        other => other,
    };
    let mut stored = DynamicImage::ImageRgb8(upright.clone());
    stored.apply_orientation(Orientation::from_exif(inverse).unwrap());
    let jpeg = encode_jpeg(&stored.to_rgb8());
    // APP1 "Exif" segment: big-endian TIFF header, one IFD with tag 0x0112 (Orientation).
    let mut tiff = b"MM\x00\x2a\x00\x00\x00\x08".to_vec();
    tiff.extend(1u16.to_be_bytes());
    tiff.extend([0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01]);
    tiff.extend([0x00, orientation, 0x00, 0x00]);
    tiff.extend(0u32.to_be_bytes());
    let mut segment = b"Exif\x00\x00".to_vec();
    segment.extend(tiff);
    let mut out = jpeg[..2].to_vec(); // SOI
    out.extend([0xFF, 0xE1]);
    out.extend(((segment.len() + 2) as u16).to_be_bytes());
    out.extend(segment);
    out.extend(&jpeg[2..]);
    out
}

/// A PNG whose header claims `width`×`height` pixels but has no pixel data.
pub fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend_from_slice(&13u32.to_be_bytes());
    png.extend_from_slice(&ihdr);
    png.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    // An empty IDAT chunk: the header parses, the pixel data is missing.
    png.extend_from_slice(&0u32.to_be_bytes());
    png.extend_from_slice(b"IDAT");
    png.extend_from_slice(&crc32(b"IDAT").to_be_bytes());
    png
}

/// A real JPEG with the frame header (SOF0) rewritten to claim another size.
fn jpeg_claiming(jpeg: &[u8], width: u16, height: u16) -> Vec<u8> {
    let mut out = jpeg.to_vec();
    let sof = out
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("baseline JPEG has SOF0");
    // FF C0, length (2), precision (1), height (2), width (2).
    out[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    out[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    out
}

/// Deterministic noise (xorshift), so the corpus is the same on every machine.
fn pseudo_random_bytes(len: usize) -> Vec<u8> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
