//! JavaScript bindings (wasm32 only): `new GenderLens()`, then `inspectImage` on a file's
//! bytes and `analyzeRgba` on its pixels as the browser decoded them (`www/pixels.js`): the
//! browser's own decoders keep the download small. Every failure comes back as a JS `Error`
//! with a readable message.

use crate::decode::rgb_from_rgba;
use crate::inspect::inspect_image;
use crate::pipeline::{Pipeline, MAX_WORKING_SIDE};
use image::RgbImage;
use serde::Serialize;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
pub struct GenderLens {
    pipeline: Pipeline,
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&e.to_string()))
}

fn js_error(e: crate::error::Error) -> JsError {
    JsError::new(&e.to_string())
}

/// `f` on RGBA pixels (e.g. a canvas `ImageData`'s `data`) as an RGB image; its result or
/// error for JS.
fn on_pixels<T: Serialize>(
    rgba: &[u8],
    width: u32,
    height: u32,
    f: impl FnOnce(&RgbImage) -> crate::error::Result<T>,
) -> Result<JsValue, JsError> {
    let image = rgb_from_rgba(rgba, width, height).map_err(js_error)?;
    to_js(&f(&image).map_err(js_error)?)
}

#[wasm_bindgen]
impl GenderLens {
    /// Loads the embedded detector and classifier.
    #[wasm_bindgen(constructor)]
    pub fn new() -> Result<GenderLens, JsError> {
        console_error_panic_hook::set_once();
        Ok(GenderLens {
            pipeline: Pipeline::embedded().map_err(js_error)?,
        })
    }

    /// The format and stored size of an encoded image (JPEG, PNG, GIF, WebP, BMP), or an
    /// error naming what is wrong with it (not an image, cut off, too large): call it before
    /// the browser decodes a file.
    #[wasm_bindgen(js_name = inspectImage)]
    pub fn inspect_image(bytes: &[u8]) -> Result<JsValue, JsError> {
        to_js(&inspect_image(bytes).map_err(js_error)?)
    }

    /// The longest side photos are searched at (larger ones are shrunk to it first): the
    /// browser can hand a large photo over already shrunk, and scale the boxes back.
    #[wasm_bindgen(js_name = workingSide)]
    pub fn working_side() -> u32 {
        MAX_WORKING_SIDE
    }

    /// Faces in RGBA pixels, e.g. a canvas `ImageData`'s `data` or a video frame's.
    #[wasm_bindgen(js_name = analyzeRgba)]
    pub fn analyze_rgba(
        &mut self,
        rgba: &[u8],
        width: u32,
        height: u32,
    ) -> Result<JsValue, JsError> {
        on_pixels(rgba, width, height, |image| self.pipeline.analyze(image))
    }

    /// Classifies whole RGBA pixels as one face.
    #[wasm_bindgen(js_name = classifyWholeRgba)]
    pub fn classify_whole_rgba(
        &self,
        rgba: &[u8],
        width: u32,
        height: u32,
    ) -> Result<JsValue, JsError> {
        on_pixels(rgba, width, height, |image| {
            self.pipeline.classify_whole(image)
        })
    }
}
