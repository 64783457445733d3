//! What an image file claims about itself, checked before anything decodes it: the same
//! refusals and messages whether Rust decodes the file (command line, trainer) or the
//! browser does (the page), and no decoder ever sees a decompression bomb.

use crate::error::{Error, Result};

/// Largest side accepted from a file. Beyond this the header is refused before decoding
/// (decompression bombs), so memory stays bounded.
pub const MAX_SIDE: u32 = 12_000;

/// The formats GenderLens reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Jpeg,
    Png,
    Gif,
    Webp,
    Bmp,
}

/// A file's format and its stored size (before any EXIF rotation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ImageHeader {
    pub format: Format,
    pub width: u32,
    pub height: u32,
}

/// Reads the header of an encoded image: an error for an empty file, an unknown signature, a
/// damaged or cut-off file, no pixels, or a side over [`MAX_SIDE`].
pub fn inspect_image(bytes: &[u8]) -> Result<ImageHeader> {
    if bytes.is_empty() {
        return Err(Error::Empty);
    }
    let format = match imagesize::image_type(bytes) {
        Ok(imagesize::ImageType::Jpeg) => Format::Jpeg,
        Ok(imagesize::ImageType::Png) => Format::Png,
        Ok(imagesize::ImageType::Gif) => Format::Gif,
        Ok(imagesize::ImageType::Webp) => Format::Webp,
        Ok(imagesize::ImageType::Bmp) => Format::Bmp,
        _ => {
            return Err(Error::UnsupportedFormat(
                "unrecognised file signature".into(),
            ))
        }
    };
    let size = imagesize::blob_size(bytes)
        .map_err(|e| Error::Decode(format!("damaged {format:?} header ({e})")))?;
    let (width, height) = (side(size.width), side(size.height));
    if width == 0 || height == 0 {
        return Err(Error::Decode(format!(
            "the file has no pixels ({width}×{height})"
        )));
    }
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(Error::TooLarge {
            width,
            height,
            max: MAX_SIDE,
        });
    }
    if let Some(missing) = missing_end(format, bytes) {
        // Decoders fill the missing part with grey or leave it blank; say what happened instead.
        return Err(Error::Decode(format!("truncated {format:?} ({missing})")));
    }
    Ok(ImageHeader {
        format,
        width,
        height,
    })
}

fn side(pixels: usize) -> u32 {
    u32::try_from(pixels).unwrap_or(u32::MAX)
}

/// What marks the end of a complete file and is absent here, if anything. Some cameras and
/// editors append a trailer after the end, so JPEG and PNG search the last few KiB.
fn missing_end(format: Format, bytes: &[u8]) -> Option<&'static str> {
    let tail = &bytes[bytes.len().saturating_sub(4096)..];
    let found = |marker: &[u8]| tail.windows(marker.len()).any(|w| w == marker);
    match format {
        Format::Jpeg => (!found(&[0xFF, 0xD9])).then_some("no end-of-image marker"),
        Format::Png => (!found(b"IEND")).then_some("no IEND chunk"),
        Format::Webp => {
            let declared = u32::from_le_bytes(bytes[4..8].try_into().ok()?) as usize;
            (bytes.len() < declared.saturating_add(8)).then_some("shorter than its RIFF size")
        }
        Format::Gif | Format::Bmp => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = Vec::new();
        image::RgbImage::new(width, height)
            .write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Png,
            )
            .unwrap();
        bytes
    }

    #[test]
    fn reads_the_size_and_format_of_a_complete_file() {
        let header = inspect_image(&png(30, 20)).unwrap();
        assert_eq!(
            header,
            ImageHeader {
                format: Format::Png,
                width: 30,
                height: 20
            }
        );
    }

    #[test]
    fn a_cut_off_file_is_refused_even_when_its_header_is_whole() {
        let bytes = png(30, 20);
        assert!(inspect_image(&bytes[..bytes.len() - 12]).is_err());
        // A trailer after the end is no truncation.
        let mut trailed = bytes.clone();
        trailed.extend_from_slice(&[0; 100]);
        assert!(inspect_image(&trailed).is_ok());
    }

    #[test]
    fn a_webp_shorter_than_its_riff_size_is_refused() {
        let mut bytes = b"RIFF\x00\x10\x00\x00WEBPVP8X".to_vec();
        bytes.extend_from_slice(&[0; 64]);
        let err = inspect_image(&bytes).unwrap_err().to_string();
        assert!(err.contains("RIFF"), "{err}");
    }
}
