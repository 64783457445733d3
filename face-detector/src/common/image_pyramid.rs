// This file is part of the open-source port of SeetaFace engine, which originally includes three modules:
//      SeetaFace Detection, SeetaFace Alignment, and SeetaFace Identification.
//
// This file is part of the SeetaFace Detection module, containing codes implementing the face detection method described in the following paper:
//
//      Funnel-structured cascade for multi-view face detection with alignment awareness,
//      Shuzhe Wu, Meina Kan, Zhenliang He, Shiguang Shan, Xilin Chen.
//      In Neurocomputing (under review)
//
// Copyright (C) 2016, Visual Information Processing and Learning (VIPL) group,
// Institute of Computing Technology, Chinese Academy of Sciences, Beijing, China.
//
// As an open-source face recognition engine: you can redistribute SeetaFace source codes
// and/or modify it under the terms of the BSD 2-Clause License.
//
// You should have received a copy of the BSD 2-Clause License along with the software.
// If not, see < https://opensource.org/licenses/BSD-2-Clause>.

use std::cmp;

#[derive(Debug)]
pub struct ImageData<'a> {
    data: &'a [u8],
    width: u32,
    height: u32,
    num_channels: u32,
}

impl<'a> ImageData<'a> {
    #[inline]
    pub fn new(data: &'a [u8], width: u32, height: u32) -> Self {
        assert_eq!(data.len(), width as usize * height as usize);
        ImageData {
            data,
            width,
            height,
            num_channels: 1,
        }
    }

    #[inline]
    pub fn width(&self) -> u32 {
        self.width
    }

    #[inline]
    pub fn height(&self) -> u32 {
        self.height
    }

    #[inline]
    pub fn num_channels(&self) -> u32 {
        self.num_channels
    }

    #[inline]
    pub fn data(&self) -> &'a [u8] {
        self.data
    }
}

pub struct ImagePyramid {
    max_scale: f32,
    min_scale: f32,
    scale_factor: f32,
    scale_step: f32,
    width1x: u32,
    height1x: u32,
    width_scaled: u32,
    height_scaled: u32,
    img_buf: Vec<u8>,
    img_buf_scaled: Vec<u8>,
    img_buf_scaled_width: u32,
    img_buf_scaled_height: u32,
    resizer: Resizer,
}

impl ImagePyramid {
    pub fn new() -> Self {
        let img_buf_scaled_width: u32 = 2;
        let img_buf_scaled_height: u32 = 2;

        ImagePyramid {
            max_scale: 1.0,
            min_scale: 1.0,
            scale_factor: 1.0,
            scale_step: 0.8,
            width1x: 0,
            height1x: 0,
            width_scaled: 0,
            height_scaled: 0,
            img_buf: Vec::new(),
            img_buf_scaled: Vec::with_capacity(
                (img_buf_scaled_width * img_buf_scaled_height) as usize,
            ),
            img_buf_scaled_width,
            img_buf_scaled_height,
            resizer: Resizer::default(),
        }
    }

    pub fn set_max_scale(&mut self, max_scale: f32) {
        self.max_scale = max_scale;
        self.scale_factor = max_scale;
        self.update_buf_scaled();
    }

    #[inline]
    pub fn set_min_scale(&mut self, min_scale: f32) {
        self.min_scale = min_scale;
    }

    pub fn set_scale_step(&mut self, scale_step: f32) {
        if scale_step > 0.0 && scale_step <= 1.0 {
            self.scale_step = scale_step;
        }
    }

