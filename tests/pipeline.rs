//! Native end-to-end tests of the shared pipeline: embedded model, detection, decoding.
#![cfg(not(target_arch = "wasm32"))]

use genderlens::classifier::crop::{
    crop_face, CropScale, Framing, CROP_ALIGNED_TENSOR, CROP_SCALE_TENSOR,
};
use genderlens::{Classifier, Pipeline};
use genderlens_test_support::calibration_check::expected_whole_image;
use genderlens_test_support::data::{dataset, sample};
use genderlens_test_support::{portrait_read_right, solvay_recall, PORTRAITS, SOLVAY_JPEG};

#[test]
fn the_portraits_are_found_and_read_right() {
    let mut pipeline = Pipeline::embedded().expect("embedded model loads");
    for (i, (_, bytes)) in PORTRAITS.iter().enumerate() {
        let analysis = pipeline.analyze_bytes(bytes).unwrap();
        let face = analysis
            .faces
            .first()
            .unwrap_or_else(|| panic!("portrait {i}: no face"));
        assert!(
            portrait_read_right(i, face.verdict.label),
            "portrait {i}: {face:?}"
        );
    }
}

#[test]
fn utk_faces_are_found_and_classified_as_their_label() {
    let check = "utk_faces_are_found_and_classified_as_their_label";
    let mut pipeline = Pipeline::embedded().expect("embedded model loads");
    let (mut found, mut correct, mut total) = (0, 0, 0);
    for (class, dir) in [("female", "utk-dev/female"), ("male", "utk-dev/male")] {
        let Some(dir) = dataset(check, dir) else {
            return;
        };
        for path in sample(&dir, 25) {
            let analysis = pipeline
                .analyze_bytes(&std::fs::read(&path).unwrap())
                .unwrap();
            total += 1;
            if let Some(face) = analysis.faces.first() {
                found += 1;
                correct += usize::from(face.verdict.likely == class);
            }
        }
    }
    assert!(
        found >= 48,
        "faces found in only {found}/{total} UTKFace photos"
    );
    assert!(
        correct >= 44,
        "only {correct}/{total} UTKFace photos classified as their label"
    );
}

/// The page's worker warms the browser's compiler up with this photo: only a photo in which a
/// face is found runs every stage of the pipeline (the classifier too).
#[test]
fn the_pages_warm_up_photo_has_exactly_one_face() {
    let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/js/warm-up.jpg")).unwrap();
    let analysis = Pipeline::embedded().unwrap().analyze_bytes(&bytes).unwrap();
    assert_eq!(analysis.faces.len(), 1, "{:?}", analysis.faces);
    assert!(analysis.faces[0].detector_score.is_some());
}

/// Every face of the group photo at 1024, 800 and 640 px (faces of 17-47 px), and no box on
/// anything else.
#[test]
fn solvay_photo_yields_its_faces_and_mostly_men() {
    let mut pipeline = Pipeline::embedded().unwrap();
    let photo = genderlens::decode::decode_image(SOLVAY_JPEG).unwrap();
    for width in [1024, 800, 640] {
        let height = photo.height() * width / photo.width();
        let image = image::imageops::resize(&photo, width, height, image::imageops::Triangle);
        let faces = pipeline.analyze(&image).unwrap().faces;
        let boxes: Vec<[f32; 4]> = faces.iter().map(|f| f.bbox).collect();
        let (found, strays) = solvay_recall(&boxes, width as f32 / photo.width() as f32);
        assert_eq!(found, 29, "{width} px: {found} of the 29 faces found");
        assert_eq!(strays, 0, "{width} px: {strays} boxes on no face");
        assert_eq!(faces.len(), found, "{width} px: a face boxed twice");
        let men = faces.iter().filter(|f| f.verdict.likely == "male").count();
        assert!(
            men * 10 >= faces.len() * 8,
            "{width} px: only {men} of {} faces labelled male (28 of 29 are men)",
            faces.len()
        );
        for face in &faces {
            let [x, y, w, h] = face.bbox;
            assert!(
                x > -w && y > -h && x < width as f32 && y < height as f32 && w > 10.0,
                "box {:?} outside the image",
                face.bbox
            );
            assert!((0.0..=1.0).contains(&face.p_male));
            // The landmarks lie in their face's box: eyes above the mouth corners.
            let points = face.landmarks.expect("a detected face has landmarks");
            for [px, py] in points {
                assert!(
                    px > x && px < x + w && py > y && py < y + h,
                    "{points:?} outside {:?}",
                    face.bbox
                );
            }
            assert!(
                points[0][1] < points[3][1]
                    && points[1][1] < points[4][1]
                    && points[0][0] < points[1][0]
            );
        }
    }
}

