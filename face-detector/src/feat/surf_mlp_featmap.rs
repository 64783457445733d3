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

use crate::common::ImageData;
use crate::common::{Rectangle, Seq};
use crate::feat::FeatureMap;
use std::ptr;

pub struct SurfMlpFeatureMap {
    width: u32,
    height: u32,
    length: usize,
    feature_pool: FeaturePool,
    feature_vectors: Vec<Vec<i32>>,
    feature_vectors_normalized: Vec<Vec<f32>>,
    int_img: Vec<i32>,
    /// Scratch rows of `compute_integral_image`, kept: it runs once per candidate window.
    grad_x: Vec<i32>,
    grad_y: Vec<i32>,
    zero_row: Vec<i32>,
}

impl FeatureMap for SurfMlpFeatureMap {
    fn compute(&mut self, image: &ImageData) {
        let input = image.data();
        let width = image.width();
        let height = image.height();

        if width == 0 || height == 0 {
            panic!("Illegal arguments: width ({}), height ({})", width, height);
        }

        self.reshape(width, height);
        self.compute_integral_image(input, width as usize, height as usize);
    }
}

impl SurfMlpFeatureMap {
    pub fn new() -> Self {
        let feature_pool = SurfMlpFeatureMap::create_feature_pool();
        let feature_pool_size = feature_pool.size();
        let mut feature_vectors = Vec::with_capacity(feature_pool_size);
        let mut feature_vectors_normalized = Vec::with_capacity(feature_pool_size);
        for feature_id in 0..feature_pool_size {
            let dim = feature_pool.get_feature_vector_dim(feature_id);
            feature_vectors.push(vec![0; dim]);
            feature_vectors_normalized.push(vec![0.0; dim]);
        }

        SurfMlpFeatureMap {
            width: 0,
            height: 0,
            length: 0,
            feature_pool,
            feature_vectors,
            feature_vectors_normalized,
            int_img: Vec::new(),
            grad_x: Vec::new(),
            grad_y: Vec::new(),
            zero_row: Vec::new(),
        }
    }

    fn create_feature_pool() -> FeaturePool {
        let mut feature_pool = FeaturePool::new();
        feature_pool.add_patch_format(1, 1, 2, 2);
        feature_pool.add_patch_format(1, 2, 2, 2);
        feature_pool.add_patch_format(2, 1, 2, 2);
        feature_pool.add_patch_format(2, 3, 2, 2);
        feature_pool.add_patch_format(3, 2, 2, 2);
        feature_pool.create();
        feature_pool
    }

    /// Like [`FeatureMap::compute`], but fills the integral image only in its top-left
    /// `extent` (columns, rows), e.g. the [`Self::extent_of`] a classifier's features: a
    /// later cascade stage that reads less of its 40 × 40 window need not sum the rest
    /// (prefix sums there do not depend on pixels beyond; gradients still see the whole
    /// image, so the values are the full computation's).
    pub fn compute_within(&mut self, image: &ImageData, extent: (u32, u32)) {
        let (width, height) = (image.width(), image.height());
        assert!(width > 0 && height > 0, "empty image");
        self.reshape(width, height);
        let columns = extent.0.min(width) as usize;
        let rows = extent.1.min(height) as usize;
        self.compute_integral_image(image.data(), columns, rows);
    }

    /// The top-left part of a window (columns, rows) that the features `feature_ids` (as a
    /// SURF-MLP classifier numbers them, from 1) read from the integral image.
    pub fn extent_of(&self, feature_ids: &[i32]) -> (u32, u32) {
        feature_ids.iter().fold((0, 0), |(columns, rows), &id| {
            let patch = &self.feature_pool.get_feature((id - 1) as usize).patch;
            (
                columns.max(patch.x() as u32 + patch.width()),
                rows.max(patch.y() as u32 + patch.height()),
            )
        })
    }

    fn reshape(&mut self, width: u32, height: u32) {
        self.width = width;
        self.height = height;
        self.length = width as usize * height as usize;
        self.int_img
            .resize(self.length * FeaturePool::K_NUM_INT_CHANNEL as usize, 0);
    }