    #[inline]
    pub fn get_image_1x(&self) -> ImageData<'_> {
        ImageData::new(&self.img_buf, self.width1x, self.height1x)
    }

    pub fn set_image_1x(&mut self, img_data: &[u8], width: u32, height: u32) {
        self.width1x = width;
        self.height1x = height;

        self.img_buf.clear();
        self.img_buf.extend_from_slice(img_data);

        self.scale_factor = self.max_scale;
        self.update_buf_scaled();
    }

    fn update_buf_scaled(&mut self) {
        if self.width1x == 0 || self.height1x == 0 {
            return;
        }

        let max_width = (self.width1x as f32 * self.max_scale + 0.5) as u32;
        let max_height = (self.height1x as f32 * self.max_scale + 0.5) as u32;

        if max_width > self.img_buf_scaled_width || max_height > self.img_buf_scaled_height {
            self.img_buf_scaled_width = max_width;
            self.img_buf_scaled_height = max_height;
            self.img_buf_scaled = Vec::with_capacity((max_width * max_height) as usize);
        }
    }

    pub fn get_next_scale_image(&mut self) -> Option<(ImageData<'_>, f32)> {
        if self.scale_factor < self.min_scale {
            return None;
        }

        let scale_factor = self.scale_factor;
        self.width_scaled = (self.width1x as f32 * scale_factor) as u32;
        self.height_scaled = (self.height1x as f32 * scale_factor) as u32;

        let src = ImageData::new(&self.img_buf, self.width1x, self.height1x);
        self.resizer.resize(
            &src,
            &mut self.img_buf_scaled,
            self.width_scaled,
            self.height_scaled,
        );
        let img_scaled =
            ImageData::new(&self.img_buf_scaled, self.width_scaled, self.height_scaled);
        self.scale_factor *= self.scale_step;

        Some((img_scaled, scale_factor))
    }
}

/// Bilinear resizing (SeetaFace's arithmetic) with its scratch buffers kept between calls: the detector resizes
/// every candidate window, and allocating per call showed in profiles.
#[derive(Default)]
pub struct Resizer {
    columns: Vec<Column>,
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    pairs: Vec<gather::ColumnPair>,
    rows: [Vec<f64>; 2],
}

impl Resizer {
    /// Bilinear interpolation, separated: each source row is interpolated horizontally once
    /// (consecutive output rows share source rows), then pairs of those rows are blended
    /// vertically. The arithmetic is the per-pixel formula's, term by term, so the output is
    /// bit-identical to it.
    pub fn resize(&mut self, src: &ImageData, dest: &mut Vec<u8>, width: u32, height: u32) {
        dest.clear();
        if src.width() == width && src.height() == height {
            dest.extend_from_slice(src.data());
            return;
        }

        let lf_x_scl = f64::from(src.width()) / f64::from(width);
        let lf_y_scl = f64::from(src.height()) / f64::from(height);
        self.columns.clear();
        self.columns.extend((0..width).map(|x| {
            let lf_x_s = lf_x_scl * f64::from(x);
            let n_x_s = cmp::min(lf_x_s as u32, src.width() - 2);
            let weight = lf_x_s - f64::from(n_x_s);
            Column {
                left: n_x_s as usize,
                weight,
                rest: 1.0 - weight,
            }
        }));
        for row in &mut self.rows {
            row.resize(width as usize, 0.0);
        }
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        gather::plan(&self.columns, &mut self.pairs);
        let mut rows = HorizontalRows {
            src,
            columns: &self.columns,
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            pairs: &self.pairs,
            first: None,
            rows: &mut self.rows,
        };

        dest.resize(width as usize * height as usize, 0);
        for (y, out) in (0..height).zip(dest.chunks_exact_mut(width as usize)) {
            let lf_y_s = lf_y_scl * f64::from(y);
            let n_y_s = cmp::min(lf_y_s as u32, src.height() - 2) as usize;
            let lf_weight_y = lf_y_s - n_y_s as f64;
            let (top, bottom) = rows.pair(n_y_s);
            blend::rows(top, bottom, lf_weight_y, out);
        }
    }
}

