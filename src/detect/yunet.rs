//! The face detector's network, YuNet-s (libfacedetection's 2023 model): its shape, its
//! weights as stored in `models/yunet.safetensors`, and its forward pass on our kernels.
//!
//! A 3×3 stride-2 convolution, then blocks of a 1×1 convolution followed by a 3×3
//! depthwise convolution and ReLU, with 2×2 max-pools between the stages; the features at
//! strides 8, 16 and 32 are merged top-down (nearest upsampling, added) and each feeds one
//! head: a 1×1 then a 3×3 depthwise convolution to 16 maps per cell (class, objectness, box,
//! five landmarks). Input: BGR planes in 0–255, sides a multiple of 32.

use crate::ops::depthwise::{add_upsampled2, depthwise3x3, max_pool2, max_pool2_rows, relu};
use crate::ops::gemm::pointwise;
use crate::ops::im2col::strided_columns;
#[cfg(target_arch = "wasm32")]
use crate::ops::int_conv::IntegerConv;
use crate::weights::floats_of_shape;
#[cfg(target_arch = "wasm32")]
use crate::weights::integer_convolution;
use safetensors::SafeTensors;

/// Channels of the first convolution's output.
pub const STEM_CHANNELS: usize = 16;
/// (input, output) channels of each block in the order they run: one after the stem, four at
/// stride 4, two each at strides 8, 16 and 32, then the top-down merge's three (at strides
/// 32, 16, 8).
pub const BLOCKS: [(usize, usize); 14] = [
    (16, 16),
    (16, 16),
    (16, 32),
    (32, 32),
    (32, 64),
    (64, 64),
    (64, 64),
    (64, 64),
    (64, 64),
    (64, 64),
    (64, 64),
    (64, 64),
    (64, 64),
    (64, 64),
];
/// The strides of the three heads, finest first.
pub const STRIDES: [usize; 3] = [8, 16, 32];
/// Maps each head gives per cell, in this order: class, objectness, box (4), landmarks (10).
pub const HEAD_MAPS: usize = 16;
/// Rows of the stride-2 stage computed at once (even; any count gives the same maps): each
/// band costs two rows more of it (6 % at 32), and 32 keeps its columns under 2 MB for a
/// 1 024-px photo.
const BAND: usize = 32;
/// The input's sides must be multiples of this (the coarsest stride).
pub const SIDE_MULTIPLE: usize = 32;

/// The tensor names of the stored weights (see `genderlens import-detector`).
pub fn block_name(i: usize) -> String {
    format!("block{i}")
}
pub fn head_name(stride: usize) -> String {
    format!("head{stride}")
}

/// A 1×1 convolution (no activation) followed by a 3×3 depthwise one.
struct Block {
    pointwise: Pointwise,
    /// (out, 9).
    depthwise: Vec<f32>,
    depthwise_bias: Vec<f32>,
}

impl Block {
    fn read(file: &SafeTensors, name: &str, (cin, cout): (usize, usize)) -> Result<Self, String> {
        let read =
            |part: &str, shape: &[usize]| floats_of_shape(file, &format!("{name}.{part}"), shape);
        Ok(Self {
            pointwise: Pointwise::read(file, name, (cin, cout))?,
            depthwise: read("depthwise.weight", &[cout, 3, 3])?,
            depthwise_bias: read("depthwise.bias", &[cout])?,
        })
    }

    /// `x`: (in, h, w) → (out, h, w).
    fn forward(&self, x: &[f32], (h, w): (usize, usize), relu: bool) -> Vec<f32> {
        let mut mixed = self.pointwise.forward(x, h * w);
        depthwise3x3(
            &mut mixed,
            &self.depthwise,
            &self.depthwise_bias,
            (h, w),
            relu,
        );
        mixed
    }
}

/// A block's 1×1 convolution with its bias, from its 8-bit weights. In the browser it runs
/// in integers ([`IntegerConv`]), whose 16-bit multiply-adds do twice the work of wasm's
/// f32 multiply and add: pages 11–15 % faster. Natively it runs in f32 through the `gemm`
/// crate's AVX-512 kernels, where the integer kernel (AVX2) made detection 1.35× slower
/// (docs/performance.md).
#[cfg(target_arch = "wasm32")]
struct Pointwise(IntegerConv);
#[cfg(not(target_arch = "wasm32"))]
struct Pointwise {
    /// (out, in) row-major.
    weight: Vec<f32>,
    bias: Vec<f32>,
}