    /// Fills `int_img`: for every pixel the inclusive 2-D prefix sums of eight gradient
    /// channels, in one pass over the image (the original made nine passes through four
    /// temporary images; integer sums make the result identical).
    ///
    /// The channels of a pixel with gradients dx, dy (central differences, doubled
    /// one-sided differences at the borders) are, in order: dx and |dx| where dy >= 0, dx and
    /// |dx| where dy < 0, dy and |dy| where dx >= 0, dy and |dy| where dx < 0 (0 elsewhere).
    /// Only the first `columns` of the first `rows` rows are filled.
    fn compute_integral_image(&mut self, input: &[u8], columns: usize, rows: usize) {
        const CHANNELS: usize = FeaturePool::K_NUM_INT_CHANNEL as usize;
        let (width, height) = (self.width as usize, self.height as usize);
        assert_eq!(input.len(), self.length);
        assert!(
            width >= 2 && height >= 2,
            "gradients need at least 2x2 pixels"
        );
        let row_len = width * CHANNELS;
        self.grad_x.resize(width, 0);
        self.grad_y.resize(width, 0);
        self.zero_row.resize(row_len, 0);
        let (dx, dy) = (&mut self.grad_x, &mut self.grad_y);
        let used = columns * CHANNELS;
        for r in 0..rows {
            let row = &input[r * width..][..width];
            row_gradient(row, dx);
            let (up, down, y_scale) = match r {
                0 => (0, 1, 2),
                _ if r == height - 1 => (r - 1, r, 2),
                _ => (r - 1, r + 1, 1),
            };
            let (row_up, row_down) = (
                &input[up * width..][..width],
                &input[down * width..][..width],
            );
            for ((d, &u), &w) in dy[..columns].iter_mut().zip(row_up).zip(row_down) {
                *d = (i32::from(w) - i32::from(u)) * y_scale;
            }

            let (done, rest) = self.int_img.split_at_mut(r * row_len);
            let out = &mut rest[..used];
            let above = if r == 0 {
                &self.zero_row[..used]
            } else {
                &done[(r - 1) * row_len..][..used]
            };
            integral_row(&dx[..columns], &dy[..columns], above, out);
        }
    }
}

/// One row of the integral image: for each pixel, the running sums along the row of its
/// eight channels (0-3 from dx, split by the sign of dy; 4-7 from dy, split by the sign of
/// dx) plus the integral row above. Each half is one 4-lane vector: SSE2 on x86_64, simd128
/// on wasm32, plain arrays elsewhere.
fn integral_row(dx: &[i32], dy: &[i32], above: &[i32], out: &mut [i32]) {
    assert!(dy.len() == dx.len() && out.len() == dx.len() * 8 && above.len() == out.len());
    lanes::integral_row(dx, dy, above, out)
}

