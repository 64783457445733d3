//! The inference form of a convolution (3×3 or 1×1) whose weights are stored in 8 bits (see
//! [`crate::quantize`]): those integer weights times the layer input rounded to 16-bit
//! integers, summed exactly in 32-bit integers, then scaled back to f32. The classifier's
//! large 3×3 convolutions and the detector's 1×1 ones run this way.
//!
//! Why: a 16-bit multiply-add instruction (`i32x4.dot_i16x8_s` in wasm, `vpmaddwd` on x86)
//! does twice the multiply-adds of an f32 vector multiply and add, so the products take
//! about half the time, in the browser and natively. The integer sums are the same on every
//! machine; only the input's rounding (at most half a step of 1/16 383 of its largest
//! magnitude) separates the result from the f32 convolution's.

use crate::ops::fused::larger;

/// Inputs are rounded to ±this many steps of their largest magnitude, or fewer in a layer so
/// wide that a sum of 8-bit weights (±127) times that many could overflow i32 (the
/// classifier's widest layer, 96 channels × 9 taps, gets all of them).
const INPUT_LEVELS: f32 = 16_383.0;
/// Fewer steps than this would cost accuracy: such a layer (over 7 000 channels) is refused.
const MIN_INPUT_LEVELS: f32 = 255.0;

/// An (out, in, side, side) convolution with stride 1 and "same" zero padding, `side` 1 or
/// 3, weights `q · scale[out]` with `q` in −127..=127, plus an optional bias per output.
pub struct IntegerConv {
    out_channels: usize,
    in_channels: usize,
    side: usize,
    /// Per output channel, the taps in pairs packed as one i32 (low half the even tap):
    /// the operand layout of the 16-bit multiply-add. An odd tap count is padded with 0.
    weight_pairs: Vec<i32>,
    scales: Vec<f32>,
    bias: Option<Vec<f32>>,
    /// Steps of the largest input magnitude (at most [`INPUT_LEVELS`]).
    input_levels: f32,
}

impl IntegerConv {
    /// `q`: (out, in, side, side) integer weights in −127..=127, row-major; `scales`: one
    /// per output channel; `side` 1 or 3.
    pub fn new(
        q: &[i8],
        scales: Vec<f32>,
        in_channels: usize,
        side: usize,
    ) -> Result<Self, String> {
        let out_channels = scales.len();
        let taps = in_channels * side * side;
        if side != 1 && side != 3 {
            return Err(format!(
                "integer convolution: {side}×{side} kernels are not supported"
            ));
        }
        if taps == 0 || q.len() != out_channels * taps || q.contains(&i8::MIN) {
            return Err(format!(
                "integer weights: {} values in −127..=127 expected for {out_channels} × {in_channels} × {side} × {side}",
                q.len()
            ));
        }
        let input_levels = INPUT_LEVELS.min((i32::MAX as usize / (127 * taps)) as f32);
        if input_levels < MIN_INPUT_LEVELS {
            return Err(format!("integer convolution: {taps} taps are too many"));
        }
        let pairs = taps.div_ceil(2);
        let mut weight_pairs = Vec::with_capacity(out_channels * pairs);
        for channel in q.chunks_exact(taps) {
            weight_pairs.extend((0..pairs).map(|p| {
                let low = channel[2 * p];
                let high = channel.get(2 * p + 1).copied().unwrap_or(0);
                pack(low.into(), high.into())
            }));
        }
        Ok(Self {
            out_channels,
            in_channels,
            side,
            weight_pairs,
            scales,
            bias: None,
            input_levels,
        })
    }

    /// The same convolution plus `bias[o]` on output channel `o` (the browser's detector;
    /// natively its 1×1 convolutions run in f32: `detect::yunet`).
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub fn with_bias(self, bias: Vec<f32>) -> Result<Self, String> {
        if bias.len() != self.out_channels {
            return Err(format!(
                "integer convolution: {} biases for {} output channels",
                bias.len(),
                self.out_channels
            ));
        }
        Ok(Self {
            bias: Some(bias),
            ..self
        })
    }

    pub fn out_channels(&self) -> usize {
        self.out_channels
    }

