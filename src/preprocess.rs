//! Face crop → network input. The only place that decides input size and normalisation.

use crate::model::INPUT_SIZE;
use candle_core::{Device, Result, Tensor};
use image::{imageops, RgbImage};

/// Resizes a face crop to the network's square input (aspect is not kept: training crops
/// and detector crops are squashed the same way).
pub fn resize_to_input(face: &RgbImage) -> RgbImage {
    let size = INPUT_SIZE as u32;
    if face.dimensions() == (size, size) {
        return face.clone();
    }
    imageops::resize(face, size, size, imageops::FilterType::Triangle)
}

/// Maps 8-bit channel values to the network's range [-1, 1].
#[inline]
pub fn normalise(value: u8) -> f32 {
    value as f32 / 127.5 - 1.0
}

/// Stacks INPUT_SIZE×INPUT_SIZE RGB faces into a (n, 3, INPUT_SIZE, INPUT_SIZE) tensor.
pub fn faces_to_tensor(faces: &[RgbImage], device: &Device) -> Result<Tensor> {
    let plane = INPUT_SIZE * INPUT_SIZE;
    let mut data = vec![0f32; faces.len() * 3 * plane];
    for (face, out) in faces.iter().zip(data.chunks_exact_mut(3 * plane)) {
        if face.dimensions() != (INPUT_SIZE as u32, INPUT_SIZE as u32) {
            candle_core::bail!(
                "face is {:?}, expected {INPUT_SIZE}×{INPUT_SIZE}",
                face.dimensions()
            );
        }
        for (i, pixel) in face.pixels().enumerate() {
            for c in 0..3 {
                out[c * plane + i] = normalise(pixel[c]);
            }
        }
    }
    Tensor::from_vec(data, (faces.len(), 3, INPUT_SIZE, INPUT_SIZE), device)
}

/// Shrinks `image` so that its longer side is at most `max_side`; returns the image used
/// and the factor from its coordinates back to the original's.
///
/// A photo at least twice too large is first averaged over k × k blocks (as Pillow's
/// `reduce` does before resampling), then resampled with the triangle filter: the filter's
/// cost grows with the source pixels, and on a 12-megapixel phone photo it alone took longer
/// than detecting and classifying all the faces (200 ms natively, measured).
pub fn fit_within(image: &RgbImage, max_side: u32) -> (std::borrow::Cow<'_, RgbImage>, f32) {
    let (w, h) = image.dimensions();
    let longer = w.max(h);
    if longer <= max_side {
        return (std::borrow::Cow::Borrowed(image), 1.0);
    }
    let scale = max_side as f32 / longer as f32;
    let (nw, nh) = (
        ((w as f32 * scale).round() as u32).max(1),
        ((h as f32 * scale).round() as u32).max(1),
    );
    let block = longer / max_side;
    let small = if block >= 2 {
        triangle_resize(&block_average(image, block), nw, nh)
    } else {
        triangle_resize(image, nw, nh)
    };
    (
        std::borrow::Cow::Owned(small),
        longer as f32 / max_side as f32,
    )
}

