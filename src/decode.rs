//! Bytes → upright RGB image, with limits so a hostile file cannot exhaust memory.

use crate::error::{Error, Result};
use image::{DynamicImage, ImageDecoder, ImageReader, Limits, RgbImage};
use std::io::Cursor;

/// Largest side accepted from a file. Beyond this the header is refused before decoding
/// (decompression bombs), so memory stays bounded.
pub(crate) const MAX_SIDE: u32 = 12_000;
/// Decoder allocation cap (bytes); a 12 000 × 8 000 RGB photo is 288 MB.
const MAX_ALLOC: u64 = 512 * 1024 * 1024;

fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    limits
}

/// Decodes an encoded image (JPEG, PNG, GIF, WebP, BMP), applies its EXIF orientation and
/// converts to 8-bit RGB (transparency over white, 16-bit and CMYK converted).
pub fn decode_image(bytes: &[u8]) -> Result<RgbImage> {
    if bytes.is_empty() {
        return Err(Error::Empty);
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::Decode(e.to_string()))?;
    if reader.format().is_none() {
        return Err(Error::UnsupportedFormat(
            "unrecognised file signature".to_string(),
        ));
    }
    if reader.format() == Some(image::ImageFormat::Jpeg) && !has_jpeg_end(bytes) {
        // The JPEG decoder would fill the missing part with grey; say what happened instead.
        return Err(Error::Decode(
            "truncated JPEG (no end-of-image marker)".into(),
        ));
    }
    let mut decoder = reader.into_decoder().map_err(decode_error)?;
    let (width, height) = decoder.dimensions();
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(Error::TooLarge {
            width,
            height,
            max: MAX_SIDE,
        });
    }
    decoder.set_limits(limits()).map_err(decode_error)?;
    // Orientation is optional metadata: an unreadable EXIF block must not reject the photo.
    let orientation = decoder.orientation().ok();
    let mut image = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    if let Some(orientation) = orientation {
        image.apply_orientation(orientation);
    }
    Ok(flatten_alpha(image))
}

/// 8-bit RGB; transparent pixels are composited over white, as a page shows them, instead
/// of keeping whatever colour the file stored under them.
fn flatten_alpha(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    let rgb: Vec<u8> = rgba
        .pixels()
        .flat_map(|p| {
            let a = p[3] as u32;
            [0, 1, 2].map(|c| ((p[c] as u32 * a + 255 * (255 - a) + 127) / 255) as u8)
        })
        .collect();
    RgbImage::from_raw(rgba.width(), rgba.height(), rgb).expect("same pixel count")
}

/// Whether a JPEG's end-of-image marker (FF D9) is present near the end of the file; some
/// cameras append a trailer after it, so the last few KiB are searched.
fn has_jpeg_end(bytes: &[u8]) -> bool {
    let tail = &bytes[bytes.len().saturating_sub(4096)..];
    tail.windows(2).any(|w| w == [0xFF, 0xD9])
}

/// Wraps a canvas `ImageData`-style RGBA buffer as RGB.
pub fn rgb_from_rgba(rgba: &[u8], width: u32, height: u32) -> Result<RgbImage> {
    let expected = width as usize * height as usize * 4;
    if rgba.len() != expected || width == 0 || height == 0 {
        return Err(Error::BadPixelBuffer {
            got: rgba.len(),
            expected,
            width,
            height,
        });
    }
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(Error::TooLarge {
            width,
            height,
            max: MAX_SIDE,
        });
    }
    let rgb: Vec<u8> = rgba
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    RgbImage::from_raw(width, height, rgb).ok_or_else(|| Error::Decode("bad RGBA buffer".into()))
}

fn decode_error(e: image::ImageError) -> Error {
    match e {
        image::ImageError::Limits(l) => Error::Decode(format!("over the decode limits: {l}")),
        image::ImageError::Unsupported(u) => Error::UnsupportedFormat(u.to_string()),
        other => Error::Decode(other.to_string()),
    }
}
