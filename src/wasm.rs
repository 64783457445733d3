//! JavaScript bindings (wasm32 only): `new GenderLens()` then `analyzeBytes`/`analyzeRgba`.
//! Every failure comes back as a JS `Error` with a readable message.

use crate::decode::{decode_image, rgb_from_rgba};
use crate::pipeline::{Analysis, Face, Pipeline};
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

    /// Faces in an encoded image file (JPEG, PNG, GIF, WebP, BMP).
    #[wasm_bindgen(js_name = analyzeBytes)]
    pub fn analyze_bytes(&mut self, bytes: &[u8]) -> Result<JsValue, JsError> {
        let analysis: Analysis = self.pipeline.analyze_bytes(bytes).map_err(js_error)?;
        to_js(&analysis)
    }

    /// Faces in RGBA pixels, e.g. a canvas `ImageData`'s `data`.
    #[wasm_bindgen(js_name = analyzeRgba)]
    pub fn analyze_rgba(
        &mut self,
        rgba: &[u8],
        width: u32,
        height: u32,
    ) -> Result<JsValue, JsError> {
        on_pixels(rgba, width, height, |image| self.pipeline.analyze(image))
    }

    /// [`Self::analyze_rgba`] for a video frame: no search for faces under the detector's
    /// 40 px window, so the frame rate does not drop when nobody is close.
    #[wasm_bindgen(js_name = analyzeFrame)]
    pub fn analyze_frame(
        &mut self,
        rgba: &[u8],
        width: u32,
        height: u32,
    ) -> Result<JsValue, JsError> {
        on_pixels(rgba, width, height, |image| {
            self.pipeline.analyze_frame(image)
        })
    }

    /// Classifies a whole encoded image as one face (for photos that are already crops).
    #[wasm_bindgen(js_name = classifyWholeBytes)]
    pub fn classify_whole_bytes(&self, bytes: &[u8]) -> Result<JsValue, JsError> {
        let image = decode_image(bytes).map_err(js_error)?;
        let face: Face = self.pipeline.classify_whole(&image).map_err(js_error)?;
        to_js(&face)
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
