//! `predict`: one result or error per image, with the JSON the README documents.

use crate::helpers::{assert_success, genderlens, last_json_line, repo, run_genderlens};
use genderlens_test_support::{corpus, PORTRAITS};
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

#[test]
fn predict_json_has_one_object_per_image_with_errors_inline() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("notes.jpg");
    std::fs::write(&bad, "this is text").unwrap();
    let fixture = repo().join("tests/fixtures/solvay-1927.jpg");
    let output = genderlens(&[
        "predict",
        fixture.to_str().unwrap(),
        bad.to_str().unwrap(),
        "--json",
    ]);
    assert!(output.status.success(), "one good image: exit 0");
    let results = last_json_line(&output);
    let results = results.as_array().unwrap();
    assert_eq!(results.len(), 2);
    let good = &results[0];
    assert_eq!(good["width"], 1024);
    assert_eq!(good["height"], 698);
    assert!(good["error"].is_null());
    let faces = good["faces"].as_array().unwrap();
    assert_eq!(faces.len(), 29);
    for face in faces {
        assert_eq!(face["box"].as_array().unwrap().len(), 4);
        // Five (x, y) points inside the face's box.
        let b: Vec<f64> = face["box"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let points = face["landmarks"].as_array().unwrap();
        assert_eq!(points.len(), 5);
        for p in points {
            let (x, y) = (p[0].as_f64().unwrap(), p[1].as_f64().unwrap());
            assert!(
                x > b[0] && x < b[0] + b[2] && y > b[1] && y < b[1] + b[3],
                "{p} outside {b:?}"
            );
        }
        assert!(["female", "male", "uncertain"].contains(&face["label"].as_str().unwrap()));
        assert!(["female", "male"].contains(&face["likely"].as_str().unwrap()));
        assert!(face["confidence"].as_f64().unwrap() >= 0.5);
        let p = face["p_male"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&p));
    }
    assert!(results[1]["error"]
        .as_str()
        .unwrap()
        .contains("not a supported image"));
    assert_eq!(results[1]["faces"].as_array().unwrap().len(), 0);

    let only_bad = genderlens(&["predict", bad.to_str().unwrap(), "--json"]);
    assert!(
        !only_bad.status.success(),
        "every file failed: non-zero exit"
    );
    assert!(last_json_line(&only_bad)[0]["error"].is_string());
}

#[test]
fn predict_gives_a_result_or_an_error_for_every_corpus_file() {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus::bad_files(true);
    let paths: Vec<String> = files
        .iter()
        .map(|f| {
            let path = dir.path().join(&f.name);
            std::fs::write(&path, &f.bytes).unwrap();
            path.to_str().unwrap().to_string()
        })
        .collect();
    let mut args = vec!["predict", "--json"];
    args.extend(paths.iter().map(|p| p.as_str()));
    let output = genderlens(&args);
    assert_success(&output);
    let results = last_json_line(&output);
    for (file, result) in files.iter().zip(results.as_array().unwrap()) {
        let name = &file.name;
        let faces = result["faces"].as_array().unwrap();
        match file.expect {
            corpus::Expect::Error => {
                assert!(result["error"].as_str().unwrap().len() > 10, "{name}")
            }
            corpus::Expect::NoFace => assert!(faces.is_empty() && result["error"].is_null()),
            corpus::Expect::Face { upright } => {
                assert_eq!(result["width"], upright.0, "{name}");
                assert_eq!(result["height"], upright.1, "{name}");
                assert_eq!(faces[0]["likely"], "male", "{name}");
            }
        }
    }
}

