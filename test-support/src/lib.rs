//! What the tests share, natively and in the browser: committed fixtures, the hostile-input
//! corpus, the detector and calibration cross-checks, and the data-set folders that some
//! checks need (`data`, native only).

pub mod calibration_check;
pub mod corpus;
#[cfg(not(target_arch = "wasm32"))]
pub mod data;
pub mod detector_equivalence;
#[cfg(not(target_arch = "wasm32"))]
pub mod synthetic;

/// The 1927 Solvay conference photo (public domain), 1024 × 698 px, 29 faces.
pub const SOLVAY_JPEG: &[u8] = include_bytes!("../../tests/fixtures/solvay-1927.jpg");

/// Portraits, 200 × 200 px (tests/fixtures/README.md): two men of the Solvay photo and the
/// astronaut Eileen Collins (NASA, public domain).
pub const COLLINS_JPEG: &[u8] = include_bytes!("../../tests/fixtures/faces/collins.jpg");
pub const EINSTEIN_JPEG: &[u8] = include_bytes!("../../tests/fixtures/faces/einstein.jpg");
pub const PLANCK_JPEG: &[u8] = include_bytes!("../../tests/fixtures/faces/planck.jpg");

/// The portraits with the class each shows.
pub const PORTRAITS: [(&str, &[u8]); 3] = [
    ("female", COLLINS_JPEG),
    ("male", EINSTEIN_JPEG),
    ("male", PLANCK_JPEG),
];
