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

use crate::ImageData;

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

    pub fn get_std_dev(&self, roi: Rectangle) -> f64 {
        let roi_width = roi.width() as i32;
        let roi_height = roi.height() as i32;
        let roi_x = roi.x();
        let roi_y = roi.y();
        let self_width = self.width as i32;

        let mean;
        let m2;
        let area = f64::from(roi_width * roi_height);

        match (roi_x, roi_y) {
            (0, 0) => {
                let bottom_right = (roi_height - 1) * self_width + roi_width - 1;
                mean = f64::from(self.int_img[bottom_right as usize]) / area;
                m2 = f64::from(self.square_int_img[bottom_right as usize]) / area;
            }
            (0, _) => {
                let top_right = (roi_y - 1) * self_width + roi_width - 1;
                let bottom_right = top_right + roi_height * self_width;
                mean = f64::from(
                    self.int_img[bottom_right as usize] - self.int_img[top_right as usize],
                ) / area;
                m2 = f64::from(
                    self.square_int_img[bottom_right as usize]
                        - self.square_int_img[top_right as usize],
                ) / area;
            }
            (_, 0) => {
                let bottom_left = (roi_height - 1) * self_width + roi_x - 1;
                let bottom_right = bottom_left + roi_width;
                mean = f64::from(
                    self.int_img[bottom_right as usize] - self.int_img[bottom_left as usize],
                ) / area;
                m2 = f64::from(
                    self.square_int_img[bottom_right as usize]
                        - self.square_int_img[bottom_left as usize],
                ) / area;
            }
            (_, _) => {
                let top_left = (roi_y - 1) * self_width + roi_x - 1;
                let top_right = top_left + roi_width;
                let bottom_left = top_left + roi_height * self_width;
                let bottom_right = bottom_left + roi_width;
                mean = f64::from(
                    self.int_img[bottom_right as usize] - self.int_img[bottom_left as usize]
                        + self.int_img[top_left as usize]
                        - self.int_img[top_right as usize],
                ) / area;
                m2 = f64::from(
                    self.square_int_img[bottom_right as usize]
                        .wrapping_sub(self.square_int_img[bottom_left as usize])
                        .wrapping_add(self.square_int_img[top_left as usize])
                        .wrapping_sub(self.square_int_img[top_right as usize]),
                ) / area;
            }
        }

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
            let (out, out_sq) = (&mut rest[..width], &mut rest_sq[..width]);
            let (mut sum, mut sum_sq) = (0i32, 0u32);
            for ((o, o_sq), &pixel) in out.iter_mut().zip(out_sq.iter_mut()).zip(row) {
                sum = sum.wrapping_add(i32::from(pixel));
                sum_sq = sum_sq.wrapping_add(u32::from(pixel) * u32::from(pixel));
                *o = sum;
                *o_sq = sum_sq;
            }
            if r > 0 {
                let (above, above_sq) = (&done[(r - 1) * width..], &done_sq[(r - 1) * width..]);
                for (o, &a) in out.iter_mut().zip(above) {
                    *o = o.wrapping_add(a);
                }
                for (o, &a) in out_sq.iter_mut().zip(above_sq) {
                    *o = o.wrapping_add(a);
                }
            }
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
            let out = &mut self.rect_sum[r * width..][..columns];
            out[0] = bottom[rect_w - 1];
            for ((o, &right), &left) in out[1..].iter_mut().zip(&bottom[rect_w..]).zip(bottom) {
                *o = right.wrapping_sub(left);
            }
            if r > 0 {
                let top = &self.int_img[(r - 1) * width..][..width];
                out[0] = out[0].wrapping_sub(top[rect_w - 1]);
                for ((o, &right), &left) in out[1..].iter_mut().zip(&top[rect_w..]).zip(top) {
                    *o = o.wrapping_sub(right).wrapping_add(left);
                }
            }
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
            let top = &self.rect_sum[r * width..][..columns + 2 * cell_w];
            let middle = &self.rect_sum[(r + cell_h) * width..][..columns + 2 * cell_w];
            let bottom = &self.rect_sum[(r + 2 * cell_h) * width..][..columns + 2 * cell_w];
            let out = &mut self.feat_map[r * width..][..columns];
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
    }
}