/// `out[i] = ((1 - weight) * top[i] + weight * bottom[i]) as u8` (truncated, saturated),
/// two pixels per f64x2 vector: SSE2 on x86_64, simd128 on wasm32, plain Rust elsewhere.
/// Truncating to i32 and narrowing with saturation gives exactly Rust's `as u8`.
mod blend {
    #[cfg(target_arch = "x86_64")]
    pub fn rows(top: &[f64], bottom: &[f64], weight: f64, out: &mut [u8]) {
        use std::arch::x86_64::*;
        assert!(top.len() == out.len() && bottom.len() == out.len());
        let pairs = out.len() / 2;
        // SAFETY: SSE2 is part of the x86_64 baseline; pair p reads and writes elements
        // 2p and 2p + 1 < len.
        unsafe {
            let (w_top, w_bottom) = (_mm_set1_pd(1.0 - weight), _mm_set1_pd(weight));
            for p in 0..pairs {
                let t = _mm_loadu_pd(top.as_ptr().add(2 * p));
                let b = _mm_loadu_pd(bottom.as_ptr().add(2 * p));
                let v = _mm_add_pd(_mm_mul_pd(w_top, t), _mm_mul_pd(w_bottom, b));
                let ints = _mm_cvttpd_epi32(v);
                let bytes = _mm_packus_epi16(_mm_packs_epi32(ints, ints), _mm_setzero_si128());
                let two = (_mm_cvtsi128_si32(bytes) as u32).to_le_bytes();
                out[2 * p..2 * p + 2].copy_from_slice(&two[..2]);
            }
        }
        portable::rows(
            &top[2 * pairs..],
            &bottom[2 * pairs..],
            weight,
            &mut out[2 * pairs..],
        );
    }

    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(never)] // see "Tier-up" in lib.rs
    pub fn rows(top: &[f64], bottom: &[f64], weight: f64, out: &mut [u8]) {
        use std::arch::wasm32::*;
        assert!(top.len() == out.len() && bottom.len() == out.len());
        // Four pixels per step: two f64x2 blends, their truncated i32 pairs joined into one
        // vector, narrowed with saturation and stored as one 32-bit lane (per-byte lane
        // extraction and stores took a third of the time; `./dev bench` in the browser).
        let quads = out.len() / 4;
        let (w_top, w_bottom) = (f64x2_splat(1.0 - weight), f64x2_splat(weight));
        let blend = |p: usize| {
            // SAFETY: callers pass p + 1 < len (elements 2p .. 2p + 2); wasm allows
            // unaligned loads.
            let (t, b) = unsafe {
                (
                    v128_load(top.as_ptr().add(p) as *const v128),
                    v128_load(bottom.as_ptr().add(p) as *const v128),
                )
            };
            i32x4_trunc_sat_f64x2_zero(f64x2_add(f64x2_mul(w_top, t), f64x2_mul(w_bottom, b)))
        };
        for q in 0..quads {
            let ints = i32x4_shuffle::<0, 1, 4, 5>(blend(4 * q), blend(4 * q + 2));
            let bytes = u8x16_narrow_i16x8(i16x8_narrow_i32x4(ints, ints), ints);
            // SAFETY: bytes 4q .. 4q + 4 are inside `out`.
            unsafe { v128_store32_lane::<0>(bytes, out.as_mut_ptr().add(4 * q) as *mut u32) };
        }
        portable::rows(
            &top[4 * quads..],
            &bottom[4 * quads..],
            weight,
            &mut out[4 * quads..],
        );
    }

    pub mod portable {
        pub fn rows(top: &[f64], bottom: &[f64], weight: f64, out: &mut [u8]) {
            for ((o, &t), &b) in out.iter_mut().zip(top).zip(bottom) {
                *o = ((1.0 - weight) * t + weight * b) as u8;
            }
        }
    }
}

/// Where an output column samples the source: pixels `left` and `left + 1`, weighted
/// `rest` and `weight`.
struct Column {
    left: usize,
    weight: f64,
    rest: f64,
}