mod lanes {
    #[cfg(target_arch = "x86_64")]
    pub fn integral_row(dx: &[i32], dy: &[i32], above: &[i32], out: &mut [i32]) {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of the x86_64 baseline; the caller checked that `out` and
        // `above` hold 8 values per pixel, so the loads and stores of pixel c stay inside.
        unsafe {
            // Lanes 0, 1 are kept where the other gradient is >= 0, lanes 2, 3 where < 0.
            let flip_low = _mm_set_epi32(0, 0, -1, -1);
            let (mut run_dx, mut run_dy) = (_mm_setzero_si128(), _mm_setzero_si128());
            for (c, (&x, &y)) in dx.iter().zip(dy).enumerate() {
                let xs = _mm_set_epi32(x.abs(), x, x.abs(), x);
                let ys = _mm_set_epi32(y.abs(), y, y.abs(), y);
                let by_dy = _mm_xor_si128(_mm_set1_epi32(y >> 31), flip_low);
                let by_dx = _mm_xor_si128(_mm_set1_epi32(x >> 31), flip_low);
                run_dx = _mm_add_epi32(run_dx, _mm_and_si128(xs, by_dy));
                run_dy = _mm_add_epi32(run_dy, _mm_and_si128(ys, by_dx));
                let up = above.as_ptr().add(c * 8) as *const __m128i;
                let cell = out.as_mut_ptr().add(c * 8) as *mut __m128i;
                _mm_storeu_si128(cell, _mm_add_epi32(run_dx, _mm_loadu_si128(up)));
                _mm_storeu_si128(
                    cell.add(1),
                    _mm_add_epi32(run_dy, _mm_loadu_si128(up.add(1))),
                );
            }
        }
    }

    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(never)] // see "Tier-up" in lib.rs
    pub fn integral_row(dx: &[i32], dy: &[i32], above: &[i32], out: &mut [i32]) {
        use std::arch::wasm32::*;
        let flip_low = i32x4(-1, -1, 0, 0);
        // [v, |v|, v, |v|] from one splat, without scalar lane inserts.
        let with_abs = |v: v128| i32x4_shuffle::<0, 5, 2, 7>(v, i32x4_abs(v));
        let (mut run_dx, mut run_dy) = (i32x4_splat(0), i32x4_splat(0));
        let pixels = out.chunks_exact_mut(8).zip(above.chunks_exact(8));
        for (((cell, up), &x), &y) in pixels.zip(dx).zip(dy) {
            let (xs, ys) = (i32x4_splat(x), i32x4_splat(y));
            let by_dy = v128_xor(i32x4_shr(ys, 31), flip_low);
            let by_dx = v128_xor(i32x4_shr(xs, 31), flip_low);
            run_dx = i32x4_add(run_dx, v128_and(with_abs(xs), by_dy));
            run_dy = i32x4_add(run_dy, v128_and(with_abs(ys), by_dx));
            // SAFETY: `cell` and `up` are 8 i32 = two v128 each; wasm allows unaligned access.
            unsafe {
                let up = up.as_ptr() as *const v128;
                let cell = cell.as_mut_ptr() as *mut v128;
                v128_store(cell, i32x4_add(run_dx, v128_load(up)));
                v128_store(cell.add(1), i32x4_add(run_dy, v128_load(up.add(1))));
            }
        }
    }

    #[cfg(not(any(
        target_arch = "x86_64",
        all(target_arch = "wasm32", target_feature = "simd128")
    )))]
    pub use portable::integral_row;

    /// The same in plain Rust: used where no SIMD version exists, and the tests' reference.
    #[cfg(any(
        test,
        not(any(
            target_arch = "x86_64",
            all(target_arch = "wasm32", target_feature = "simd128")
        ))
    ))]
    pub mod portable {
        pub fn integral_row(dx: &[i32], dy: &[i32], above: &[i32], out: &mut [i32]) {
            let (mut run_dx, mut run_dy) = ([0i32; 4], [0i32; 4]);
            let pixels = out.chunks_exact_mut(8).zip(above.chunks_exact(8));
            for (((cell, up), &x), &y) in pixels.zip(dx).zip(dy) {
                let (x_neg, y_neg) = (x >> 31, y >> 31);
                let by_dy = [!y_neg, !y_neg, y_neg, y_neg];
                let by_dx = [!x_neg, !x_neg, x_neg, x_neg];
                let (xs, ys) = ([x, x.abs(), x, x.abs()], [y, y.abs(), y, y.abs()]);
                for k in 0..4 {
                    run_dx[k] += xs[k] & by_dy[k];
                    run_dy[k] += ys[k] & by_dx[k];
                }
                for k in 0..4 {
                    cell[k] = run_dx[k] + up[k];
                    cell[k + 4] = run_dy[k] + up[k + 4];
                }
            }
        }
    }
}

/// Horizontal gradient of one row: central differences, doubled one-sided ones at the ends.
#[cfg_attr(target_arch = "wasm32", inline(never))] // see "Tier-up" in lib.rs
fn row_gradient(row: &[u8], dx: &mut [i32]) {
    let width = row.len();
    dx[0] = (i32::from(row[1]) - i32::from(row[0])) * 2;
    for ((d, &left), &right) in dx[1..width - 1].iter_mut().zip(row).zip(&row[2..]) {
        *d = i32::from(right) - i32::from(left);
    }
    dx[width - 1] = (i32::from(row[width - 1]) - i32::from(row[width - 2])) * 2;
}