/// A library of `copies` × the portrait fixtures (hard links), in nested folders, with a
/// text file among them that is not an image.
fn photo_library(dir: &Path, copies: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for (i, (_, bytes)) in PORTRAITS.iter().enumerate() {
        let original = dir.join(format!("portrait-{i}.jpg"));
        std::fs::write(&original, bytes).unwrap();
        for copy in 0..copies {
            let folder = dir
                .join(format!("album-{}", copy % 7))
                .join(format!("day-{}", copy % 3));
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::hard_link(&original, folder.join(format!("{copy:05}-{i}.jpg"))).unwrap();
        }
    }
    std::fs::write(dir.join("album-0/notes.txt"), "not an image").unwrap();
}

fn stream(args: &[&str]) -> Vec<String> {
    let output = genderlens(&[&["predict"], args].concat());
    assert_success(&output);
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn a_killed_stream_resumes_to_the_output_of_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let library = dir.path().join("library");
    photo_library(&library, 700); // 2 100 images: seconds of work, killed after the first batch
    let (full, part) = (dir.path().join("full.jsonl"), dir.path().join("part.jsonl"));
    let lib = library.to_str().unwrap();
    let args = |out: &Path| -> Vec<String> {
        ["predict", lib, "--jsonl", "--out", out.to_str().unwrap()]
            .map(String::from)
            .to_vec()
    };
    assert_success(&run_genderlens(&args(&full)));
    let expected = std::fs::read_to_string(&full).unwrap();
    assert_eq!(
        expected.lines().count(),
        3 * 700 + 3,
        "every image, the text file skipped"
    );

    killed_and_resumed(&args(&part), &part, 3 * 700);
    assert_eq!(std::fs::read_to_string(&part).unwrap(), expected);
}

/// Runs `predict` with `args` (writing the stream to `out`), kills it (SIGKILL) once it has
/// written something, leaves half a line as a kill inside a write would, and resumes it.
/// The run must have been killed before its `total` images were written.
fn killed_and_resumed(args: &[String], out: &Path, total: usize) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_genderlens"))
        .args(args)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while std::fs::metadata(out).map_or(0, |m| m.len()) == 0 {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let written = std::fs::read_to_string(out).unwrap().lines().count();
    assert!(
        written < total,
        "the run ended before it was killed ({written} lines)"
    );
    let mut file = std::fs::OpenOptions::new().append(true).open(out).unwrap();
    file.write_all(b"{\"file\":\"half a li").unwrap();
    assert_success(&run_genderlens(
        &[args.to_vec(), vec!["--resume".into()]].concat(),
    ));
}

/// The lines of the JSON Lines files, sorted: what they hold whatever order it came in.
fn sorted_lines(files: &[std::path::PathBuf]) -> Vec<String> {
    let mut lines: Vec<String> = files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn shards_some_killed_and_resumed_merge_to_exactly_the_unsharded_output() {
    let dir = tempfile::tempdir().unwrap();
    let library = dir.path().join("library");
    photo_library(&library, 700);
    let lib = library.to_str().unwrap();
    let run = |out: &Path, extra: &[&str]| -> Vec<String> {
        [
            &["predict", lib, "--jsonl", "--out", out.to_str().unwrap()][..],
            extra,
        ]
        .concat()
        .into_iter()
        .map(String::from)
        .collect()
    };
    let full = dir.path().join("full.jsonl");
    assert_success(&run_genderlens(&run(&full, &[])));
    let expected = sorted_lines(&[full]);
    let shards: Vec<_> = (0..4)
        .map(|k| dir.path().join(format!("shard-{k}.jsonl")))
        .collect();
    for (k, out) in shards.iter().enumerate() {
        let shard = format!("{k}/4");
        let args = run(out, &["--shard", &shard]);
        if k % 2 == 1 {
            killed_and_resumed(&args, out, 3 * 700 / 4);
        } else {
            assert_success(&run_genderlens(&args));
        }
        let lines = std::fs::read_to_string(out).unwrap().lines().count();
        assert!(
            (400..=650).contains(&lines),
            "shard {k}: {lines} images of 2 103"
        );
    }
    assert_eq!(
        sorted_lines(&shards),
        expected,
        "the shards together: every image, once"
    );

    // A list of files (as from `find`), read from standard input, split the same way.
    let list: String = expected
        .iter()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["file"]
                .as_str()
                .unwrap()
                .to_owned()
                + "\n"
        })
        .collect();
    let listed: Vec<_> = (0..2)
        .map(|k| dir.path().join(format!("listed-{k}.jsonl")))
        .collect();
    for (k, out) in listed.iter().enumerate() {
        let shard = format!("{k}/2");
        let mut child = Command::new(env!("CARGO_BIN_EXE_genderlens"))
            .args([
                "predict",
                "--files-from",
                "-",
                "--shard",
                &shard,
                "--jsonl",
                "--out",
                out.to_str().unwrap(),
            ])
            .stdin(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(list.as_bytes())
            .unwrap();
        assert!(
            child.wait().unwrap().success(),
            "--files-from - --shard {shard}"
        );
    }
    assert_eq!(
        sorted_lines(&listed),
        expected,
        "the listed files' shards: every image, once"
    );
}

