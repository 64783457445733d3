//! Every file of the hostile-input corpus gives a correct result or a clear error, with
//! bounded memory (decode limits) and no panic.

use genderlens::{Error, Pipeline};
use genderlens_test_support::corpus::{bad_files, Expect};

#[test]
fn each_corpus_file_gives_a_result_or_a_clear_error() {
    let mut pipeline = Pipeline::embedded().unwrap();
    let reference = pipeline
        .analyze_bytes(&encode_reference())
        .unwrap()
        .faces
        .remove(0)
        .bbox;
    for file in bad_files(true) {
        let outcome = pipeline.analyze_bytes(&file.bytes);
        let name = &file.name;
        match (file.expect, outcome) {
            (Expect::Error, Err(e)) => {
                let message = e.to_string();
                assert!(message.len() > 10, "{name}: unclear error {message:?}");
            }
            (Expect::NoFace, Ok(a)) => assert!(a.faces.is_empty(), "{name}: {:?}", a.faces),
            (Expect::Face { upright }, Ok(a)) => {
                assert_eq!((a.width, a.height), upright, "{name}: not upright");
                let face = a.faces.first().unwrap_or_else(|| panic!("{name}: no face"));
                assert_eq!(
                    face.verdict.likely, "male",
                    "{name}: p_male {}",
                    face.p_male
                );
                // The face sits where it is in the upright image (scaled for the huge one).
                let scale =
                    upright.0 as f32 / genderlens_test_support::corpus::face_scene().width() as f32;
                let centre = |b: [f32; 4]| (b[0] + b[2] / 2.0, b[1] + b[3] / 2.0);
                let (cx, cy) = centre(face.bbox);
                let (rx, ry) = centre(reference);
                let tolerance = 12.0 * scale;
                assert!(
                    (cx - rx * scale).abs() < tolerance && (cy - ry * scale).abs() < tolerance,
                    "{name}: face at {:?}, expected near {:?}×{scale}",
                    face.bbox,
                    reference
                );
            }
            (expect, Ok(a)) => panic!("{name}: expected {expect:?}, got {} faces", a.faces.len()),
            (expect, Err(e)) => panic!("{name}: expected {expect:?}, got error {e}"),
        }
    }
}

#[test]
fn error_kinds_name_the_problem() {
    let files = bad_files(false);
    let get = |name: &str| &files.iter().find(|f| f.name == name).unwrap().bytes;
    let decode = |name: &str| genderlens::decode::decode_image(get(name)).unwrap_err();
    assert!(matches!(decode("empty.jpg"), Error::Empty));
    assert!(matches!(
        decode("notes.txt.jpg"),
        Error::UnsupportedFormat(_)
    ));
    assert!(matches!(
        decode("random-bytes.jpg"),
        Error::UnsupportedFormat(_)
    ));
    assert!(matches!(decode("truncated.jpg"), Error::Decode(_)));
    assert!(matches!(decode("truncated.png"), Error::Decode(_)));
    for bomb in ["bomb-30000x30000.png", "bomb-30000x30000.jpg"] {
        assert!(
            matches!(
                decode(bomb),
                Error::TooLarge {
                    width: 30_000,
                    height: 30_000,
                    ..
                }
            ),
            "{bomb}: {}",
            decode(bomb)
        );
    }
    // The codes the JS package hands on (GenderLensError.code).
    let codes = [
        "empty.jpg",
        "random-bytes.jpg",
        "truncated.png",
        "bomb-30000x30000.jpg",
    ]
    .map(|name| decode(name).code());
    assert_eq!(
        codes,
        ["not-an-image", "not-an-image", "truncated", "too-large"]
    );
}

/// The upright face scene as a plain PNG: where the face must be found in every variant.
fn encode_reference() -> Vec<u8> {
    let mut out = Vec::new();
    genderlens_test_support::corpus::face_scene()
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}