impl SurfMlpFeatureMap {
    unsafe fn compute_feature_vector(&mut self, feature_id: usize, roi: Rectangle) {
        let feature = self.feature_pool.get_feature(feature_id);
        let feature_vec = self.feature_vectors[feature_id].as_mut_ptr();

        let init_cell_x = roi.x() + feature.patch.x();
        let init_cell_y = roi.y() + feature.patch.y();
        let k_num_int_channel = FeaturePool::K_NUM_INT_CHANNEL as isize;
        let cell_width: isize =
            (feature.patch.width() / feature.num_cell_per_row) as isize * k_num_int_channel;
        let cell_height: isize = (feature.patch.height() / feature.num_cell_per_col) as isize;
        let row_width: isize = (self.width as isize) * k_num_int_channel;

        let val = 0;
        let mut cell_top_left: Vec<*const i32> = vec![&val; k_num_int_channel as usize];
        let mut cell_top_right: Vec<*const i32> = vec![&val; k_num_int_channel as usize];
        let mut cell_bottom_left: Vec<*const i32> = vec![&val; k_num_int_channel as usize];
        let mut cell_bottom_right: Vec<*const i32> = vec![&val; k_num_int_channel as usize];

        let mut feature_value: *mut i32 = feature_vec;
        let int_img_ptr = self.int_img.as_ptr();
        let mut offset: isize;

        match (init_cell_x, init_cell_y) {
            (0, 0) => {
                offset = row_width * (cell_height - 1) + cell_width - k_num_int_channel;
                for i in 0..k_num_int_channel as usize {
                    cell_bottom_right[i] = int_img_ptr.offset(offset);
                    offset += 1;
                    *feature_value = *cell_bottom_right[i];
                    feature_value = feature_value.offset(1);
                    cell_top_right[i] = cell_bottom_right[i];
                }

                for _ in 1..feature.num_cell_per_row {
                    for j in 0..k_num_int_channel as usize {
                        cell_bottom_left[j] = cell_bottom_right[j];
                        cell_bottom_right[j] = cell_bottom_right[j].offset(cell_width);
                        *feature_value = *cell_bottom_right[j] - *cell_bottom_left[j];
                        feature_value = feature_value.offset(1);
                    }
                }
            }
            (_, 0) => {
                offset =
                    row_width * (cell_height - 1) + (init_cell_x - 1) as isize * k_num_int_channel;
                for i in 0..k_num_int_channel as usize {
                    cell_bottom_left[i] = int_img_ptr.offset(offset);
                    offset += 1;
                    cell_bottom_right[i] = cell_bottom_left[i].offset(cell_width);
                    *feature_value = *cell_bottom_right[i] - *cell_bottom_left[i];
                    feature_value = feature_value.offset(1);
                    cell_top_right[i] = cell_bottom_right[i];
                }

                for _ in 1..feature.num_cell_per_row {
                    for j in 0..k_num_int_channel as usize {
                        cell_bottom_left[j] = cell_bottom_right[j];
                        cell_bottom_right[j] = cell_bottom_right[j].offset(cell_width);
                        *feature_value = *cell_bottom_right[j] - *cell_bottom_left[j];
                        feature_value = feature_value.offset(1);
                    }
                }
            }
            (0, _) => {
                let mut tmp_cell_top_right: Vec<*const i32> =
                    vec![&val; k_num_int_channel as usize];

                offset = row_width * ((init_cell_y - 1) as isize) + cell_width - k_num_int_channel;
                for i in 0..k_num_int_channel as usize {
                    cell_top_right[i] = int_img_ptr.offset(offset);
                    offset += 1;
                    cell_bottom_right[i] = cell_top_right[i].offset(row_width * cell_height);
                    tmp_cell_top_right[i] = cell_bottom_right[i];
                    *feature_value = *cell_bottom_right[i] - *cell_top_right[i];
                    feature_value = feature_value.offset(1);
                }

                for _ in 1..feature.num_cell_per_row {
                    for j in 0..k_num_int_channel as usize {
                        cell_top_left[j] = cell_top_right[j];
                        cell_top_right[j] = cell_top_right[j].offset(cell_width);
                        cell_bottom_left[j] = cell_bottom_right[j];
                        cell_bottom_right[j] = cell_bottom_right[j].offset(cell_width);
                        *feature_value = *cell_bottom_right[j] + *cell_top_left[j]
                            - *cell_top_right[j]
                            - *cell_bottom_left[j];
                        feature_value = feature_value.offset(1);
                    }
                }

                cell_top_right[..k_num_int_channel as usize]
                    .clone_from_slice(&tmp_cell_top_right[..k_num_int_channel as usize]);
            }
            (_, _) => {
                let mut tmp_cell_top_right: Vec<*const i32> =
                    vec![&val; k_num_int_channel as usize];

                offset = row_width * ((init_cell_y - 1) as isize)
                    + (init_cell_x - 1) as isize * k_num_int_channel;
                for i in 0..k_num_int_channel as usize {
                    cell_top_left[i] = int_img_ptr.offset(offset);
                    offset += 1;
                    cell_top_right[i] = cell_top_left[i].offset(cell_width);
                    cell_bottom_left[i] = cell_top_left[i].offset(row_width * cell_height);
                    cell_bottom_right[i] = cell_bottom_left[i].offset(cell_width);
                    *feature_value = *cell_bottom_right[i] + *cell_top_left[i]
                        - *cell_top_right[i]
                        - *cell_bottom_left[i];
                    feature_value = feature_value.offset(1);
                    tmp_cell_top_right[i] = cell_bottom_right[i];
                }

                for _ in 1..feature.num_cell_per_row {
                    for j in 0..k_num_int_channel as usize {
                        cell_top_left[j] = cell_top_right[j];
                        cell_top_right[j] = cell_top_right[j].offset(cell_width);
                        cell_bottom_left[j] = cell_bottom_right[j];
                        cell_bottom_right[j] = cell_bottom_right[j].offset(cell_width);
                        *feature_value = *cell_bottom_right[j] + *cell_top_left[j]
                            - *cell_top_right[j]
                            - *cell_bottom_left[j];
                        feature_value = feature_value.offset(1);
                    }
                }

                cell_top_right[..k_num_int_channel as usize]
                    .clone_from_slice(&tmp_cell_top_right[..k_num_int_channel as usize]);
            }
        }

        offset = cell_height * row_width - feature.patch.width() as isize * k_num_int_channel
            + cell_width;
        for _ in 1..feature.num_cell_per_row {
            if init_cell_x == 0 {
                for j in 0..k_num_int_channel as usize {
                    cell_bottom_right[j] = cell_bottom_right[j].offset(offset);
                    *feature_value = *cell_bottom_right[j] - *cell_top_right[j];
                    feature_value = feature_value.offset(1);
                }
            } else {
                for j in 0..k_num_int_channel as usize {
                    cell_bottom_right[j] = cell_bottom_right[j].offset(offset);
                    cell_top_left[j] = cell_top_right[j].offset(-cell_width);
                    cell_bottom_left[j] = cell_bottom_right[j].offset(-cell_width);
                    *feature_value = *cell_bottom_right[j] + *cell_top_left[j]
                        - *cell_top_right[j]
                        - *cell_bottom_left[j];
                    feature_value = feature_value.offset(1);
                }
            }

            for _ in 1..feature.num_cell_per_row {
                for k in 0..k_num_int_channel as usize {
                    cell_top_left[k] = cell_top_right[k];
                    cell_top_right[k] = cell_top_right[k].offset(cell_width);
                    cell_bottom_left[k] = cell_bottom_right[k];
                    cell_bottom_right[k] = cell_bottom_right[k].offset(cell_width);
                    *feature_value = *cell_bottom_right[k] + *cell_top_left[k]
                        - *cell_bottom_left[k]
                        - *cell_top_right[k];
                    feature_value = feature_value.offset(1);
                }
            }

            for j in cell_top_right.iter_mut().take(k_num_int_channel as usize) {
                *j = j.offset(offset);
            }
        }
    }