    /// `x`: (in, batch, h, w) f32, channel-major as the networks' layers run; result:
    /// (out, batch, h, w).
    pub fn forward(&self, x: &[f32], batch: usize, h: usize, w: usize) -> Vec<f32> {
        let pixels = batch * h * w;
        assert_eq!(
            x.len(),
            self.in_channels * pixels,
            "input does not fit the layer"
        );
        if pixels == 0 {
            return vec![];
        }
        // Channel by channel, each loop a call of its own (see "Tier-up" in docs/design.md):
        // the first photo in a browser gets optimised code after a few channels.
        let largest = x
            .chunks_exact(pixels)
            .map(largest_magnitude)
            .fold(0f32, f32::max);
        let bias = |o: usize| self.bias.as_ref().map_or(0.0, |b| b[o]);
        if largest == 0.0 || !largest.is_finite() {
            return (0..self.out_channels)
                .flat_map(|o| std::iter::repeat_n(bias(o), pixels))
                .collect();
        }
        let to_steps = self.input_levels / largest;
        // A 1×1 convolution's columns are the rounded input itself, with a row of zeros when
        // the channel count is odd (the last tap's partner in the 16-bit multiply-add).
        let rows = match self.side {
            1 => self.in_channels.next_multiple_of(2),
            _ => self.in_channels,
        };
        let mut steps = Vec::with_capacity(rows * pixels);
        for x in x.chunks_exact(pixels) {
            round_to_steps(x, to_steps, &mut steps);
        }
        let columns = if self.side == 1 {
            steps.resize(rows * pixels, 0);
            steps
        } else {
            columns(&steps, self.in_channels, batch, h, w)
        };
        let sums = products(&self.weight_pairs, &columns, self.out_channels, pixels);
        let step = largest / self.input_levels;
        // Scaled in place: the i32 sums' buffer becomes the f32 output's.
        let mut out: Vec<f32> = sums.into_iter().map(|s| s as f32).collect();
        for (o, (out, scale)) in out.chunks_exact_mut(pixels).zip(&self.scales).enumerate() {
            scale_sums(out, scale * step, bias(o));
        }
        out
    }
}

/// The largest |v| of `x` (0 for none), in eight lanes the compiler vectorises: a running
/// `f32::max` stays scalar in the browser (`ops::fused::larger`).
#[cfg_attr(target_arch = "wasm32", inline(never))]
fn largest_magnitude(x: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (m, v) in lanes.iter_mut().zip(chunk) {
            *m = larger(*m, v.abs());
        }
    }
    lanes
        .into_iter()
        .chain(rest.iter().map(|v| v.abs()))
        .fold(0.0, larger)
}

/// `x` in steps of `1 / to_steps`, which keeps every value within ±[`INPUT_LEVELS`].
#[cfg_attr(target_arch = "wasm32", inline(never))]
fn round_to_steps(x: &[f32], to_steps: f32, steps: &mut Vec<i16>) {
    // Adding and taking away 1.5 · 2²³ rounds any |v| < 2²² to the nearest integer (ties to
    // even) in plain vector adds, on every target; `round` is a call per value in the browser
    // and in a baseline x86-64 build, and a direct cast to i16 a scalar clamp.
    const ROUNDER: f32 = 12_582_912.0;
    steps.extend(
        x.iter()
            .map(|v| ((v * to_steps + ROUNDER) - ROUNDER) as i32 as i16),
    );
}

/// One output channel's integer sums (already as f32) times their unit, plus the bias.
#[cfg_attr(target_arch = "wasm32", inline(never))]
fn scale_sums(out: &mut [f32], unit: f32, bias: f32) {
    out.iter_mut().for_each(|o| *o = *o * unit + bias);
}

fn pack(low: i16, high: i16) -> i32 {
    (low as u16 as u32 | (high as u16 as u32) << 16) as i32
}

/// The im2col matrix of [`crate::ops`]'s convolution, in 16 bits, with a zero row appended
/// when the tap count is odd: (taps rounded up to even, batch·h·w).
fn columns(x: &[i16], channels: usize, batch: usize, h: usize, w: usize) -> Vec<i16> {
    let plane = batch * h * w;
    let taps = channels * 9;
    let mut cols = vec![0i16; taps.next_multiple_of(2) * plane];
    for (channel, src) in cols.chunks_exact_mut(9 * plane).zip(x.chunks_exact(plane)) {
        crate::ops::im2col::shifted_planes(channel, src, batch, h, w);
    }
    cols
}