/// A face larger than the network sees in one pass (here a portrait enlarged to 1024 px, its
/// face about 450 px) is found in the shrunk copy, once, in the photo's own coordinates.
#[test]
fn a_face_filling_a_large_photo_is_found_once() {
    let mut pipeline = Pipeline::embedded().unwrap();
    for (class, bytes) in PORTRAITS {
        let portrait = genderlens::decode::decode_image(bytes).unwrap();
        let small = pipeline.analyze(&portrait).unwrap().faces;
        let large = image::imageops::resize(&portrait, 1024, 1024, image::imageops::Triangle);
        let faces = pipeline.analyze(&large).unwrap().faces;
        assert_eq!(faces.len(), 1, "{class}: {faces:?}");
        let (b, s) = (faces[0].bbox, small[0].bbox);
        let factor = 1024.0 / 200.0;
        assert!(b[3] > 300.0, "{class}: a {} px face", b[3]);
        // The same box as at 200 px, to a fifth of its size (the network's boxes of one face
        // differ that much from one scale to another).
        for (g, e) in b.iter().zip(s) {
            assert!(
                (g - e * factor).abs() < 0.2 * b[3],
                "{class}: {b:?} vs {s:?} × {factor}"
            );
        }
        assert_eq!(faces[0].verdict.likely, class, "{faces:?}");
    }
}

/// A phone-sized photo (here the group photo enlarged 3.5×) is shrunk to the working size
/// before detection: the same people are found, their boxes in the large photo's own
/// coordinates.
#[test]
fn a_large_photo_is_shrunk_and_its_boxes_map_back_to_it() {
    let mut pipeline = Pipeline::embedded().unwrap();
    let image = genderlens::decode::decode_image(SOLVAY_JPEG).unwrap();
    let reference = pipeline.analyze(&image).unwrap();
    let factor = 3.5;
    let large = image::imageops::resize(
        &image,
        (1024.0 * factor) as u32,
        (698.0 * factor) as u32,
        image::imageops::FilterType::Triangle,
    );
    let analysis = pipeline.analyze(&large).unwrap();
    assert_eq!((analysis.width, analysis.height), large.dimensions());
    assert_eq!(analysis.faces.len(), 29);
    let centre = |b: [f32; 4]| (b[0] + b[2] / 2.0, b[1] + b[3] / 2.0);
    // Same place, to a fifth of the face's width (the shrunk photo is not the fixture's
    // pixels: resized twice).
    let matching = analysis
        .faces
        .iter()
        .filter(|face| {
            let (x, y) = centre(face.bbox);
            reference.faces.iter().any(|r| {
                let (rx, ry) = centre(r.bbox);
                (x / factor - rx).hypot(y / factor - ry) < 0.2 * face.bbox[2] / factor
            })
        })
        .count();
    assert!(
        matching == 29,
        "only {matching} faces where they are at 1024 px"
    );
}

#[test]
fn whole_image_classification_uses_the_same_model() {
    let check = "whole_image_classification_uses_the_same_model";
    let pipeline = Pipeline::embedded().unwrap();
    let mut correct = 0;
    let Some(validation) = dataset(check, "gender/Validation") else {
        return;
    };
    let (women, men) = (validation.join("female"), validation.join("male"));
    let files: Vec<_> = sample(&women, 20)
        .into_iter()
        .map(|p| (p, "female"))
        .chain(sample(&men, 20).into_iter().map(|p| (p, "male")))
        .collect();
    for (path, class) in &files {
        let image = genderlens::decode::decode_image(&std::fs::read(path).unwrap()).unwrap();
        correct += usize::from(pipeline.classify_whole(&image).unwrap().verdict.likely == *class);
    }
    assert!(correct >= 36, "only {correct}/40 validation crops right");
}