    pub unsafe fn get_feature_vector(
        &mut self,
        feature_id: usize,
        feature_vec: *mut f32,
        roi: Rectangle,
    ) {
        self.compute_feature_vector(feature_id, roi);

        SurfMlpFeatureMap::normalize_feature_vector(
            &self.feature_vectors[feature_id],
            &mut self.feature_vectors_normalized[feature_id],
        );

        let feature_vec_normalized = self.feature_vectors_normalized[feature_id].as_ptr();
        let length = self.feature_vectors_normalized[feature_id].len();
        ptr::copy_nonoverlapping(feature_vec_normalized, feature_vec, length);
    }

    fn normalize_feature_vector(feature_vec: &[i32], feature_vec_normalized: &mut [f32]) {
        let prod: f64 = feature_vec
            .iter()
            .copied()
            .map(|value| f64::from(value * value))
            .sum();

        if prod != 0.0 {
            let norm = prod.sqrt() as f32;
            for (dst, src) in feature_vec_normalized.iter_mut().zip(feature_vec) {
                *dst = *src as f32 / norm;
            }
        } else {
            for dst in feature_vec_normalized {
                *dst = 0.0;
            }
        }
    }

    #[inline]
    pub fn get_feature_vector_dim(&self, feature_id: usize) -> usize {
        self.feature_pool.get_feature_vector_dim(feature_id)
    }
}

