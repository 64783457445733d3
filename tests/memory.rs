//! The detector's high-water mark: in the browser each worker's memory grows to the most
//! one photo needs and never shrinks, so this is what every extra worker costs a page.
//! Counted natively by an allocator that tracks live bytes (this test binary's own).
#![cfg(not(target_arch = "wasm32"))]

use genderlens::Pipeline;
use genderlens_test_support::SOLVAY_JPEG;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
        PEAK.fetch_max(live, Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// The 1 024 × 698 group photo (29 faces) at the working size: its decoded pixels are
/// 2.1 MB, the network's input planes 8.7 MB; the whole analysis peaked at 55 MB while the
/// detector's stride-2 maps and its stem's columns existed whole.
#[test]
fn analysing_a_working_size_photo_holds_under_24_mb_at_once() {
    let mut pipeline = Pipeline::embedded().unwrap();
    let before = LIVE.load(Relaxed);
    PEAK.store(before, Relaxed);
    let analysis = pipeline.analyze_bytes(SOLVAY_JPEG).unwrap();
    let peak = PEAK.load(Relaxed) - before;
    assert_eq!(analysis.faces.len(), 29);
    println!("peak {:.1} MB above the loaded model", peak as f64 / 1e6);
    assert!(peak < 24_000_000, "{peak} bytes live at once");
}