#[test]
fn rgba_input_matches_encoded_input() {
    let mut pipeline = Pipeline::embedded().unwrap();
    let image = genderlens::decode::decode_image(SOLVAY_JPEG).unwrap();
    let rgba: Vec<u8> = image
        .pixels()
        .flat_map(|p| [p[0], p[1], p[2], 255])
        .collect();
    let from_rgba =
        genderlens::decode::rgb_from_rgba(&rgba, image.width(), image.height()).unwrap();
    let a = pipeline.analyze(&from_rgba).unwrap();
    let b = pipeline.analyze_bytes(SOLVAY_JPEG).unwrap();
    assert_eq!(a.faces.len(), b.faces.len());
    assert!(genderlens::decode::rgb_from_rgba(&rgba[1..], image.width(), image.height()).is_err());
}

#[test]
fn reported_probabilities_are_the_calibrated_ones() {
    let pipeline = Pipeline::embedded().unwrap();
    for (i, (_, bytes)) in PORTRAITS.iter().enumerate() {
        let (p, label, confidence) = expected_whole_image(bytes);
        let image = genderlens::decode::decode_image(bytes).unwrap();
        let face = pipeline.classify_whole(&image).unwrap();
        assert_eq!(face.p_male, p, "portrait {i}");
        assert_eq!(face.verdict.label, label);
        assert_eq!(face.verdict.confidence, confidence);
    }
}

/// The stored model's weights with the crop framing set to `framing`.
fn stored_model_cropping_as(framing: Framing) -> Vec<u8> {
    use safetensors::tensor::{Dtype, SafeTensors, TensorView};
    let stored = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/models/genderlens.safetensors"
    ))
    .unwrap();
    let file = SafeTensors::deserialize(&stored).unwrap();
    let (scale, aligned) = (framing.scale.0.to_le_bytes(), 1f32.to_le_bytes());
    let mut tensors: Vec<(String, TensorView)> = file
        .tensors()
        .into_iter()
        .filter(|(name, _)| name != CROP_SCALE_TENSOR && name != CROP_ALIGNED_TENSOR)
        .collect();
    tensors.push((
        CROP_SCALE_TENSOR.to_string(),
        TensorView::new(Dtype::F32, vec![1], &scale).unwrap(),
    ));
    if framing.aligned {
        tensors.push((
            CROP_ALIGNED_TENSOR.to_string(),
            TensorView::new(Dtype::F32, vec![1], &aligned).unwrap(),
        ));
    }
    safetensors::serialize(tensors, None).unwrap()
}

#[test]
fn faces_are_cropped_as_the_model_learned_them() {
    let framing = |scale: f32, aligned: bool| Framing {
        scale: CropScale(scale),
        aligned,
    };
    let model = |framing| Classifier::from_safetensors(&stored_model_cropping_as(framing));
    let (wide, tight) = (framing(1.4, false), framing(1.0, false));
    let aligned = framing(1.4, true);
    assert_eq!(model(aligned).unwrap().framing(), aligned);
    let image = genderlens::decode::decode_image(PORTRAITS[0].1).unwrap();
    assert!(image.width().max(image.height()) <= 1024, "no working copy");
    let crops = |framing| Pipeline::new(model(framing).unwrap()).face_crops(&image);
    let ((boxes, tight_crops), (wide_boxes, wide_crops)) = (crops(tight), crops(wide));
    let (aligned_boxes, aligned_crops) = crops(aligned);
    assert_eq!(
        boxes, wide_boxes,
        "the crop framing must not move the boxes"
    );
    assert_eq!(
        boxes, aligned_boxes,
        "the crop framing must not move the boxes"
    );
    // Images compared with `==`: a failure prints no 12 288 bytes.
    let cut = |framing| crop_face(&image, &boxes[0], framing);
    assert!(wide_crops[0] == cut(wide));
    assert!(tight_crops[0] == cut(tight));
    assert!(aligned_crops[0] == cut(aligned));
    assert!(wide_crops[0] != tight_crops[0] && wide_crops[0] != aligned_crops[0]);
    // The product crops as the embedded model learned; a trainer's pipeline as a model that
    // does not exist yet will.
    let embedded = Classifier::embedded().unwrap().framing();
    let (_, product) = Pipeline::embedded().unwrap().face_crops(&image);
    assert!(product[0] == cut(embedded));
    let (_, recut) = Pipeline::embedded()
        .unwrap()
        .cropping_as(aligned)
        .face_crops(&image);
    assert!(recut == aligned_crops);
    // A crop scale no trainer writes is refused by name.
    let error = model(framing(9.0, false)).err().unwrap().to_string();
    assert!(error.contains("crop scale of 9"), "{error}");
}

