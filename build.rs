// Embeds the trained classifier when `models/genderlens.safetensors` exists, so a fresh
// checkout can still build the trainer that produces it; packs the SeetaFace detector model
// with 8-bit boosted-classifier weights (see `src/seeta_format.rs`).
#[path = "src/seeta_format.rs"]
mod seeta_format;

fn main() {
    let model = std::path::Path::new("models/genderlens.safetensors");
    println!("cargo::rerun-if-changed=models/genderlens.safetensors");
    println!("cargo::rustc-check-cfg=cfg(embedded_model)");
    if model.exists() {
        println!("cargo::rustc-cfg=embedded_model");
    }

    let seeta = "src/assets/seeta_fd_frontal_v1.0.bin";
    println!("cargo::rerun-if-changed={seeta}");
    println!("cargo::rerun-if-changed=src/seeta_format.rs");
    let original = std::fs::read(seeta).expect("SeetaFace model in src/assets");
    let packed = seeta_format::transcode(
        &original,
        seeta_format::Floats::F32,
        seeta_format::Floats::Q8,
    )
    .expect("the SeetaFace model parses");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    std::fs::write(out.join("seeta_fd_frontal_q8.bin"), packed).expect("writing OUT_DIR");
}
