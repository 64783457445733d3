//! JavaScript bindings (wasm32 only), the layer under the JS package (`js/`): `new
//! GenderLens()`, then `inspectImage` on a file's bytes and `analyzeRgba` on its pixels as
//! the browser decoded them (the package's `decode.js`): the browser's own decoders keep the
//! download small. Every failure comes back as a JS `Error` with a readable message and a
//! `code` (`Error::code`) that programs can act on.

use crate::decode::rgb_from_rgba;
use crate::detect::FaceBox;
use crate::inspect::inspect_image;
use crate::pipeline::{Face, Pipeline, MAX_WORKING_SIDE};
use image::RgbImage;
use serde::Serialize;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
pub struct GenderLens {
    pipeline: Pipeline,
    /// A split photo's pixels, from its part's search to its share's classification: read
    /// from the browser's RGBA once.
    held: Option<RgbImage>,
}

/// One worker's share of a photo analysed by several ([`GenderLens::classify_part`]).
#[derive(Serialize)]
struct Share {
    /// Faces in the whole photo.
    count: usize,
    /// (place in the photo's list, face).
    faces: Vec<(usize, Face)>,
    classify_ms: f64,
}

/// A JS `Error` with `message` and a `code` property.
fn coded_error(message: &str, code: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(&error, &"code".into(), &code.into());
    error.into()
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| coded_error(&e.to_string(), "internal"))
}

fn js_error(e: crate::error::Error) -> JsValue {
    coded_error(&e.to_string(), e.code())
}

/// `f` on RGBA pixels (e.g. a canvas `ImageData`'s `data`) as an RGB image; its result or
/// error for JS.
fn on_pixels<T: Serialize>(
    rgba: &[u8],
    width: u32,
    height: u32,
    f: impl FnOnce(&RgbImage) -> crate::error::Result<T>,
) -> Result<JsValue, JsValue> {
    let image = rgb_from_rgba(rgba, width, height).map_err(js_error)?;
    to_js(&f(&image).map_err(js_error)?)
}

#[wasm_bindgen]
impl GenderLens {
    /// Loads the embedded detector and classifier.
    #[wasm_bindgen(constructor)]
    pub fn new() -> Result<GenderLens, JsValue> {
        console_error_panic_hook::set_once();
        Ok(GenderLens {
            pipeline: Pipeline::embedded().map_err(js_error)?,
            held: None,
        })
    }

    /// The format and stored size of an encoded image (JPEG, PNG, GIF, WebP, BMP), or an
    /// error naming what is wrong with it (not an image, cut off, too large): call it before
    /// the browser decodes a file.
    #[wasm_bindgen(js_name = inspectImage)]
    pub fn inspect_image(bytes: &[u8]) -> Result<JsValue, JsValue> {
        to_js(&inspect_image(bytes).map_err(js_error)?)
    }

    /// The longest side photos are searched at (larger ones are shrunk to it first): the
    /// browser can hand a large photo over already shrunk, and scale the boxes back.
    #[wasm_bindgen(js_name = workingSide)]
    pub fn working_side() -> u32 {
        MAX_WORKING_SIDE
    }

    /// Faces in RGBA pixels, e.g. a canvas `ImageData`'s `data` or a video frame's. With
    /// `small_faces`, pixels larger than the working side are also searched at their own
    /// resolution, in tiles, for faces down to about 24 px there.
    #[wasm_bindgen(js_name = analyzeRgba)]
    pub fn analyze_rgba(
        &mut self,
        rgba: &[u8],
        width: u32,
        height: u32,
        small_faces: Option<bool>,
    ) -> Result<JsValue, JsValue> {
        self.pipeline.set_small_faces(small_faces.unwrap_or(false));
        on_pixels(rgba, width, height, |image| self.pipeline.analyze(image))
    }

    /// Part `part` of `parts` of the search for faces in RGBA pixels of at most the working
    /// side, for a photo analysed by several workers at once: the boxes this part found,
    /// [`FaceBox::NUMBERS`] numbers each ([`FaceBox::to_numbers`]). The pixels are kept for
    /// [`Self::classify_part`].
    #[wasm_bindgen(js_name = detectPartRgba)]
    pub fn detect_part_rgba(
        &mut self,
        rgba: &[u8],
        width: u32,
        height: u32,
        part: usize,
        parts: usize,
    ) -> Result<Vec<f32>, JsValue> {
        let image = rgb_from_rgba(rgba, width, height).map_err(js_error)?;
        let found = self.pipeline.detect_part(&image, part, parts);
        self.held = Some(image);
        Ok(found.iter().flat_map(FaceBox::to_numbers).collect())
    }

    /// The boxes every part `found` (all parts' numbers, in part order), merged, and this
    /// worker's share of them classified in the pixels of its last
    /// [`Self::detect_part_rgba`]: `{count, faces: [[place, face], …], classify_ms}`.
    #[wasm_bindgen(js_name = classifyPart)]
    pub fn classify_part(
        &mut self,
        found: &[f32],
        part: usize,
        parts: usize,
    ) -> Result<JsValue, JsValue> {
        let (boxes, rest) = found.as_chunks::<{ FaceBox::NUMBERS }>();
        if !rest.is_empty() {
            return Err(coded_error("not a list of face boxes", "internal"));
        }
        let image = self
            .held
            .take()
            .ok_or_else(|| coded_error("no part of a photo was searched here", "internal"))?;
        let found = boxes.iter().map(FaceBox::from_numbers).collect();
        let start = web_time::Instant::now();
        let (count, faces) = self
            .pipeline
            .classify_part(&image, found, part, parts)
            .map_err(js_error)?;
        to_js(&Share {
            count,
            faces,
            classify_ms: start.elapsed().as_secs_f64() * 1e3,
        })
    }

    /// Classifies whole RGBA pixels as one face.
    #[wasm_bindgen(js_name = classifyWholeRgba)]
    pub fn classify_whole_rgba(
        &self,
        rgba: &[u8],
        width: u32,
        height: u32,
    ) -> Result<JsValue, JsValue> {
        on_pixels(rgba, width, height, |image| {
            self.pipeline.classify_whole(image)
        })
    }
}