/// A phone-sized photo with a crowd of small faces (about 34 px, 9 px in the working copy):
/// asked to, the tiled search at full resolution finds each of them once, wherever the tiles
/// cut; the working copy alone finds few.
#[test]
fn small_faces_in_a_large_photo_are_found_once_each() {
    let (width, height) = (4096u32, 3072u32);
    let mut photo = image::RgbImage::from_pixel(width, height, image::Rgb([120, 130, 125]));
    let mut placed = Vec::new();
    // Portraits 72 px wide (faces about 34 px), on a grid whose columns and rows straddle
    // the tiles' borders (every 512 px) as well as lying between them.
    for (row, y) in [180u32, 990, 1700, 2530].into_iter().enumerate() {
        for (column, x) in [300u32, 990, 1500, 2020, 2700, 3560]
            .into_iter()
            .enumerate()
        {
            let (_, bytes) = PORTRAITS[(row + column) % PORTRAITS.len()];
            let portrait = genderlens::decode::decode_image(bytes).unwrap();
            let small = image::imageops::resize(&portrait, 72, 72, image::imageops::Triangle);
            image::imageops::replace(&mut photo, &small, x.into(), y.into());
            placed.push((x as f32 + 36.0, y as f32 + 36.0));
        }
    }
    let found = |small_faces: bool| {
        let mut pipeline = Pipeline::embedded()
            .unwrap()
            .searching_small_faces(small_faces);
        pipeline.analyze(&photo).unwrap().faces
    };
    let near = |faces: &[genderlens::Face], (x, y): (f32, f32)| {
        let centre = |b: [f32; 4]| (b[0] + b[2] / 2.0, b[1] + b[3] / 2.0);
        faces
            .iter()
            .filter(|f| {
                let (cx, cy) = centre(f.bbox);
                (cx - x).hypot(cy - y) < 30.0
            })
            .count()
    };
    let faces = found(true);
    for &at in &placed {
        assert_eq!(near(&faces, at), 1, "the face at {at:?}: {faces:?}");
    }
    assert_eq!(faces.len(), placed.len(), "{faces:?}");
    let alone = found(false).len();
    assert!(alone < placed.len() / 2, "{alone} found without the tiles");
}

#[test]
fn a_photo_split_in_two_parts_gives_the_faces_of_one_analysis() {
    let mut pipeline = Pipeline::embedded().expect("embedded model loads");
    let image = genderlens::decode::decode_image(SOLVAY_JPEG).unwrap();
    let whole = pipeline.analyze(&image).unwrap().faces;
    // What two workers do (the package's split.js): each searches a part, then each
    // classifies its share of all the faces both found.
    let found: Vec<_> = (0..2)
        .flat_map(|part| pipeline.detect_part(&image, part, 2))
        .collect();
    let mut faces = vec![None; whole.len()];
    for part in 0..2 {
        let (count, share) = pipeline
            .classify_part(&image, found.clone(), part, 2)
            .unwrap();
        assert_eq!(count, whole.len(), "the parts found {count} faces");
        for (place, face) in share {
            assert!(faces[place].replace(face).is_none(), "face {place} twice");
        }
    }
    // The same faces in the same order; near the parts' inner edge the network sees less
    // around a face, so its box may move by a fraction of a pixel.
    for (i, (split, one)) in faces.into_iter().zip(&whole).enumerate() {
        let split = split.unwrap_or_else(|| panic!("face {i} in no share"));
        assert_eq!(split.verdict.likely, one.verdict.likely, "face {i}");
        let moved = split
            .bbox
            .iter()
            .zip(one.bbox)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            moved < 2.0,
            "face {i} moved {moved} px: {:?} against {:?}",
            split.bbox,
            one.bbox
        );
        assert!(
            (split.p_male - one.p_male).abs() < 0.05,
            "face {i}: {} against {}",
            split.p_male,
            one.p_male
        );
    }
}