/// Horizontally interpolated source rows, two kept at a time (row `n` and `n + 1`).
struct HorizontalRows<'a> {
    src: &'a ImageData<'a>,
    columns: &'a [Column],
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    pairs: &'a [gather::ColumnPair],
    first: Option<usize>,
    rows: &'a mut [Vec<f64>; 2],
}

impl HorizontalRows<'_> {
    /// Rows `n` and `n + 1`, interpolated; `n` never decreases between calls.
    fn pair(&mut self, n: usize) -> (&[f64], &[f64]) {
        match self.first {
            Some(first) if first == n => {}
            Some(first) if first + 1 == n => {
                self.rows.swap(0, 1);
                self.fill(1, n + 1);
            }
            _ => {
                self.fill(0, n);
                self.fill(1, n + 1);
            }
        }
        self.first = Some(n);
        (&self.rows[0], &self.rows[1])
    }

    #[cfg_attr(target_arch = "wasm32", inline(never))] // see "Tier-up" in lib.rs
    fn fill(&mut self, slot: usize, row: usize) {
        let width = self.src.width() as usize;
        // The row and everything after it: the SIMD pass may load bytes past the row's end
        // (and ignore them).
        let data = &self.src.data()[row * width..];
        let out = &mut self.rows[slot];
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        let done = gather::interpolate(data, self.pairs, out);
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
        let done = 0;
        interpolate(&data[..width], &self.columns[done..], &mut out[done..]);
    }
}

/// `out[i] = rest * left pixel + weight * right pixel` for each column.
fn interpolate(data: &[u8], columns: &[Column], out: &mut [f64]) {
    for (out, column) in out.iter_mut().zip(columns) {
        let (d1, d2) = (
            f64::from(data[column.left]),
            f64::from(data[column.left + 1]),
        );
        *out = column.rest * d1 + column.weight * d2;
    }
}