impl Pointwise {
    #[cfg(target_arch = "wasm32")]
    fn read(file: &SafeTensors, block: &str, (cin, cout): (usize, usize)) -> Result<Self, String> {
        let name = format!("{block}.pointwise.weight");
        let conv = integer_convolution(file, &name, cin, 1)?.ok_or_else(|| {
            format!("`{name}` must be stored in 8 bits, as import-detector writes it")
        })?;
        if conv.out_channels() != cout {
            return Err(format!(
                "tensor `{name}`: {} output channels, the network needs {cout}",
                conv.out_channels()
            ));
        }
        let bias = floats_of_shape(file, &format!("{block}.pointwise.bias"), &[cout])?;
        conv.with_bias(bias).map(Self)
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn read(file: &SafeTensors, block: &str, (cin, cout): (usize, usize)) -> Result<Self, String> {
        let read = |part: &str, shape: &[usize]| {
            floats_of_shape(file, &format!("{block}.pointwise.{part}"), shape)
        };
        Ok(Self {
            weight: read("weight", &[cout, cin])?,
            bias: read("bias", &[cout])?,
        })
    }

    /// `x`: (in, pixels) → (out, pixels).
    #[cfg(target_arch = "wasm32")]
    fn forward(&self, x: &[f32], pixels: usize) -> Vec<f32> {
        self.0.forward(x, 1, 1, pixels)
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn forward(&self, x: &[f32], pixels: usize) -> Vec<f32> {
        pointwise(x, &self.weight, &self.bias, pixels)
    }
}

pub(crate) struct YuNet {
    /// (16, 3 · 9) row-major: the stem's 3×3 kernels over the B, G, R planes.
    stem: Vec<f32>,
    stem_bias: Vec<f32>,
    blocks: Vec<Block>,
    /// Finest stride first, as [`STRIDES`].
    heads: Vec<Block>,
}

/// One head's output: [`HEAD_MAPS`] planes of `rows × cols` cells.
pub(crate) struct HeadMaps {
    pub stride: usize,
    pub rows: usize,
    pub cols: usize,
    pub maps: Vec<f32>,
}

impl HeadMaps {
    /// Map `m` at cell (`row`, `col`).
    pub fn at(&self, m: usize, row: usize, col: usize) -> f32 {
        self.maps[(m * self.rows + row) * self.cols + col]
    }
}

impl YuNet {
    pub fn from_tensors(file: &SafeTensors) -> Result<Self, String> {
        let blocks = BLOCKS
            .iter()
            .enumerate()
            .map(|(i, &shape)| Block::read(file, &block_name(i), shape))
            .collect::<Result<_, _>>()?;
        let heads = STRIDES
            .iter()
            .map(|&s| Block::read(file, &head_name(s), (64, HEAD_MAPS)))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            stem: floats_of_shape(file, "stem.weight", &[STEM_CHANNELS, 3, 3, 3])?,
            stem_bias: floats_of_shape(file, "stem.bias", &[STEM_CHANNELS])?,
            blocks,
            heads,
        })
    }

    /// The heads' maps for `bgr` (3, h, w) planes, finest stride first; `h` and `w` are
    /// non-zero multiples of [`SIDE_MULTIPLE`].
    pub fn forward(&self, bgr: Vec<f32>, (h, w): (usize, usize)) -> [HeadMaps; 3] {
        assert!(
            h > 0 && w > 0 && h % SIDE_MULTIPLE == 0 && w % SIDE_MULTIPLE == 0,
            "YuNet input {w} × {h}: sides must be multiples of {SIDE_MULTIPLE}"
        );
        let b = &self.blocks;
        let size = |stride: usize| (h / stride, w / stride);
        let mut x = self.stride2_stage(&bgr, (h, w));
        // The largest map left: gone before the next stage's.
        drop(bgr);
        for block in &b[1..5] {
            x = block.forward(&x, size(4), true);
        }
        x = max_pool2(&x, size(4));
        let stage = |x: &[f32], blocks: &[Block], stride: usize| {
            let x = blocks[0].forward(x, size(stride), true);
            blocks[1].forward(&x, size(stride), true)
        };
        let mut p8 = stage(&x, &b[5..7], 8);
        let mut p16 = stage(&max_pool2(&p8, size(8)), &b[7..9], 16);
        let p32 = stage(&max_pool2(&p16, size(16)), &b[9..11], 32);
        // Top-down: each level adds the coarser level's output, upsampled.
        let n32 = b[11].forward(&p32, size(32), true);
        add_upsampled2(&mut p16, &n32, size(32));
        let n16 = b[12].forward(&p16, size(16), true);
        add_upsampled2(&mut p8, &n16, size(16));
        let n8 = b[13].forward(&p8, size(8), true);
        let head = |i: usize, features: &[f32]| {
            let stride = STRIDES[i];
            let (rows, cols) = size(stride);
            HeadMaps {
                stride,
                rows,
                cols,
                maps: self.heads[i].forward(features, (rows, cols), false),
            }
        };
        [head(0, &n8), head(1, &n16), head(2, &n32)]
    }

    /// The stride-2 stage (the stem, 3×3 with stride 2 and ReLU; block 0; the 2×2 max-pool)
    /// over (3, h, w) planes, [`BAND`] of its rows at a time, each with a row either side
    /// for block 0's depthwise 3×3: of its maps only the pooled one is ever whole. For a
    /// 1 024 × 768 photo the stem's columns would be 21 MB and each full map 12.6 MB.
    fn stride2_stage(&self, bgr: &[f32], (h, w): (usize, usize)) -> Vec<f32> {
        let (oh, ow) = (h / 2, w / 2);
        let channels = BLOCKS[0].1;
        let pooled = (oh / 2) * (ow / 2);
        let mut out = vec![0f32; channels * pooled];
        for start in (0..oh).step_by(BAND) {
            let end = (start + BAND).min(oh);
            // The band and its neighbouring rows (the image's edges are zero padding).
            let (low, high) = (start.saturating_sub(1), (end + 1).min(oh));
            let columns = strided_columns(bgr, 3, (h, w), low..high);
            let mut x = pointwise(&columns, &self.stem, &self.stem_bias, (high - low) * ow);
            relu(&mut x);
            let x = self.blocks[0].forward(&x, (high - low, ow), true);
            let band = max_pool2_rows(&x, (high - low, ow), start - low..end - low);
            let n = band.len() / channels;
            for (plane, part) in out.chunks_exact_mut(pooled).zip(band.chunks_exact(n)) {
                plane[start / 2 * (ow / 2)..][..n].copy_from_slice(part);
            }
        }
        out
    }
}
