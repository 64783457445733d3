//! Face detection with YuNet-s (libfacedetection's 2023 CNN; `yunet.rs`), its weights
//! embedded in the build: boxes with a score and five landmarks.

mod decode;
pub mod yunet;

use crate::resize::{fit_within, triangle_resize};
use decode::{candidates, suppress_overlaps, NMS_IOU};
use image::RgbImage;
use safetensors::SafeTensors;
use serde::Serialize;
use yunet::{YuNet, SIDE_MULTIPLE};

/// The detector's weights (`genderlens import-detector`; provenance in `models/README.md`).
static WEIGHTS: &[u8] = include_bytes!("../../models/yunet.safetensors");

/// A detected face in the coordinates of the image it was found in.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct FaceBox {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
    /// The detector's confidence, 0–1.
    pub score: f32,
    /// (x, y) of the right eye, left eye, nose tip, right and left mouth corner (the
    /// person's right and left: the first point is on the image's left).
    pub landmarks: [[f32; 2]; 5],
}

/// Boxes scoring below this are not faces. At 0.7 the network found 29 of the Solvay
/// photo's 29 faces with no stray box (docs/design.md, "The detector").
pub const SCORE_THRESHOLD: f32 = 0.7;
/// A large photo's faces under this many pixels of its working copy are searched for again
/// at its full resolution when asked ([`FaceDetector::detect_in_photo`]): the network finds
/// most faces from about 24 px (portraits shrunk into a photo: 3 of 24 at 17 px, 13 at 21,
/// 23 at 25, all at 34), and the classifier reads them from 24.
const LEFT_TO_TILES: f32 = 24.0;
/// The network finds faces from about 10 px up to this side in the image it is given;
/// larger ones are searched for in a shrunk copy (`FaceDetector::detect`).
pub const LARGEST_FACE: f32 = 256.0;
/// How much smaller the copy searched for large faces is.
const SHRINK_FOR_LARGE_FACES: u32 = 4;
/// The step of a tiled search ([`FaceDetector::search_tiles`]); each tile reaches a margin
/// beyond its square on every side.
const TILE: u32 = 512;
/// A face box this close to a tile's inner edge may be a face the edge cuts.
const EDGE: u32 = 2;

pub struct FaceDetector {
    net: YuNet,
    threshold: f32,
}

impl FaceDetector {
    /// The detector with the embedded weights.
    pub fn new() -> Self {
        let file = SafeTensors::deserialize(WEIGHTS).expect("the embedded detector weights parse");
        Self::from_tensors(&file).expect("the embedded detector weights fit the network")
    }

    pub fn from_tensors(file: &SafeTensors) -> Result<Self, String> {
        Ok(Self {
            net: YuNet::from_tensors(file)?,
            threshold: SCORE_THRESHOLD,
        })
    }

    /// Keeps boxes scoring `threshold` or more (for the equivalence tests' margin).
    pub fn with_threshold(mut self, threshold: f32) -> Self {
        self.threshold = threshold;
        self
    }

    /// Every face of a photo of any size, in its pixels, most confident first: searched in a
    /// copy at most `working_side` px ([`Self::detect`]); with `small_faces`, a photo larger
    /// than that is searched again at its full resolution, in tiles ([`Self::search_tiles`]),
    /// for the faces the copy shows too small to find (from about 24 px of the photo; they
    /// cost a pass over every pixel of it).
    pub fn detect_in_photo(
        &self,
        image: &RgbImage,
        working_side: u32,
        small_faces: bool,
    ) -> Vec<FaceBox> {
        let (working, scale) = fit_within(image, working_side);
        let mut faces: Vec<FaceBox> = self
            .detect(&working)
            .into_iter()
            .map(|f| f.scaled(scale, scale))
            .collect();
        if small_faces && scale > 1.0 {
            faces.extend(self.search_tiles(image, LEFT_TO_TILES * scale));
            faces = suppress_overlaps(faces, NMS_IOU);
        }
        faces
    }

    /// Every face in `image`, most confident first: one pass at its size (faces of about
    /// 10 to [`LARGEST_FACE`] px) and, when it is large enough to hold a larger face, one
    /// on a copy [`SHRINK_FOR_LARGE_FACES`] times smaller (a sixteenth of the cost).
    pub fn detect(&self, image: &RgbImage) -> Vec<FaceBox> {
        let mut faces = self.search(image);
        let large = self.search_large(image);
        if !large.is_empty() {
            faces.extend(large);
            faces = suppress_overlaps(faces, NMS_IOU);
        }
        faces
    }

