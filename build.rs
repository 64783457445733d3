// Embeds the trained classifier when `models/genderlens.safetensors` exists, so a fresh
// checkout can still build the trainer that produces it.
fn main() {
    let model = std::path::Path::new("models/genderlens.safetensors");
    println!("cargo::rerun-if-changed=models/genderlens.safetensors");
    println!("cargo::rustc-check-cfg=cfg(embedded_model)");
    if model.exists() {
        println!("cargo::rustc-cfg=embedded_model");
    }
}
