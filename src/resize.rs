//! Photos shrunk and resampled: to the detector's working size, for its pass over larger
//! faces, and for a face's crop — one resampling everywhere.

#[cfg(test)]
use image::imageops;
use image::RgbImage;

/// Shrinks `image` so that its longer side is at most `max_side`; returns the image used
/// and the factor from its coordinates back to the original's.
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
    (
        std::borrow::Cow::Owned(triangle_resize(image, nw, nh)),
        longer as f32 / max_side as f32,
    )
}

/// `imageops::resize` with `FilterType::Triangle`, the same arithmetic (vertical pass, then
/// horizontal, in f32) specialised to 8-bit RGB: the generic version converts every pixel to
/// a float RGBA pixel and back, and shrinking a 12-megapixel phone photo to the working size
/// took it 200 ms natively, longer than detecting and classifying its 24 faces (this: 42 ms).
pub fn triangle_resize(image: &RgbImage, width: u32, height: u32) -> RgbImage {
    let (w, h) = image.dimensions();
    let mut out = RgbImage::new(width, height);
    if w == 0 || h == 0 || width == 0 || height == 0 {
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

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

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
        assert_eq!(triangle_resize(&noise, 0, 5).dimensions(), (0, 5));
    }
}