#[test]
fn a_csv_stream_cut_inside_an_image_redoes_that_image() {
    let dir = tempfile::tempdir().unwrap();
    let solvay = repo().join("tests/fixtures/solvay-1927.jpg");
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for (i, (_, bytes)) in PORTRAITS.iter().enumerate() {
        std::fs::write(photos.join(format!("{i}.jpg")), bytes).unwrap();
    }
    std::fs::copy(&solvay, photos.join("z-group.jpg")).unwrap();
    let out = dir.path().join("faces.csv");
    let args = [
        "predict",
        photos.to_str().unwrap(),
        "--csv",
        "--out",
        out.to_str().unwrap(),
    ];
    assert_success(&genderlens(&args));
    let expected = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = expected.lines().collect();
    assert!(lines[0].starts_with("file,width,height,face,"));
    assert!(
        lines[0].ends_with(",mouth_left_x,mouth_left_y,error"),
        "{}",
        lines[0]
    );
    let group_rows = lines.iter().filter(|l| l.contains("z-group.jpg")).count();
    assert_eq!(group_rows, 29, "one row per face");
    // A face's row: its box, then its five points in the columns the header names.
    let header: Vec<&str> = lines[0].split(',').collect();
    let row: Vec<&str> = lines
        .iter()
        .find(|l| l.contains("z-group.jpg"))
        .unwrap()
        .split(',')
        .collect();
    assert_eq!(row.len(), header.len());
    let column = |name: &str| -> f64 {
        row[header.iter().position(|h| *h == name).unwrap()]
            .parse()
            .unwrap()
    };
    assert!(
        column("right_eye_x") < column("left_eye_x") && column("nose_y") < column("mouth_left_y")
    );
    assert!(column("nose_x") > column("x") && column("nose_x") < column("x") + column("w"));
    // Cut after half of the group photo's rows, in the middle of a row.
    let keep = lines.len() - group_rows / 2;
    let cut = lines[..keep].join("\n") + "\n" + &lines[keep][..10];
    std::fs::write(&out, cut).unwrap();
    assert_success(&genderlens(&[&args[..], &["--resume"]].concat()));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), expected);
}

