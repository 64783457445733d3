//! Bytes → upright RGB image, with limits so a hostile file cannot exhaust memory: the
//! command line's and the trainer's decoding (the page lets the browser decode, after the
//! same [`crate::inspect`] checks).

use crate::error::{Error, Result};
use crate::inspect::{inspect_image, Format, MAX_SIDE};
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};
use std::io::Cursor;

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
    let header = inspect_image(bytes)?;
    let format = match header.format {
        Format::Jpeg => ImageFormat::Jpeg,
        Format::Png => ImageFormat::Png,
        Format::Gif => ImageFormat::Gif,
        Format::Webp => ImageFormat::WebP,
        Format::Bmp => ImageFormat::Bmp,
    };
    let decoder = ImageReader::with_format(Cursor::new(bytes), format).into_decoder();
    let mut decoder = decoder.map_err(decode_error)?;
    // The header check above and the decoder's limits below bound memory either way.
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