/// The horizontal pass two output columns per f64x2 vector on wasm (the per-pixel byte
/// loads were the detector's largest single cost in the browser): one 16-byte load covers
/// both columns' two source pixels, a byte swizzle spreads them into four zero-extended i32
/// lanes, and the products and sum are the scalar formula's, lane by lane, so the result is
/// bit-identical.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod gather {
    use super::Column;
    use std::arch::wasm32::*;

    #[derive(Clone, Copy)]
    pub struct ColumnPair {
        /// Where the 16-byte load starts (the first column's left pixel).
        first: usize,
        /// Byte indices into the load for i32 lanes (left₀, left₁, right₀, right₁); 0xFF
        /// bytes zero the lanes' upper bytes.
        lanes: v128,
        rest: v128,
        weight: v128,
    }

    /// The pairs for `columns`, as far as both columns of a pair fit in one load (a shrink
    /// by more than ~14× does not; the scalar pass does the rest).
    pub fn plan(columns: &[Column], pairs: &mut Vec<ColumnPair>) {
        pairs.clear();
        for pair in columns.chunks_exact(2) {
            let (a, b) = (&pair[0], &pair[1]);
            let offset = b.left - a.left;
            if offset + 1 >= 16 {
                break;
            }
            let o = offset as u8;
            let mut lanes = [0xFFu8; 16];
            (lanes[0], lanes[4], lanes[8], lanes[12]) = (0, o, 1, o + 1);
            // SAFETY: both arrays are 16 bytes; wasm allows unaligned loads.
            let lanes = unsafe { v128_load(lanes.as_ptr() as *const v128) };
            pairs.push(ColumnPair {
                first: a.left,
                lanes,
                rest: f64x2(a.rest, b.rest),
                weight: f64x2(a.weight, b.weight),
            });
        }
    }

    /// Fills `out` two columns at a time while the loads stay inside `data`; returns how
    /// many columns it filled.
    pub fn interpolate(data: &[u8], pairs: &[ColumnPair], out: &mut [f64]) -> usize {
        let mut done = 0;
        for pair in pairs {
            if pair.first + 16 > data.len() || done + 2 > out.len() {
                break;
            }
            // SAFETY: bytes first .. first + 16 are inside `data` and elements done ..
            // done + 2 inside `out` (checked above).
            unsafe {
                let bytes = v128_load(data.as_ptr().add(pair.first) as *const v128);
                let ints = i8x16_swizzle(bytes, pair.lanes);
                let left = f64x2_convert_low_i32x4(ints);
                let right = f64x2_convert_low_i32x4(i32x4_shuffle::<2, 3, 2, 3>(ints, ints));
                let value = f64x2_add(f64x2_mul(pair.rest, left), f64x2_mul(pair.weight, right));
                v128_store(out.as_mut_ptr().add(done) as *mut v128, value);
            }
            done += 2;
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The original per-pixel bilinear resize: the separated version must match it exactly.
    fn resize_per_pixel(src: &ImageData, width: u32, height: u32) -> Vec<u8> {
        let lf_x_scl = f64::from(src.width()) / f64::from(width);
        let lf_y_scl = f64::from(src.height()) / f64::from(height);
        let at = |x: u32, y: u32| f64::from(src.data()[(y * src.width() + x) as usize]);
        let mut out = Vec::new();
        for y in 0..height {
            for x in 0..width {
                let lf_x_s = lf_x_scl * f64::from(x);
                let lf_y_s = lf_y_scl * f64::from(y);
                let n_x_s = cmp::min(lf_x_s as u32, src.width() - 2);
                let n_y_s = cmp::min(lf_y_s as u32, src.height() - 2);
                let lf_weight_x = lf_x_s - f64::from(n_x_s);
                let lf_weight_y = lf_y_s - f64::from(n_y_s);
                let (d1, d2) = (at(n_x_s, n_y_s), at(n_x_s + 1, n_y_s));
                let (d3, d4) = (at(n_x_s, n_y_s + 1), at(n_x_s + 1, n_y_s + 1));
                let value = (1.0 - lf_weight_y) * ((1.0 - lf_weight_x) * d1 + lf_weight_x * d2)
                    + lf_weight_y * ((1.0 - lf_weight_x) * d3 + lf_weight_x * d4);
                out.push(value as u8);
            }
        }
        out
    }

    #[test]
    fn simd_blend_equals_as_u8_including_saturation() {
        // Extrapolated edge columns can leave [0, 255]; `as u8` saturates them.
        let top: Vec<f64> = (0..41).map(|i| i as f64 * 7.3 - 20.0).collect();
        let bottom: Vec<f64> = (0..41).map(|i| 300.0 - i as f64 * 6.1).collect();
        for weight in [0.0, 0.25, 0.999, 1.2, -0.3] {
            let (mut simd, mut portable) = (vec![0u8; 41], vec![0u8; 41]);
            blend::rows(&top, &bottom, weight, &mut simd);
            blend::portable::rows(&top, &bottom, weight, &mut portable);
            assert_eq!(simd, portable, "weight {weight}");
        }
    }

    #[test]
    fn separated_resize_is_bit_identical_to_the_per_pixel_formula() {
        let (w, h) = (97u32, 61u32);
        let pixels: Vec<u8> = (0..w * h)
            .map(|i| ((i * 7919 + i / w * 31) % 256) as u8)
            .collect();
        let src = ImageData::new(&pixels, w, h);
        // Pyramid steps, window crops up- and downscaled, and odd ratios, through one
        // resizer whose buffers are reused.
        let mut resizer = Resizer::default();
        for (tw, th) in [(77, 48), (62, 39), (40, 40), (150, 90), (96, 60), (13, 7)] {
            let mut out = Vec::new();
            resizer.resize(&src, &mut out, tw, th);
            assert_eq!(out, resize_per_pixel(&src, tw, th), "{tw}x{th}");
        }
    }
}