/// `sums[o][n] = Σ_t weight[o][t] · columns[t][n]` with tap pairs packed as in
/// [`IntegerConv::weight_pairs`].
fn products(weight_pairs: &[i32], columns: &[i16], out_channels: usize, pixels: usize) -> Vec<i32> {
    let pairs = weight_pairs.len() / out_channels;
    assert_eq!(columns.len(), 2 * pairs * pixels);
    let mut sums = vec![0i32; out_channels * pixels];
    let operands = kernel::Operands {
        weight_pairs,
        columns,
        pairs,
        pixels,
    };
    kernel::products(operands, &mut sums);
    sums
}

mod kernel {
    /// Output channels and pixels done per block by the vector kernels: 12 accumulators,
    /// as many as the registers hold; each column vector is reused by six channels.
    pub const CHANNELS: usize = 6;
    #[cfg(target_arch = "x86_64")]
    pub const PIXELS: usize = 16;
    #[cfg(not(target_arch = "x86_64"))]
    pub const PIXELS: usize = 8;

    /// The two factors: per output channel its packed tap pairs, and the column matrix
    /// (2 · `pairs` rows of `pixels` values).
    #[derive(Clone, Copy)]
    pub struct Operands<'a> {
        pub weight_pairs: &'a [i32],
        pub columns: &'a [i16],
        pub pairs: usize,
        pub pixels: usize,
    }

    // Unchecked: the vector kernels call these in their innermost loop, where bounds checks
    // cost a fifth of the classification time in the browser (measured).
    impl Operands<'_> {
        /// Channel `o`'s packed weights for tap pair `p`.
        /// SAFETY: the caller keeps `o` below the channel count and `p` below `pairs`.
        unsafe fn weight_pair(&self, o: usize, p: usize) -> i32 {
            *self.weight_pairs.get_unchecked(o * self.pairs + p)
        }

        /// Where pixel `n` of column row `tap` is.
        /// SAFETY: the caller reads only values of that row.
        unsafe fn column(&self, tap: usize, n: usize) -> *const i16 {
            self.columns.as_ptr().add(tap * self.pixels + n)
        }
    }

    pub fn products(op: Operands, sums: &mut [i32]) {
        let out_channels = sums.len() / op.pixels;
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        let vectors = true;
        #[cfg(target_arch = "x86_64")]
        let vectors = is_x86_feature_detected!("avx2");
        #[cfg(not(any(
            target_arch = "x86_64",
            all(target_arch = "wasm32", target_feature = "simd128")
        )))]
        let vectors = false;
        let vector_pixels = if vectors {
            op.pixels / PIXELS * PIXELS
        } else {
            0
        };
        let full_channels = out_channels / CHANNELS * CHANNELS;
        // Pixel blocks outside: one block's columns (taps × PIXELS values) stay in the
        // first-level cache while every channel block uses them. Channels that fill no whole
        // block get one-channel blocks: left to the portable sums, the detector's 16-channel
        // layers took twice as long in the browser as in f32 (measured).
        for n in (0..vector_pixels).step_by(PIXELS) {
            for o in (0..full_channels).step_by(CHANNELS) {
                // SAFETY: channels o..o + CHANNELS and pixels n..n + PIXELS are inside the
                // operands (whole blocks), and AVX2 was detected on x86_64.
                unsafe { block::<CHANNELS>(op, sums, o, n) };
            }
            for o in full_channels..out_channels {
                // SAFETY: as above, for the one channel `o`.
                unsafe { block::<1>(op, sums, o, n) };
            }
        }
        // What the blocks did not cover: the last pixels of every channel.
        for o in 0..out_channels {
            for n in vector_pixels..op.pixels {
                sums[o * op.pixels + n] = portable_sum(op, o, n);
            }
        }
    }

    /// One output: the reference the vector kernels must equal.
    pub fn portable_sum(op: Operands, o: usize, n: usize) -> i32 {
        (0..op.pairs).fold(0i32, |sum, p| {
            let pair = op.weight_pairs[o * op.pairs + p];
            let (low, high) = (pair as i16, (pair >> 16) as i16);
            let (a, b) = (
                op.columns[2 * p * op.pixels + n],
                op.columns[(2 * p + 1) * op.pixels + n],
            );
            sum + i32::from(low) * i32::from(a) + i32::from(high) * i32::from(b)
        })
    }

    /// C output channels × eight pixels: each tap pair's two column rows are interleaved
    /// once and multiplied-added with each channel's packed weight pair.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(never)] // a call per block: see "Tier-up" in docs/design.md
    unsafe fn block<const C: usize>(op: Operands, sums: &mut [i32], o: usize, n: usize) {
        use std::arch::wasm32::*;
        let mut acc = [[i32x4_splat(0); 2]; C];
        for p in 0..op.pairs {
            let even = v128_load(op.column(2 * p, n) as *const v128);
            let odd = v128_load(op.column(2 * p + 1, n) as *const v128);
            let low = i16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(even, odd);
            let high = i16x8_shuffle::<4, 12, 5, 13, 6, 14, 7, 15>(even, odd);
            for (c, acc) in acc.iter_mut().enumerate() {
                let pair = i32x4_splat(op.weight_pair(o + c, p));
                acc[0] = i32x4_add(acc[0], i32x4_dot_i16x8(low, pair));
                acc[1] = i32x4_add(acc[1], i32x4_dot_i16x8(high, pair));
            }
        }
        for (c, acc) in acc.iter().enumerate() {
            let out = sums.as_mut_ptr().add((o + c) * op.pixels + n) as *mut v128;
            v128_store(out, acc[0]);
            v128_store(out.add(1), acc[1]);
        }
    }

    /// C output channels × sixteen pixels, as the wasm block with 8-lane vectors.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn block<const C: usize>(op: Operands, sums: &mut [i32], o: usize, n: usize) {
        use std::arch::x86_64::*;
        // Eight pixels × two taps, interleaved as `vpmaddwd` pairs them.
        let interleaved = |p: usize, n: usize| {
            let even = _mm_loadu_si128(op.column(2 * p, n) as *const __m128i);
            let odd = _mm_loadu_si128(op.column(2 * p + 1, n) as *const __m128i);
            _mm256_set_m128i(_mm_unpackhi_epi16(even, odd), _mm_unpacklo_epi16(even, odd))
        };
        let mut acc = [[_mm256_setzero_si256(); 2]; C];
        for p in 0..op.pairs {
            let (first, second) = (interleaved(p, n), interleaved(p, n + 8));
            for (c, acc) in acc.iter_mut().enumerate() {
                let pair = _mm256_set1_epi32(op.weight_pair(o + c, p));
                acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(first, pair));
                acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(second, pair));
            }
        }
        for (c, acc) in acc.iter().enumerate() {
            let out = sums.as_mut_ptr().add((o + c) * op.pixels + n) as *mut __m256i;
            _mm256_storeu_si256(out, acc[0]);
            _mm256_storeu_si256(out.add(1), acc[1]);
        }
    }

    #[cfg(not(any(
        target_arch = "x86_64",
        all(target_arch = "wasm32", target_feature = "simd128")
    )))]
    unsafe fn block<const C: usize>(_: Operands, _: &mut [i32], _: usize, _: usize) {
        unreachable!("no vector kernel on this target")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(len: usize, seed: u32, range: i32) -> impl Iterator<Item = i32> {
        let mut state = seed;
        (0..len).map(move |_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as i32 % (range + 1) * if state & 1 == 0 { 1 } else { -1 }
        })
    }

    #[test]
    fn the_integer_convolution_matches_the_f32_one_within_its_rounding() {
        // Odd tap counts (padded), and a layer wide enough to get fewer input steps.
        for (in_channels, side) in [(5, 3), (128, 3), (7, 1), (64, 1)] {
            compare_with_f32(in_channels, side);
        }
    }

    fn compare_with_f32(in_channels: usize, side: usize) {
        let (out_channels, batch, h, w) = (12, 2, 7, 9);
        let taps = in_channels * side * side;
        let levels: Vec<i8> = noise(out_channels * taps, 3, 127)
            .map(|v| v as i8)
            .collect();
        let scales: Vec<f32> = (0..out_channels).map(|o| 0.001 * (o + 1) as f32).collect();
        let weight: Vec<f32> = levels
            .chunks(taps)
            .zip(&scales)
            .flat_map(|(q, s)| q.iter().map(move |&v| f32::from(v) * s))
            .collect();
        let x: Vec<f32> = noise(in_channels * batch * h * w, 5, 1000)
            .map(|v| v as f32 / 250.0)
            .collect();
        let mut conv = IntegerConv::new(&levels, scales, in_channels, side).unwrap();
        // The f32 layer as the other paths run it: im2col and one GEMM, or the 1×1 product
        // with a bias.
        let bias: Vec<f32> = (0..out_channels).map(|o| o as f32 - 5.5).collect();
        let reference = if side == 3 {
            crate::ops::gemm::convolve(&x, &weight, in_channels, batch, h, w)
        } else {
            conv = conv.with_bias(bias.clone()).unwrap();
            crate::ops::gemm::pointwise(&x, &weight, &bias, batch * h * w)
        };
        let ours = conv.forward(&x, batch, h, w);
        // Each input moves by at most half a step (largest |x| / (2 · steps)); an output sums
        // one per tap times weights up to 127 · scale.
        let largest = x.iter().fold(0f32, |m, v| m.max(v.abs()));
        for (o, (a, b)) in ours
            .chunks(batch * h * w)
            .zip(reference.chunks(batch * h * w))
            .enumerate()
        {
            let steps = conv.input_levels;
            let bound =
                taps as f32 * 127.0 * 0.001 * (o + 1) as f32 * largest / (2.0 * steps) + 1e-4;
            for (a, b) in a.iter().zip(b) {
                assert!((a - b).abs() <= bound, "channel {o}: {a} vs {b}");
            }
        }
        assert!(
            ours.iter().any(|v| v.abs() > 1.0),
            "a trivial output proves nothing"
        );
        // An all-zero input gives the bias, not a division by zero.
        let zeros = conv.forward(&vec![0.0; x.len()], batch, h, w);
        for (o, plane) in zeros.chunks(batch * h * w).enumerate() {
            let expected = if side == 1 { bias[o] } else { 0.0 };
            assert!(plane.iter().all(|&v| v == expected));
        }
    }

    #[test]
    fn weights_that_do_not_fit_are_errors() {
        assert!(IntegerConv::new(&[1; 18], vec![1.0], 2, 3).is_ok());
        assert!(
            IntegerConv::new(&[1; 17], vec![1.0], 2, 3).is_err(),
            "too few values"
        );
        assert!(
            IntegerConv::new(&[i8::MIN; 9], vec![1.0], 1, 3).is_err(),
            "outside ±127"
        );
        assert!(
            IntegerConv::new(&[], vec![1.0], 0, 3).is_err(),
            "no input channels"
        );
        assert!(
            IntegerConv::new(&vec![1; 9 * 8000], vec![1.0], 8000, 3).is_err(),
            "too wide"
        );
        assert!(
            IntegerConv::new(&[1; 4], vec![1.0], 1, 2).is_err(),
            "a 2×2 kernel"
        );
        let conv = IntegerConv::new(&[1; 4], vec![1.0, 1.0], 2, 1).unwrap();
        assert!(
            conv.with_bias(vec![0.0]).is_err(),
            "a bias per output channel"
        );
    }

    #[test]
    fn vector_products_equal_the_portable_sums_at_the_extremes() {
        // Channel and pixel counts that leave partial blocks; an odd pair count; the largest
        // magnitudes (which a wrong lane order or overflow would show).
        for (out_channels, pairs, pixels) in [(8, 3, 16), (6, 5, 21), (12, 432, 64), (1, 1, 3)] {
            let w: Vec<i32> = noise(out_channels * pairs * 2, 7, 127)
                .collect::<Vec<_>>()
                .chunks(2)
                .map(|p| pack(p[0] as i16, p[1] as i16))
                .collect();
            let x: Vec<i16> = noise(2 * pairs * pixels, 11, INPUT_LEVELS as i32)
                .map(|v| v as i16)
                .collect();
            let sums = products(&w, &x, out_channels, pixels);
            for o in 0..out_channels {
                for n in 0..pixels {
                    let operands = kernel::Operands {
                        weight_pairs: &w,
                        columns: &x,
                        pairs,
                        pixels,
                    };
                    let expected = kernel::portable_sum(operands, o, n);
                    assert_eq!(
                        sums[o * pixels + n],
                        expected,
                        "{out_channels}×{pairs}×{pixels} at ({o}, {n})"
                    );
                }
            }
        }
        let worst = vec![pack(127, -127); 432];
        let x: Vec<i16> = (0..864)
            .map(|t| if t % 2 == 0 { 16_383 } else { -16_383 })
            .collect();
        assert_eq!(products(&worst, &x, 1, 1), vec![864 * 127 * 16_383]);
    }
}
