//! Writes the hostile-input test corpus to a folder (for the page test and fuzzing seeds):
//! `cargo run --release --example write_corpus -- DIR`.

use genderlens_test_support::corpus;

fn main() -> std::io::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/corpus".into());
    std::fs::create_dir_all(&dir)?;
    let mut expectations = Vec::new();
    for file in corpus::bad_files(true) {
        std::fs::write(std::path::Path::new(&dir).join(&file.name), &file.bytes)?;
        let expect = match file.expect {
            corpus::Expect::Error => "\"error\"".to_string(),
            corpus::Expect::NoFace => "\"no-face\"".to_string(),
            // The size once upright (EXIF orientation applied).
            corpus::Expect::Face { upright: (w, h) } => format!("\"face\",\"upright\":[{w},{h}]"),
        };
        expectations.push(format!("{{\"name\":{:?},\"expect\":{expect}}}", file.name));
    }
    std::fs::write(
        std::path::Path::new(&dir).join("expectations.json"),
        format!("[{}]\n", expectations.join(",\n")),
    )?;
    println!("{} files in {dir}", expectations.len());
    Ok(())
}
