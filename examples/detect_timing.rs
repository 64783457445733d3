//! Times one detector pass on the Solvay fixture at 1024 px, for profiling.
fn main() {
    let photo =
        genderlens::decode::decode_image(&std::fs::read("tests/fixtures/solvay-1927.jpg").unwrap())
            .unwrap();
    let d = genderlens::detect::FaceDetector::new();
    let t = std::time::Instant::now();
    for _ in 0..50 {
        d.search(&photo);
    }
    println!("{:.1} ms", t.elapsed().as_secs_f64() * 1e3 / 50.0);
}
