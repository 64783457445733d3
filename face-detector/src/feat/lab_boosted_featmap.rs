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

use crate::common::Rectangle;
use crate::feat::FeatureMap;

pub struct LabBoostedFeatureMap {
    width: u32,
    height: u32,
    length: usize,
    feat_map: Vec<u8>,
    rect_sum: Vec<i32>,
    int_img: Vec<i32>,
    square_int_img: Vec<u32>,
    rect_width: u32,
    rect_height: u32,
    num_rect: u32,
}

impl FeatureMap for LabBoostedFeatureMap {
    fn compute(&mut self, image: &ImageData) {
        let input = image.data();
        let width = image.width();
        let height = image.height();

        if width == 0 || height == 0 {
            panic!("Illegal arguments: width ({}), height ({})", width, height);
        }

        self.reshape(width, height);
        self.compute_integral_images(input);
        self.compute_rect_sum();
        self.compute_feature_map();
    }
}

impl LabBoostedFeatureMap {
    #[inline]
    pub fn new() -> Self {
        LabBoostedFeatureMap {
            width: 0,
            height: 0,
            length: 0,
            feat_map: Vec::new(),
            rect_sum: Vec::new(),
            int_img: Vec::new(),
            square_int_img: Vec::new(),
            rect_width: 3,
            rect_height: 3,
            num_rect: 3,
        }
    }

    /// The LAB code of every pixel, row by row (`width` per row).
    #[inline]
    pub fn codes(&self) -> &[u8] {
        &self.feat_map
    }

    #[inline]
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Standard deviation of the pixels in `roi`, from the integral images: each sum is
    /// I(bottom, right) - I(top - 1, right) - I(bottom, left - 1) + I(top - 1, left - 1),
    /// with I = 0 outside the image and wrapping arithmetic like the integrals'.
    pub fn get_std_dev(&self, roi: Rectangle) -> f64 {
        let width = self.width as i32;
        let at = |r: i32, c: i32| -> (i32, u32) {
            if r < 0 || c < 0 {
                (0, 0)
            } else {
                let i = (r * width + c) as usize;
                (self.int_img[i], self.square_int_img[i])
            }
        };
        let (left, top) = (roi.x() - 1, roi.y() - 1);
        let (right, bottom) = (left + roi.width() as i32, top + roi.height() as i32);
        let [br, tr, bl, tl] = [
            at(bottom, right),
            at(top, right),
            at(bottom, left),
            at(top, left),
        ];
        let sum =
            br.0.wrapping_sub(tr.0)
                .wrapping_sub(bl.0)
                .wrapping_add(tl.0);
        let sum_sq =
            br.1.wrapping_sub(tr.1)
                .wrapping_sub(bl.1)
                .wrapping_add(tl.1);

        let area = f64::from(roi.width() * roi.height());
        let mean = f64::from(sum) / area;
        let m2 = f64::from(sum_sq) / area;
        (m2 - mean * mean).sqrt()
    }

    fn reshape(&mut self, width: u32, height: u32) {
        self.width = width;
        self.height = height;
        self.length = width as usize * height as usize;

        self.feat_map.resize(self.length, 0);
        self.rect_sum.resize(self.length, 0);
        self.int_img.resize(self.length, 0);
        self.square_int_img.resize(self.length, 0);
    }

    /// Integral images of the pixels and of their squares (inclusive 2-D prefix sums), in
    /// one pass; the sums of squares wrap around like the original's u32 arithmetic.
    fn compute_integral_images(&mut self, input: &[u8]) {
        assert_eq!(input.len(), self.length);
        let width = self.width as usize;
        for (r, row) in input.chunks_exact(width).enumerate() {
            let (done, rest) = self.int_img.split_at_mut(r * width);
            let (done_sq, rest_sq) = self.square_int_img.split_at_mut(r * width);
            let above = (r > 0).then(|| (&done[(r - 1) * width..], &done_sq[(r - 1) * width..]));
            integral_rows(row, above, &mut rest[..width], &mut rest_sq[..width]);
        }
    }