    /// Part `part` of `parts` of [`Self::detect`]'s work, for a photo searched by several
    /// workers at once: the full-size pass over one band across the image's longer side,
    /// reaching half a [`LARGEST_FACE`] beyond its share on each side so that every face
    /// that pass finds lies whole in a band, and, in part 0, the pass for larger faces. The
    /// parts' faces together, through [`Self::merge`], are `detect`'s but for a face near a
    /// band's inner edge, which the network sees there with less of its surroundings.
    pub fn detect_part(&self, image: &RgbImage, part: usize, parts: usize) -> Vec<FaceBox> {
        let (w, h) = image.dimensions();
        let side = w.max(h) as usize;
        let margin = ((LARGEST_FACE / 2.0) as usize).next_multiple_of(SIDE_MULTIPLE / 2);
        let (start, end) = (side * part / parts, side * (part + 1) / parts);
        let (low, high) = (
            start.saturating_sub(margin) as u32,
            (end + margin).min(side) as u32,
        );
        let region = if w >= h {
            [low, 0, high, h]
        } else {
            [0, low, w, high]
        };
        let mut faces = self.search_region(image, region, LARGEST_FACE);
        if part == 0 {
            faces.extend(self.search_large(image));
        }
        faces
    }

    /// The faces of [`Self::detect_part`]'s parts as one list, most confident first, a face
    /// two parts found kept once.
    pub fn merge(faces: Vec<FaceBox>) -> Vec<FaceBox> {
        suppress_overlaps(faces, NMS_IOU)
    }

    /// The faces over [`LARGEST_FACE`] / 2 px found in a copy of `image`
    /// [`SHRINK_FOR_LARGE_FACES`] times smaller, when it is large enough to hold one.
    fn search_large(&self, image: &RgbImage) -> Vec<FaceBox> {
        let (w, h) = image.dimensions();
        if w.min(h) as f32 <= LARGEST_FACE {
            return vec![];
        }
        let s = SHRINK_FOR_LARGE_FACES;
        let small = triangle_resize(image, w.div_ceil(s), h.div_ceil(s));
        let (sx, sy) = (
            w as f32 / small.width() as f32,
            h as f32 / small.height() as f32,
        );
        // Faces this pass finds at the full size already are found better there.
        self.search(&small)
            .into_iter()
            .map(|f| f.scaled(sx, sy))
            .filter(|f| f.width.max(f.height) > LARGEST_FACE / 2.0)
            .collect()
    }

    /// One pass of the network over `image` as given: faces of about 10 to [`LARGEST_FACE`]
    /// px, most confident first.
    pub fn search(&self, image: &RgbImage) -> Vec<FaceBox> {
        let (w, h) = (image.width() as usize, image.height() as usize);
        if w == 0 || h == 0 {
            return vec![];
        }
        let (pw, ph) = (
            w.next_multiple_of(SIDE_MULTIPLE),
            h.next_multiple_of(SIDE_MULTIPLE),
        );
        let heads = self.net.forward(bgr_planes(image, pw, ph), (ph, pw));
        suppress_overlaps(candidates(&heads, self.threshold), NMS_IOU)
    }

    /// Faces up to `largest` px in `image`, searched in overlapping tiles: the network's
    /// memory stays one tile's whatever the photo's size. Tiles overlap by `largest`, so
    /// every such face lies whole in one; a face a tile's edge cuts is left to its
    /// neighbour, and a face two tiles hold whole is kept once.
    pub fn search_tiles(&self, image: &RgbImage, largest: f32) -> Vec<FaceBox> {
        let (w, h) = image.dimensions();
        // Half a face each side, rounded so that a tile's side is a multiple of the network's.
        let margin =
            ((largest / 2.0).ceil().max(0.0) as u32).next_multiple_of(SIDE_MULTIPLE as u32 / 2);
        let mut faces = Vec::new();
        for y in (0..h).step_by(TILE as usize) {
            for x in (0..w).step_by(TILE as usize) {
                let (left, top) = (x.saturating_sub(margin), y.saturating_sub(margin));
                let (right, bottom) = ((x + TILE + margin).min(w), (y + TILE + margin).min(h));
                faces.extend(self.search_region(image, [left, top, right, bottom], largest));
            }
        }
        suppress_overlaps(faces, NMS_IOU)
    }

