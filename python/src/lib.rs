//! The native half of the Python package `genderlens` (its other half, `genderlens/`, turns
//! these JSON answers into dicts and gives the types): one `Pipeline` per instance, the GIL
//! released while it works, so threads and processes of a data engine run side by side.

use genderlens::pipeline::kept_faces;
use genderlens::{Analysis, Error};
use image::RgbImage;
use numpy::{PyReadonlyArray3, PyUntypedArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

create_exception!(_native, GenderLensError, PyException, "An image GenderLens cannot analyse: `code` says why (not-an-image, truncated, too-large, unsupported-source, unreadable), the message in words.");

fn error(py: Python<'_>, code: &str, message: String) -> PyErr {
    let err = GenderLensError::new_err(message);
    // An attribute on a fresh exception object cannot fail to be set.
    let _ = err.value(py).setattr("code", code);
    err
}

fn pipeline_error(py: Python<'_>, e: Error) -> PyErr {
    error(py, e.code(), e.to_string())
}

/// The command line's JSON object for one image (`genderlens predict --json`), without the
/// `file` and `error` that the Python side adds.
#[derive(Serialize)]
struct Shape<'a> {
    width: u32,
    height: u32,
    faces: &'a [genderlens::Face],
    detect_ms: f64,
    classify_ms: f64,
}

/// The detector and classifier embedded in this build. Calls on one instance take turns;
/// one instance per thread runs in parallel (the GIL is released while each works).
#[pyclass(frozen, module = "genderlens._native")]
struct Pipeline {
    pipeline: Mutex<genderlens::Pipeline>,
    max_faces: Option<usize>,
    min_confidence: Option<f32>,
}

impl Pipeline {
    fn run(
        &self,
        py: Python<'_>,
        work: impl FnOnce(&mut genderlens::Pipeline) -> genderlens::Result<Analysis> + Send,
    ) -> PyResult<String> {
        let outcome = py.detach(|| {
            let mut pipeline = self.pipeline.lock().unwrap_or_else(PoisonError::into_inner);
            work(&mut pipeline).map(|analysis| {
                let faces = kept_faces(analysis.faces, self.max_faces, self.min_confidence);
                serde_json::to_string(&Shape {
                    width: analysis.width,
                    height: analysis.height,
                    faces: &faces,
                    detect_ms: analysis.detect_ms,
                    classify_ms: analysis.classify_ms,
                })
                .expect("an analysis is plain data")
            })
        });
        outcome.map_err(|e| pipeline_error(py, e))
    }
}

#[pymethods]
impl Pipeline {
    #[new]
    #[pyo3(signature = (*, small_faces = false, max_faces = None, min_confidence = None))]
    fn new(
        py: Python<'_>,
        small_faces: bool,
        max_faces: Option<usize>,
        min_confidence: Option<f32>,
    ) -> PyResult<Self> {
        if let Some(p) = min_confidence {
            if !(0.5..=1.0).contains(&p) {
                return Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "min_confidence must be between 0.5 and 1, not {p}"
                )));
            }
        }
        let pipeline = genderlens::Pipeline::embedded().map_err(|e| pipeline_error(py, e))?;
        Ok(Self {
            pipeline: Mutex::new(pipeline.searching_small_faces(small_faces)),
            max_faces,
            min_confidence,
        })
    }

    /// An encoded image (JPEG, PNG, GIF, WebP, BMP), as JSON.
    fn analyze_bytes(&self, py: Python<'_>, data: &[u8]) -> PyResult<String> {
        self.run(py, |pipeline| pipeline.analyze_bytes(data))
    }

    /// An image file, as JSON.
    fn analyze_path(&self, py: Python<'_>, path: PathBuf) -> PyResult<String> {
        let bytes = py
            .detach(|| std::fs::read(&path))
            .map_err(|e| error(py, "unreadable", format!("cannot read file: {e}")))?;
        self.run(py, |pipeline| pipeline.analyze_bytes(&bytes))
    }

    /// An H × W × 3 array of 8-bit RGB, as JSON.
    fn analyze_array(&self, py: Python<'_>, array: PyReadonlyArray3<'_, u8>) -> PyResult<String> {
        let shape = array.shape().to_vec();
        if shape[2] != 3 {
            return Err(error(
                py,
                "unsupported-source",
                format!("an image array is H × W × 3 (RGB), not {shape:?}"),
            ));
        }
        let (height, width) = (shape[0], shape[1]);
        let too_large = || {
            error(
                py,
                "too-large",
                format!("image too large: {width}×{height}"),
            )
        };
        let (w, h) = (
            u32::try_from(width).map_err(|_| too_large())?,
            u32::try_from(height).map_err(|_| too_large())?,
        );
        // Copied while the GIL is held: the array may change once it is released. Row-major
        // memory is copied as it is; any other layout (a view, Fortran order) value by value
        // in row-major order.
        let pixels = match array.as_slice() {
            Ok(slice) if array.is_c_contiguous() => slice.to_vec(),
            _ => array.as_array().iter().copied().collect(),
        };
        let image = RgbImage::from_raw(w, h, pixels).ok_or_else(|| {
            error(
                py,
                "unsupported-source",
                "the array's size does not match its shape".into(),
            )
        })?;
        if w == 0 || h == 0 {
            return Err(error(
                py,
                "unsupported-source",
                format!("the image has no pixels ({width}×{height})"),
            ));
        }
        self.run(py, |pipeline| pipeline.analyze(&image))
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Pipeline>()?;
    m.add("GenderLensError", m.py().get_type::<GenderLensError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