#[test]
fn bad_files_in_a_folder_change_nothing_for_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let alone = dir.path().join("alone");
    let mixed = dir.path().join("mixed");
    std::fs::create_dir_all(&alone).unwrap();
    std::fs::create_dir_all(&mixed).unwrap();
    for (i, (_, bytes)) in PORTRAITS.iter().enumerate() {
        std::fs::write(alone.join(format!("{i}.jpg")), bytes).unwrap();
        std::fs::write(mixed.join(format!("{i}.jpg")), bytes).unwrap();
    }
    for file in corpus::bad_files(false) {
        std::fs::write(mixed.join(&file.name), &file.bytes).unwrap();
    }
    let by_name = |lines: Vec<String>| -> Vec<(String, Value)> {
        lines
            .iter()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                let name = Path::new(v["file"].as_str().unwrap())
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                (name, v)
            })
            .collect()
    };
    let alone = by_name(stream(&[alone.to_str().unwrap(), "--jsonl"]));
    let mixed = by_name(stream(&[mixed.to_str().unwrap(), "--jsonl"]));
    for (name, result) in &alone {
        let (_, same) = mixed.iter().find(|(n, _)| n == name).unwrap();
        assert_eq!(same["faces"], result["faces"], "{name}");
    }
    for file in corpus::bad_files(false) {
        let line = mixed.iter().find(|(n, _)| *n == file.name);
        match (file.expect, line) {
            (corpus::Expect::Error, Some((_, v))) => {
                assert!(v["error"].as_str().unwrap().len() > 10, "{}", file.name)
            }
            // Not an image by its content: a folder's other files are left alone.
            (corpus::Expect::Error, None) => {}
            (_, Some((_, v))) => assert!(v["error"].is_null(), "{}: {v}", file.name),
            (expect, None) => panic!("{}: no line, expected {expect:?}", file.name),
        }
    }
}

#[test]
fn filters_keep_the_surest_faces_and_bad_stream_options_are_clear_errors() {
    let solvay = repo().join("tests/fixtures/solvay-1927.jpg");
    let solvay = solvay.to_str().unwrap();
    let all = stream(&[solvay, "--jsonl"]);
    let all: Value = serde_json::from_str(&all[0]).unwrap();
    let filtered = stream(&[
        solvay,
        "--jsonl",
        "--max-faces",
        "5",
        "--min-confidence",
        "0.95",
    ]);
    let filtered: Value = serde_json::from_str(&filtered[0]).unwrap();
    let faces = filtered["faces"].as_array().unwrap();
    let expected: Vec<&Value> = all["faces"].as_array().unwrap()[..5]
        .iter()
        .filter(|f| f["confidence"].as_f64().unwrap() >= 0.95)
        .collect();
    assert_eq!(faces.iter().collect::<Vec<_>>(), expected);
    for bad in [
        &["--min-confidence", "0.3"][..],
        &["--out", "x.jsonl"],
        &["--resume"],
        &["--jsonl", "--csv"],
    ] {
        let output = genderlens(&[&["predict", solvay], bad].concat());
        assert!(!output.status.success(), "{bad:?}");
        assert!(!String::from_utf8_lossy(&output.stderr).contains("panicked"));
    }
}

#[test]
fn small_faces_asks_for_the_crowd_the_working_copy_shows_too_small() {
    // Six portraits 64 px wide (faces about 30 px, 10 px in the 1 024 px working copy) in a
    // 3 072 × 2 048 photo.
    let dir = tempfile::tempdir().unwrap();
    let mut photo = image::RgbImage::from_pixel(3072, 2048, image::Rgb([120, 130, 125]));
    for (i, (x, y)) in [
        (200, 300),
        (1100, 500),
        (2500, 260),
        (600, 1500),
        (1500, 1300),
        (2700, 1700),
    ]
    .into_iter()
    .enumerate()
    {
        let portrait = genderlens::decode::decode_image(PORTRAITS[i % PORTRAITS.len()].1).unwrap();
        let small = image::imageops::resize(&portrait, 64, 64, image::imageops::Triangle);
        image::imageops::replace(&mut photo, &small, x, y);
    }
    let path = dir.path().join("crowd.png");
    photo.save(&path).unwrap();
    let faces = |extra: &[&str]| {
        let output = genderlens(&[&["predict", path.to_str().unwrap(), "--json"], extra].concat());
        assert_success(&output);
        last_json_line(&output)[0]["faces"]
            .as_array()
            .unwrap()
            .len()
    };
    let (thorough, quick) = (faces(&["--small-faces"]), faces(&[]));
    assert_eq!(thorough, 6, "with --small-faces");
    assert!(quick < thorough, "{quick} faces without --small-faces");
}