    /// Sum of each `rect_width` x `rect_height` block, indexed by its top-left pixel:
    /// I(bottom, right) - I(top - 1, right) - I(bottom, left - 1) + I(top - 1, left - 1) with
    /// I = 0 outside the image. i32 arithmetic wraps as the original's did, so the
    /// different order of the terms gives the same values.
    fn compute_rect_sum(&mut self) {
        let width = self.width as usize;
        let (rect_w, rect_h) = (self.rect_width as usize, self.rect_height as usize);
        let columns = width - rect_w + 1;
        for r in 0..=(self.height as usize - rect_h) {
            let bottom = &self.int_img[(r + rect_h - 1) * width..][..width];
            let top = (r > 0).then(|| &self.int_img[(r - 1) * width..][..width]);
            let out = &mut self.rect_sum[r * width..][..columns];
            rect_sum_row(bottom, top, rect_w, out);
        }
    }

    /// LAB code of each 3x3 block of 3x3 cells: one bit per neighbour cell whose sum is at
    /// most the centre cell's. Written over whole rows so the compiler vectorises it.
    fn compute_feature_map(&mut self) {
        let width = self.width as usize;
        let (cell_w, cell_h) = (self.rect_width as usize, self.rect_height as usize);
        let columns = width - cell_w * self.num_rect as usize + 1;
        let rows = self.height as usize - cell_h * self.num_rect as usize + 1;
        for r in 0..rows {
            let cells = |row: usize| &self.rect_sum[row * width..][..columns + 2 * cell_w];
            let (top, middle, bottom) = (cells(r), cells(r + cell_h), cells(r + 2 * cell_h));
            lab_code_row(
                [top, middle, bottom],
                cell_w,
                &mut self.feat_map[r * width..][..columns],
            );
        }
    }
}

/// One row of both integral images: running sums along `row` plus the row above (if any).
#[cfg_attr(target_arch = "wasm32", inline(never))] // see "Tier-up" in lib.rs
fn integral_rows(row: &[u8], above: Option<(&[i32], &[u32])>, out: &mut [i32], out_sq: &mut [u32]) {
    let (mut sum, mut sum_sq) = (0i32, 0u32);
    for ((o, o_sq), &pixel) in out.iter_mut().zip(out_sq.iter_mut()).zip(row) {
        sum = sum.wrapping_add(i32::from(pixel));
        sum_sq = sum_sq.wrapping_add(u32::from(pixel) * u32::from(pixel));
        *o = sum;
        *o_sq = sum_sq;
    }
    if let Some((above, above_sq)) = above {
        for (o, &a) in out.iter_mut().zip(above) {
            *o = o.wrapping_add(a);
        }
        for (o, &a) in out_sq.iter_mut().zip(above_sq) {
            *o = o.wrapping_add(a);
        }
    }
}

/// One row of block sums from the integral rows at the block's `bottom` and above its `top`
/// (none for the first row).
#[cfg_attr(target_arch = "wasm32", inline(never))] // see "Tier-up" in lib.rs
fn rect_sum_row(bottom: &[i32], top: Option<&[i32]>, rect_w: usize, out: &mut [i32]) {
    out[0] = bottom[rect_w - 1];
    for ((o, &right), &left) in out[1..].iter_mut().zip(&bottom[rect_w..]).zip(bottom) {
        *o = right.wrapping_sub(left);
    }
    if let Some(top) = top {
        out[0] = out[0].wrapping_sub(top[rect_w - 1]);
        for ((o, &right), &left) in out[1..].iter_mut().zip(&top[rect_w..]).zip(top) {
            *o = o.wrapping_sub(right).wrapping_add(left);
        }
    }
}

/// One row of LAB codes from the block sums of the three cell rows.
#[cfg_attr(target_arch = "wasm32", inline(never))] // see "Tier-up" in lib.rs
fn lab_code_row([top, middle, bottom]: [&[i32]; 3], cell_w: usize, out: &mut [u8]) {
    for (c, code) in out.iter_mut().enumerate() {
        let centre = middle[c + cell_w];
        let bit = |neighbour: i32, mask: u8| if centre >= neighbour { mask } else { 0 };
        *code = bit(top[c], 0x80)
            | bit(top[c + cell_w], 0x40)
            | bit(top[c + 2 * cell_w], 0x20)
            | bit(middle[c + 2 * cell_w], 0x08)
            | bit(bottom[c + 2 * cell_w], 0x01)
            | bit(bottom[c + cell_w], 0x02)
            | bit(bottom[c], 0x04)
            | bit(middle[c], 0x10);
    }
}
