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

/// Dot product of two equally long vectors, the hot loop of the MLP stages.
///
/// Four 4-lane partial sums live in SIMD registers (SSE on x86_64, simd128 on wasm32); a
/// portable version adds in exactly the same order, so every target gives the same result.
pub fn vector_inner_product(left: &[f32], right: &[f32]) -> f32 {
    let len = left.len().min(right.len());
    let (left, right) = (&left[..len], &right[..len]);
    let body = len - len % 16;
    let mut acc = simd::partial_sums(&left[..body], &right[..body]);
    for (k, (l, r)) in left[body..].iter().zip(&right[body..]).enumerate() {
        acc[k / 4][k % 4] += l * r;
    }
    let mut sum = [0.0f32; 4];
    for (i, s) in sum.iter_mut().enumerate() {
        *s = (acc[0][i] + acc[2][i]) + (acc[1][i] + acc[3][i]);
    }
    (sum[0] + sum[2]) + (sum[1] + sum[3])
}

/// `acc[j][i]` = sum over 16-element chunks `c` of `left[c + 4j + i] * right[c + 4j + i]`.
/// Both slices have the same length, a multiple of 16.
mod simd {
    #[cfg(target_arch = "x86_64")]
    pub fn partial_sums(left: &[f32], right: &[f32]) -> [[f32; 4]; 4] {
        use std::arch::x86_64::*;
        debug_assert!(left.len() == right.len() && left.len().is_multiple_of(16));
        // SAFETY: SSE is part of the x86_64 baseline; every load reads 4 floats inside the
        // slices (indices c..c + 16 with c + 16 <= len).
        unsafe {
            let mut acc = [_mm_setzero_ps(); 4];
            for c in (0..left.len()).step_by(16) {
                for (j, a) in acc.iter_mut().enumerate() {
                    let l = _mm_loadu_ps(left.as_ptr().add(c + 4 * j));
                    let r = _mm_loadu_ps(right.as_ptr().add(c + 4 * j));
                    *a = _mm_add_ps(*a, _mm_mul_ps(l, r));
                }
            }
            acc.map(|a| std::mem::transmute::<__m128, [f32; 4]>(a))
        }
    }

    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    pub fn partial_sums(left: &[f32], right: &[f32]) -> [[f32; 4]; 4] {
        use std::arch::wasm32::*;
        debug_assert!(left.len() == right.len() && left.len().is_multiple_of(16));
        let mut acc = [f32x4_splat(0.0); 4];
        for (l, r) in left.chunks_exact(16).zip(right.chunks_exact(16)) {
            for (j, a) in acc.iter_mut().enumerate() {
                // SAFETY: each chunk holds 16 floats; unaligned loads are allowed in wasm.
                let (l, r) = unsafe {
                    (
                        v128_load(l.as_ptr().add(4 * j) as *const v128),
                        v128_load(r.as_ptr().add(4 * j) as *const v128),
                    )
                };
                *a = f32x4_add(*a, f32x4_mul(l, r));
            }
        }
        acc.map(|a| {
            [
                f32x4_extract_lane::<0>(a),
                f32x4_extract_lane::<1>(a),
                f32x4_extract_lane::<2>(a),
                f32x4_extract_lane::<3>(a),
            ]
        })
    }

    #[cfg(not(any(
        target_arch = "x86_64",
        all(target_arch = "wasm32", target_feature = "simd128")
    )))]
    pub use portable::partial_sums;

    /// The same in plain Rust: used where no SIMD version exists, and the tests' reference.
    #[cfg(any(
        test,
        not(any(
            target_arch = "x86_64",
            all(target_arch = "wasm32", target_feature = "simd128")
        ))
    ))]
    pub mod portable {
        pub fn partial_sums(left: &[f32], right: &[f32]) -> [[f32; 4]; 4] {
            let mut acc = [[0.0f32; 4]; 4];
            for (l, r) in left.chunks_exact(16).zip(right.chunks_exact(16)) {
                for (j, lanes) in acc.iter_mut().enumerate() {
                    for (i, lane) in lanes.iter_mut().enumerate() {
                        *lane += l[4 * j + i] * r[4 * j + i];
                    }
                }
            }
            acc
        }
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn test_vector_inner_product() {
        let vec = vec![1.0, 2.0, 3.0];
        let result = vector_inner_product(&vec, &vec);
        assert_eq!(14.0, result);
    }

    #[test]
    fn inner_product_matches_a_sequential_sum_at_every_length() {
        // Lengths around the 16-wide body and its tail, values of mixed sign and magnitude.
        for len in [0, 1, 15, 16, 17, 31, 32, 33, 100, 257] {
            let left: Vec<f32> = (0..len)
                .map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.37)
                .collect();
            let right: Vec<f32> = (0..len)
                .map(|i| ((i * 11 % 17) as f32 - 8.0) * 1.9)
                .collect();
            let exact: f64 = left
                .iter()
                .zip(&right)
                .map(|(&l, &r)| f64::from(l) * f64::from(r))
                .sum();
            let magnitude: f64 = left
                .iter()
                .zip(&right)
                .map(|(&l, &r)| f64::from((l * r).abs()))
                .sum();
            let got = f64::from(vector_inner_product(&left, &right));
            assert!(
                (got - exact).abs() <= 1e-5 * magnitude.max(1.0),
                "len {len}: {got} vs {exact}"
            );
        }
    }

    #[test]
    fn simd_partial_sums_equal_the_portable_ones_exactly() {
        let left: Vec<f32> = (0..64).map(|i| (i as f32 * 0.731).sin() * 3.0).collect();
        let right: Vec<f32> = (0..64).map(|i| (i as f32 * 1.37).cos() / 7.0).collect();
        assert_eq!(
            simd::partial_sums(&left, &right),
            simd::portable::partial_sums(&left, &right)
        );
    }
}
