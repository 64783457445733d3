//! `prepare`: each source's own layout into the trainer's, held-out photos dropped first,
//! a split that never changes, unreadable and unlabelled files skipped and counted.

use crate::helpers::{genderlens, prepare};
use genderlens_test_support::PORTRAITS;
use std::collections::BTreeSet;
use std::path::Path;

/// Every file below `dir`, as paths relative to it.
fn tree(dir: &Path) -> BTreeSet<String> {
    let mut files = BTreeSet::new();
    for split in ["Training", "Validation"] {
        for class in ["female", "male"] {
            for entry in std::fs::read_dir(dir.join(split).join(class)).unwrap() {
                let name = entry.unwrap().file_name().into_string().unwrap();
                files.insert(format!("{split}/{class}/{name}"));
            }
        }
    }
    files
}

#[test]
fn utkface_names_give_the_labels_and_held_out_photos_never_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("crop_part1");
    std::fs::create_dir_all(&source).unwrap();
    let photo = PORTRAITS[1].1;
    for i in 0..40 {
        let gender = i % 2; // 0 male, 1 female
        let name = format!("{}_{gender}_{}_2017010{i:03}.jpg.chip.jpg", 20 + i, i % 5);
        std::fs::write(source.join(name), photo).unwrap();
    }
    std::fs::write(source.join("61_1_20170109142408075.jpg.chip.jpg"), photo).unwrap(); // no race
    std::fs::write(
        source.join("30_0_2_20170101000000000.jpg.chip.jpg"),
        b"not a photo",
    )
    .unwrap();
    let held_out = dir.path().join("held-out.txt");
    std::fs::write(
        &held_out,
        "21_1_1_2017010001.jpg.chip.jpg\n00009A02.jpg\n22_0_2_2017010002.jpg.chip.jpg\n",
    )
    .unwrap();

    // A check set cut from the same source: its names are dropped too, wherever it keeps them.
    let check_set = dir.path().join("check/female");
    std::fs::create_dir_all(&check_set).unwrap();
    std::fs::write(check_set.join("23_1_3_2017010003.jpg.chip.jpg"), photo).unwrap();

    let out = dir.path().join("out");
    let report = prepare(
        "utkface",
        &source,
        &out,
        &held_out,
        &[
            "--drop-names-in",
            dir.path().join("check").to_str().unwrap(),
        ],
    );
    assert_eq!(report["held_out_dropped"], 2);
    assert_eq!(report["names_in_dropped"], 1);
    assert_eq!(report["unlabelled_skipped"], 1);
    assert_eq!(report["unreadable_skipped"], 1);
    let files = tree(&out);
    assert_eq!(files.len(), 37);
    assert!(!files.iter().any(|f| f.contains("_2017010001.")
        || f.contains("_2017010002.")
        || f.contains("_2017010003.")));
    for file in &files {
        let gender = file.rsplit('/').next().unwrap().split('_').nth(1).unwrap();
        let class = if gender == "1" { "female" } else { "male" };
        assert!(file.contains(&format!("/{class}/")), "{file}");
    }
    let validation = files
        .iter()
        .filter(|f| f.starts_with("Validation/"))
        .count();
    assert!(
        (5..=20).contains(&validation),
        "{validation} of 37 in Validation/ at 0.3"
    );
    let counts: usize = report["counts"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap() as usize)
        .sum();
    assert_eq!(counts, 37);

    // The same split on another run (without the check set: one photo more, none moved);
    // a folder that is not empty is refused.
    let again = dir.path().join("again");
    prepare("utkface", &source, &again, &held_out, &[]);
    let again = tree(&again);
    assert_eq!(again.len(), 38);
    assert!(files.is_subset(&again));
    let refused = genderlens(&[
        "prepare",
        "utkface",
        source.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--held-out",
        held_out.to_str().unwrap(),
    ]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not empty"));
}

#[test]
fn all_age_faces_lists_give_the_labels_and_a_missing_held_out_list_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("All-Age-Faces Dataset");
    let images = root.join("original images");
    let sets = root.join("image sets");
    std::fs::create_dir_all(&images).unwrap();
    std::fs::create_dir_all(&sets).unwrap();
    let (mut train, mut val) = (String::new(), String::new());
    for i in 0..30 {
        let name = format!("{:05}A{:02}.jpg", i, 2 + i);
        std::fs::write(images.join(&name), PORTRAITS[i % 3].1).unwrap();
        let line = format!("{name} {}\n", i % 2);
        if i < 20 {
            train += &line
        } else {
            val += &line
        }
    }
    train += "broken-line\n";
    std::fs::write(sets.join("train_.txt"), train).unwrap();
    std::fs::write(sets.join("val_.txt"), val).unwrap();
    let held_out = dir.path().join("held-out.txt");
    std::fs::write(&held_out, "00004A06.jpg\n").unwrap();

    let out = dir.path().join("out");
    let report = prepare("all-age-faces", &root, &out, &held_out, &[]);
    assert_eq!(report["held_out_dropped"], 1);
    assert_eq!(report["unlabelled_skipped"], 1);
    let files = tree(&out);
    assert_eq!(files.len(), 29);
    assert!(!files.iter().any(|f| f.ends_with("00004A06.jpg")));
    for file in &files {
        let index: usize = file.rsplit('/').next().unwrap()[..5].parse().unwrap();
        let class = if index % 2 == 1 { "male" } else { "female" };
        assert!(file.contains(&format!("/{class}/")), "{file}");
    }

    let missing = genderlens(&[
        "prepare",
        "all-age-faces",
        root.to_str().unwrap(),
        "--out",
        dir.path().join("x").to_str().unwrap(),
        "--held-out",
        "/nonexistent/held-out.txt",
    ]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--no-held-out"));
}
