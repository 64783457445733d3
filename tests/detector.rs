//! The face detector (YuNet-s on our kernels) against the reference runtime, and on photos
//! at the sizes the product searches.
#![cfg(not(target_arch = "wasm32"))]

use genderlens_test_support::detector_reference::assert_same_faces_as_the_reference;

#[test]
fn finds_the_faces_the_reference_runtime_finds() {
    let compared = assert_same_faces_as_the_reference();
    // 29 in the group photo, one per portrait.
    assert!(compared.faces >= 32, "{compared:?}");
    println!("{compared:?}");
}
