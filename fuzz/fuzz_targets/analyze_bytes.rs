//! Any bytes through the whole pipeline (decode → detect → crop → classify): an error is
//! fine; a panic, hang or unbounded allocation is a bug.
#![no_main]

use genderlens::resize::fit_within;
use genderlens::Pipeline;
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;

thread_local! {
    static PIPELINE: RefCell<Pipeline> =
        RefCell::new(Pipeline::embedded().expect("embedded model"));
}

/// Decoded images are analysed at most this large, so the fuzzer spends its time on file
/// formats and odd shapes rather than on sliding detection windows over big pictures.
const ANALYSED_SIDE: u32 = 160;

fuzz_target!(|data: &[u8]| {
    let Ok(image) = genderlens::decode::decode_image(data) else {
        return;
    };
    let (small, _) = fit_within(&image, ANALYSED_SIDE);
    PIPELINE.with(|p| {
        let analysis = p
            .borrow_mut()
            .analyze(&small)
            .expect("decoded images analyse");
        for face in &analysis.faces {
            assert!((0.0..=1.0).contains(&face.p_male), "p_male {}", face.p_male);
            assert!(face.bbox.iter().all(|v| v.is_finite()), "{:?}", face.bbox);
        }
    });
});