struct FeaturePool {
    sample_width: u32,
    sample_height: u32,
    patch_move_step_x: u32,
    patch_move_step_y: u32,
    patch_size_inc_step: u32,
    patch_min_width: u32,
    patch_min_height: u32,
    features: Vec<Feature>,
    patch_formats: Vec<PatchFormat>,
}

impl FeaturePool {
    const K_NUM_INT_CHANNEL: u32 = 8;

    #[inline]
    fn new() -> Self {
        FeaturePool {
            sample_width: 40,
            sample_height: 40,
            patch_move_step_x: 16,
            patch_move_step_y: 16,
            patch_size_inc_step: 1,
            patch_min_width: 16,
            patch_min_height: 16,
            features: Vec::new(),
            patch_formats: Vec::new(),
        }
    }

    fn add_patch_format(
        &mut self,
        width: u32,
        height: u32,
        num_cell_per_row: u32,
        num_cell_per_col: u32,
    ) {
        self.patch_formats.push(PatchFormat {
            width,
            height,
            num_cell_per_row,
            num_cell_per_col,
        });
    }

    fn create(&mut self) {
        let mut feature_vecs = Vec::new();

        if self.sample_height - self.patch_min_height <= self.sample_width - self.patch_min_width {
            for format in &self.patch_formats {
                for h in Seq::new(self.patch_min_height, |x| x + self.patch_size_inc_step)
                    .take_while(|x| *x <= self.sample_height)
                {
                    if h % format.num_cell_per_col != 0 || h % format.height != 0 {
                        continue;
                    }
                    let w = h / format.height * format.width;
                    if w % format.num_cell_per_row != 0
                        || w < self.patch_min_width
                        || w > self.sample_width
                    {
                        continue;
                    }
                    self.collect_features(
                        w,
                        h,
                        format.num_cell_per_row,
                        format.num_cell_per_col,
                        &mut feature_vecs,
                    );
                }
            }
        } else {
            for format in &self.patch_formats {
                // original condition was <= self.patch_min_width,
                // but it would not make sense to have a loop in such case
                for w in Seq::new(self.patch_min_width, |x| x + self.patch_size_inc_step)
                    .take_while(|x| *x <= self.sample_width)
                {
                    if w % format.num_cell_per_row != 0 || w % format.width != 0 {
                        continue;
                    }
                    let h = w / format.width * format.height;
                    if h % format.num_cell_per_col != 0
                        || h < self.patch_min_height
                        || h > self.sample_height
                    {
                        continue;
                    }
                    self.collect_features(
                        w,
                        h,
                        format.num_cell_per_row,
                        format.num_cell_per_col,
                        &mut feature_vecs,
                    );
                }
            }
        }

        self.features.append(&mut feature_vecs);
    }