/// `imageops::resize` with `FilterType::Triangle`, the same arithmetic (vertical pass, then
/// horizontal, in f32) specialised to 8-bit RGB: the generic version converts every pixel to
/// a float RGBA pixel and back, and took 80 ms natively to shrink a 1344 × 917 photo.
pub fn triangle_resize(image: &RgbImage, width: u32, height: u32) -> RgbImage {
    let (w, h) = image.dimensions();
    let mut out = RgbImage::new(width, height);
    if w == 0 || h == 0 {
        return out;
    }
    let (rows, columns) = (triangle_taps(h, height), triangle_taps(w, width));
    let source_rows: Vec<&[u8]> = image.as_raw().chunks_exact(w as usize * 3).collect();
    let mut column = vec![0f32; w as usize * 3];
    for ((first, weights), out_row) in rows.iter().zip(out.chunks_exact_mut(width as usize * 3)) {
        column.fill(0.0);
        for (row, &weight) in source_rows[*first..].iter().zip(weights) {
            for (sum, &value) in column.iter_mut().zip(row.iter()) {
                *sum += weight * f32::from(value);
            }
        }
        for ((first, weights), pixel) in columns.iter().zip(out_row.chunks_exact_mut(3)) {
            let mut sum = [0f32; 3];
            for (source, &weight) in column[first * 3..].chunks_exact(3).zip(weights) {
                for c in 0..3 {
                    sum[c] += weight * source[c];
                }
            }
            for c in 0..3 {
                pixel[c] = sum[c].round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

/// For each of `target` pixels resampled from `source`: the first source pixel it reads and
/// the normalised triangle-filter weights of the ones from there on (as `imageops` computes
/// them: the filter widens by the shrinking ratio).
fn triangle_taps(source: u32, target: u32) -> Vec<(usize, Vec<f32>)> {
    let ratio = source as f32 / target as f32;
    let stretch = ratio.max(1.0);
    (0..target)
        .map(|out| {
            let centre = (out as f32 + 0.5) * ratio;
            let last = i64::from(source) - 1;
            let left = ((centre - stretch).floor() as i64).clamp(0, last);
            let right = ((centre + stretch).ceil() as i64).clamp(left + 1, last + 1);
            let mut weights: Vec<f32> = (left..right)
                .map(|i| (1.0 - ((i as f32 - (centre - 0.5)) / stretch).abs()).max(0.0))
                .collect();
            let sum: f32 = weights.iter().sum();
            if sum > 0.0 {
                weights.iter_mut().for_each(|w| *w /= sum);
            }
            (left as usize, weights)
        })
        .collect()
}

/// The mean of every `block` × `block` square of pixels (rounded); blocks cut by the right
/// or bottom edge average the pixels they have.
pub fn block_average(image: &RgbImage, block: u32) -> RgbImage {
    let (w, h) = image.dimensions();
    let k = block.max(1) as usize;
    let (ow, oh) = (w.div_ceil(block.max(1)), h.div_ceil(block.max(1)));
    let mut out = RgbImage::new(ow, oh);
    let mut sums = vec![0u32; ow as usize * 3];
    let source_rows = image
        .as_raw()
        .chunks_exact(w as usize * 3)
        .collect::<Vec<_>>();
    let out_rows = out.chunks_exact_mut(ow as usize * 3);
    for (rows, out_row) in source_rows.chunks(k).zip(out_rows) {
        sums.fill(0);
        for row in rows {
            for (sum, pixels) in sums.chunks_exact_mut(3).zip(row.chunks(3 * k)) {
                for pixel in pixels.chunks_exact(3) {
                    sum[0] += u32::from(pixel[0]);
                    sum[1] += u32::from(pixel[1]);
                    sum[2] += u32::from(pixel[2]);
                }
            }
        }
        let full_width = w as usize / k;
        for (x, (out, sum)) in out_row
            .chunks_exact_mut(3)
            .zip(sums.chunks_exact(3))
            .enumerate()
        {
            let columns = if x < full_width {
                k
            } else {
                w as usize - full_width * k
            };
            let count = (columns * rows.len()) as u32;
            for c in 0..3 {
                out[c] = ((sum[c] + count / 2) / count) as u8;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn block_average_takes_the_mean_of_whole_and_cut_blocks() {
        // 5 × 3 pixels in 2 × 2 blocks: two whole-width columns of blocks and a cut one,
        // a whole row of blocks and a cut one.
        let image = RgbImage::from_fn(5, 3, |x, y| Rgb([(10 * x + 100 * y) as u8, 7, 255]));
        let reduced = block_average(&image, 2);
        assert_eq!(reduced.dimensions(), (3, 2));
        // (0, 10, 100, 110) → 55; (20, 30, 120, 130) → 75; (40, 140) → 90; bottom row y = 2.
        let red: Vec<u8> = reduced.pixels().map(|p| p[0]).collect();
        assert_eq!(red, [55, 75, 90, 205, 225, 240]);
        assert!(reduced.pixels().all(|p| p[1] == 7 && p[2] == 255));
        // Rounds to nearest: (0 + 1) / 2 = 0.5 → 1.
        let halves = RgbImage::from_fn(2, 1, |x, _| Rgb([x as u8, 0, 0]));
        assert_eq!(block_average(&halves, 2).get_pixel(0, 0)[0], 1);
    }

    #[test]
    fn triangle_resize_equals_the_generic_triangle_filter() {
        // Noise (the hardest case for rounding) and an upscale along one side.
        let mut state = 12345u32;
        let noise = RgbImage::from_fn(301, 211, |_, _| {
            let mut next = || {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 24) as u8
            };
            Rgb([next(), next(), next()])
        });
        for (w, h) in [(100, 70), (150, 300), (301, 1), (7, 5)] {
            let ours = triangle_resize(&noise, w, h);
            let generic = imageops::resize(&noise, w, h, imageops::FilterType::Triangle);
            let worst = ours
                .as_raw()
                .iter()
                .zip(generic.as_raw())
                .map(|(a, b)| a.abs_diff(*b))
                .max();
            // Float sums in another order may round a value the other way: at most 1 level.
            assert!(worst <= Some(1), "{w}×{h}: differs by {worst:?}");
        }
    }

    #[test]
    fn large_photos_shrink_like_the_plain_triangle_filter() {
        // A smooth pattern with detail at several scales, 3.3 × the working size.
        let (w, h) = (1650, 1100);
        let image = RgbImage::from_fn(w, h, |x, y| {
            let (fx, fy) = (x as f32, y as f32);
            let v = |f: f32| (127.5 + 127.0 * f.sin()) as u8;
            Rgb([v(fx / 37.0), v(fy / 23.0 + fx / 91.0), v((fx + fy) / 151.0)])
        });
        let (fast, scale) = fit_within(&image, 500);
        let plain = imageops::resize(&image, 500, 333, imageops::FilterType::Triangle);
        assert_eq!(fast.dimensions(), plain.dimensions());
        assert_eq!(scale, 3.3);
        let differences: Vec<u32> = fast
            .as_raw()
            .iter()
            .zip(plain.as_raw())
            .map(|(&a, &b)| u32::from(a.abs_diff(b)))
            .collect();
        let mean = differences.iter().sum::<u32>() as f32 / differences.len() as f32;
        // Measured: mean 0.81, largest 7 levels (of 255).
        assert!(mean < 1.0, "mean difference {mean}");
        assert!(
            differences.iter().all(|&d| d <= 8),
            "max {:?}",
            differences.iter().max()
        );
    }
}