    /// The faces up to `largest` px that the network finds whole in the region
    /// `[left, top, right, bottom]` of `image`, in `image`'s pixels: a face the region's
    /// inner edges cut (within [`EDGE`] px of one) is left to the region beside it.
    fn search_region(
        &self,
        image: &RgbImage,
        [left, top, right, bottom]: [u32; 4],
        largest: f32,
    ) -> Vec<FaceBox> {
        let (w, h) = image.dimensions();
        let tile = image::imageops::crop_imm(image, left, top, right - left, bottom - top);
        let whole = |f: &FaceBox| {
            (left == 0 || f.x >= (left + EDGE) as f32)
                && (top == 0 || f.y >= (top + EDGE) as f32)
                && (right == w || f.x + f.width <= (right - EDGE) as f32)
                && (bottom == h || f.y + f.height <= (bottom - EDGE) as f32)
        };
        self.search(&tile.to_image())
            .into_iter()
            .map(|f| f.shifted(left as f32, top as f32))
            .filter(|f| f.width.max(f.height) <= largest && whole(f))
            .collect()
    }
}

impl Default for FaceDetector {
    fn default() -> Self {
        Self::new()
    }
}

/// The network's input: `image`'s blue, green and red planes as 0–255 floats, zero-padded
/// on the right and bottom to `pw × ph`.
fn bgr_planes(image: &RgbImage, pw: usize, ph: usize) -> Vec<f32> {
    let w = image.width() as usize;
    let mut planes = vec![0f32; 3 * pw * ph];
    let (blue, rest) = planes.split_at_mut(pw * ph);
    let (green, red) = rest.split_at_mut(pw * ph);
    for (y, row) in image.as_raw().chunks_exact(3 * w).enumerate() {
        let at = y * pw..y * pw + w;
        // A call per row: see "Tier-up" in docs/design.md.
        split_row(
            row,
            [&mut blue[at.clone()], &mut green[at.clone()], &mut red[at]],
        );
    }
    planes
}

#[cfg_attr(target_arch = "wasm32", inline(never))]
fn split_row(rgb: &[u8], [b, g, r]: [&mut [f32]; 3]) {
    for (((p, b), g), r) in rgb.chunks_exact(3).zip(b).zip(g).zip(r) {
        *r = f32::from(p[0]);
        *g = f32::from(p[1]);
        *b = f32::from(p[2]);
    }
}

impl FaceBox {
    /// How many numbers [`Self::to_numbers`] gives a box.
    pub const NUMBERS: usize = 15;

    /// x, y, width, height, score and the landmarks' ten coordinates: a box as it crosses
    /// between workers (a flat array is all the browser's bindings need to carry).
    pub fn to_numbers(&self) -> [f32; Self::NUMBERS] {
        let mut out = [0f32; Self::NUMBERS];
        out[..5].copy_from_slice(&[self.x, self.y, self.width, self.height, self.score]);
        for (o, v) in out[5..].iter_mut().zip(self.landmarks.as_flattened()) {
            *o = *v;
        }
        out
    }

    /// [`Self::to_numbers`] read back.
    pub fn from_numbers(n: &[f32; Self::NUMBERS]) -> Self {
        let mut landmarks = [[0f32; 2]; 5];
        for (point, xy) in landmarks.iter_mut().zip(n[5..].chunks_exact(2)) {
            *point = [xy[0], xy[1]];
        }
        Self {
            x: n[0],
            y: n[1],
            width: n[2],
            height: n[3],
            score: n[4],
            landmarks,
        }
    }

    /// Intersection over union of two boxes.
    pub fn iou(&self, other: &FaceBox) -> f32 {
        let w = (self.x + self.width).min(other.x + other.width) - self.x.max(other.x);
        let h = (self.y + self.height).min(other.y + other.height) - self.y.max(other.y);
        if w <= 0.0 || h <= 0.0 {
            return 0.0;
        }
        let intersection = w * h;
        intersection / (self.width * self.height + other.width * other.height - intersection)
    }

    /// The box and landmarks moved by (`dx`, `dy`) pixels.
    pub fn shifted(self, dx: f32, dy: f32) -> Self {
        Self {
            x: self.x + dx,
            y: self.y + dy,
            landmarks: self.landmarks.map(|[x, y]| [x + dx, y + dy]),
            ..self
        }
    }

    /// The box and landmarks in an image `sx` times wider and `sy` times taller.
    pub fn scaled(self, sx: f32, sy: f32) -> Self {
        Self {
            x: self.x * sx,
            y: self.y * sy,
            width: self.width * sx,
            height: self.height * sy,
            landmarks: self.landmarks.map(|[x, y]| [x * sx, y * sy]),
            ..self
        }
    }
}