    fn collect_features(
        &self,
        width: u32,
        height: u32,
        num_cell_per_row: u32,
        num_cell_per_col: u32,
        dest: &mut Vec<Feature>,
    ) {
        let y_lim = self.sample_height - height;
        let x_lim = self.sample_width - width;

        for y in Seq::new(0, |n| n + self.patch_move_step_y).take_while(|n| *n <= y_lim) {
            for x in Seq::new(0, |n| n + self.patch_move_step_x).take_while(|n| *n <= x_lim) {
                dest.push(Feature {
                    patch: Rectangle::new(x as i32, y as i32, width, height),
                    num_cell_per_row,
                    num_cell_per_col,
                });
            }
        }
    }

    #[inline]
    fn size(&self) -> usize {
        self.features.len()
    }

    #[inline]
    fn get_feature(&self, feature_id: usize) -> &Feature {
        &self.features[feature_id]
    }

    #[inline]
    fn get_feature_vector_dim(&self, feature_id: usize) -> usize {
        let feature = &self.features[feature_id];
        (feature.num_cell_per_col * feature.num_cell_per_row * FeaturePool::K_NUM_INT_CHANNEL)
            as usize
    }
}

struct PatchFormat {
    width: u32,
    height: u32,
    num_cell_per_row: u32,
    num_cell_per_col: u32,
}

struct Feature {
    patch: Rectangle,
    num_cell_per_row: u32,
    num_cell_per_col: u32,
}

#[cfg(test)]
mod tests {
    use super::lanes;
    use super::{FeatureMap, SurfMlpFeatureMap};
    use crate::common::ImageData;

    #[test]
    fn a_partial_integral_image_equals_the_full_one_where_it_is_filled() {
        let (w, h) = (40usize, 40usize);
        let pixels: Vec<u8> = (0..w * h)
            .map(|i| ((i * 7919 + i / w * 131) % 256) as u8)
            .collect();
        let image = ImageData::new(&pixels, w as u32, h as u32);
        let mut full = SurfMlpFeatureMap::new();
        full.compute(&image);
        for (columns, rows) in [(32, 40), (40, 24), (17, 3), (40, 40), (99, 99)] {
            let mut part = SurfMlpFeatureMap::new();
            part.compute_within(&image, (columns, rows));
            let (columns, rows) = ((columns as usize).min(w), (rows as usize).min(h));
            for r in 0..rows {
                let row = r * w * 8..;
                assert_eq!(
                    full.int_img[row.start..][..columns * 8],
                    part.int_img[row.start..][..columns * 8],
                    "row {r} of {columns} x {rows}"
                );
                // And nothing to the right of the extent was summed (fresh map: zeros).
                let rest = &part.int_img[row.start + columns * 8..][..(w - columns) * 8];
                assert!(rest.iter().all(|&v| v == 0), "row {r} past {columns}");
            }
        }
        // The detector's later stages read windows no further than this.
        let all: Vec<i32> = (1..=full.feature_pool.size() as i32).collect();
        assert_eq!(full.extent_of(&all), (40, 40));
        assert_eq!(full.extent_of(&[1]), (16, 16));
    }

    #[test]
    fn simd_integral_row_equals_the_portable_one() {
        // Gradients of both signs, zeros and the extremes of doubled u8 differences.
        let dx: Vec<i32> = (0..37).map(|i| (i * 97 % 1021) - 510).collect();
        let dy: Vec<i32> = (0..37)
            .map(|i| if i % 5 == 4 { 0 } else { 510 - (i * 61 % 1021) })
            .collect();
        let above: Vec<i32> = (0..37 * 8).map(|i| i * 13 - 900).collect();
        let (mut simd, mut portable) = (vec![0; 37 * 8], vec![0; 37 * 8]);
        lanes::integral_row(&dx, &dy, &above, &mut simd);
        lanes::portable::integral_row(&dx, &dy, &above, &mut portable);
        assert_eq!(simd, portable);
        // Spot check of the channel layout on the first pixel: dx < 0, dy > 0.
        let (x, y) = (dx[0], dy[0]);
        assert!(x < 0 && y > 0);
        let expected = [x, x.abs(), 0, 0, 0, 0, y, y.abs()];
        let first: Vec<i32> = (0..8).map(|k| portable[k] - above[k]).collect();
        assert_eq!(first, expected);
    }
}
