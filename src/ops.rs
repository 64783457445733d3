//! Hand-written CPU kernels for the layers whose generic candle implementations dominate
//! training time: the 3×3 "same" convolution, batch norm + ReLU and 2×2 max-pooling, each
//! with an exact backward pass. `conv3x3` turns a whole layer into one GEMM over an im2col
//! matrix, so that forward and both gradients run at matrix-multiply speed.

use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, Storage, Tensor,
};

/// Runs `f(output_chunk, input_chunk, index)` over matching chunks of two buffers and
/// collects its results in order: in parallel on native builds (the trainer),
/// sequentially in the browser.
fn zip_chunks<R, F>(
    out: &mut [f32],
    out_chunk: usize,
    input: &[f32],
    in_chunk: usize,
    f: F,
) -> Vec<R>
where
    R: Send,
    F: Fn(&mut [f32], &[f32], usize) -> R + Send + Sync,
{
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        out.par_chunks_mut(out_chunk)
            .zip(input.par_chunks(in_chunk))
            .enumerate()
            .map(|(i, (o, x))| f(o, x, i))
            .collect()
    }
    #[cfg(not(feature = "parallel"))]
    out.chunks_mut(out_chunk)
        .zip(input.chunks(in_chunk))
        .enumerate()
        .map(|(i, (o, x))| f(o, x, i))
        .collect()
}

fn contiguous_f32<'a>(storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [f32]> {
    let data = match storage {
        CpuStorage::F32(data) => data,
        _ => candle_core::bail!("expected f32 storage"),
    };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("expected a contiguous tensor"),
    }
}

/// A read-only f32 matrix inside a slice: `at(r, c) = data[r·row_stride + c·col_stride]`.
#[derive(Clone, Copy)]
struct Matrix<'a> {
    data: &'a [f32],
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Matrix<'a> {
    /// A row-major (rows × cols) matrix.
    fn rows(data: &'a [f32], cols: usize) -> Self {
        Self {
            data,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose of a row-major (cols × rows) matrix: no copy, only strides.
    fn transposed(data: &'a [f32], rows: usize) -> Self {
        Self {
            data,
            row_stride: 1,
            col_stride: rows,
        }
    }
}

/// Whether a (rows × cols) matrix with these strides lies inside `len` elements.
fn fits(len: usize, rows: usize, cols: usize, row_stride: usize, col_stride: usize) -> bool {
    rows == 0 || cols == 0 || (rows - 1) * row_stride + (cols - 1) * col_stride < len
}

/// `dst = lhs · rhs` for an (m × k) by (k × n) product; `dst` is row-major (m × n) when
/// `dst_transposed` is false, else column-major (its transpose is row-major).
///
/// This is the GEMM candle's matmul runs, called directly: the convolution picks the operand
/// order the kernel is fastest at (the microkernel vectorises along `m`, so `m` should be the
/// long pixel dimension: 3–4× faster for the input-gradient product of the early layers,
/// measured), and the product is written straight into the op's output buffer.
fn gemm_into(
    dst: &mut [f32],
    dst_transposed: bool,
    lhs: Matrix,
    rhs: Matrix,
    (m, n, k): (usize, usize, usize),
) {
    let (dst_rs, dst_cs) = if dst_transposed { (1, m) } else { (n, 1) };
    assert!(
        dst.len() == m * n
            && fits(lhs.data.len(), m, k, lhs.row_stride, lhs.col_stride)
            && fits(rhs.data.len(), k, n, rhs.row_stride, rhs.col_stride),
        "gemm_into: operands do not match ({m} × {k}) · ({k} × {n})"
    );
    #[cfg(feature = "parallel")]
    let parallelism = gemm::Parallelism::Rayon(rayon::current_num_threads());
    #[cfg(not(feature = "parallel"))]
    let parallelism = gemm::Parallelism::None;
    // SAFETY: the assertion above keeps every element the kernel reads or writes (indices
    // up to (rows−1)·row_stride + (cols−1)·col_stride) inside its slice; `dst` is borrowed
    // mutably, so it aliases neither operand.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            dst_cs as isize,
            dst_rs as isize,
            false,
            lhs.data.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        )
    }
}

/// Index ranges of one patch row within ONE channel: (source row start in the input
/// channel, destination row start in that channel's nine column rows, dx: 0 reads x-1,
/// 1 reads x, 2 reads x+1).
fn patch_rows(batch: usize, h: usize, w: usize) -> impl Iterator<Item = (usize, usize, usize)> {
    let plane = h * w;
    (0..9usize).flat_map(move |k| {
        let (dy, dx) = (k / 3, k % 3);
        (0..batch).flat_map(move |b| {
            // Output rows y whose source row y + dy - 1 lies inside the image.
            (usize::from(dy == 0)..(h + 1 - dy).min(h)).map(move |y| {
                let src = b * plane + (y + dy - 1) * w;
                let dst = k * batch * plane + b * plane + y * w;
                (src, dst, dx)
            })
        })
    })
}

/// Patch extraction for a 3×3 "same" convolution in channel-major layout:
/// (c, batch, h, w) → (c·9, batch·h·w). Row `c·9 + ky·3 + kx` holds, for every pixel of
/// every image, its (ky-1, kx-1) neighbour (zero outside the image), so it matches a
/// (out, c, 3, 3) weight and the whole layer is ONE matrix product.
fn im2col(src: &[f32], channels: usize, batch: usize, h: usize, w: usize) -> Vec<f32> {
    let plane = h * w;
    // Every element is written below, zeros included, so a recycled buffer will do.
    let mut cols = scratch::take(channels * 9 * batch * plane);
    zip_chunks(
        &mut cols,
        9 * batch * plane,
        src,
        batch * plane,
        |cols, src, _| shifted_planes(cols, src, batch, h, w),
    );
    cols
}

/// One channel of [`im2col`]: its nine column rows `cols` (9 · batch · h · w values) from
/// the channel `src` (batch · h · w), for any element type (the integer convolution in
/// [`crate::int_conv`] uses 16-bit columns).
pub(crate) fn shifted_planes<T: Copy + Default>(
    cols: &mut [T],
    src: &[T],
    batch: usize,
    h: usize,
    w: usize,
) {
    let plane = h * w;
    let zero = T::default();
    // One (tap, image) plane at a time: the source plane shifted by (dy - 1, dx - 1)
    // is one contiguous copy (a sideways shift moves each row's end into the next
    // row's start, and those cells are then set to zero), instead of a copy per row:
    // rows are only 8-64 values long, so per-row work was a fifth of inference.
    for (tap, dst) in cols.chunks_exact_mut(plane).enumerate() {
        let (k, b) = (tap / batch, tap % batch);
        let (dy, dx) = (k / 3, k % 3);
        let src = &src[b * plane..][..plane];
        // Output rows y0..y1 read source rows y0 + dy - 1 .. y1 + dy - 1.
        let (y0, y1) = (usize::from(dy == 0), (h + 1 - dy).min(h));
        if y1 <= y0 {
            dst.fill(zero); // a one-row image has no row above or below
            continue;
        }
        dst[..y0 * w].fill(zero);
        dst[y1 * w..].fill(zero);
        let (from, to) = ((y0 + dy - 1) * w, (y1 + dy - 1) * w);
        let inside = &mut dst[y0 * w..y1 * w];
        match dx {
            0 => {
                inside[1..].copy_from_slice(&src[from..to - 1]);
                inside.iter_mut().step_by(w).for_each(|v| *v = zero);
            }
            1 => inside.copy_from_slice(&src[from..to]),
            _ => {
                let last = inside.len() - 1;
                inside[..last].copy_from_slice(&src[from + 1..to]);
                inside[w - 1..]
                    .iter_mut()
                    .step_by(w)
                    .for_each(|v| *v = zero);
            }
        }
    }
}

/// Recycles the large temporary buffers of the convolution (column matrices, 9× a layer's
/// input, and their gradients) between training steps: freshly allocated, each must be
/// zero-filled first, which took 8 % of a training step (perf). Native builds only; the
/// browser keeps no memory between calls.
mod scratch {
    #[cfg(feature = "parallel")]
    static POOL: std::sync::Mutex<Vec<Vec<f32>>> = std::sync::Mutex::new(Vec::new());
    /// Buffers kept: the columns and column gradient of the largest layer, and spares.
    #[cfg(feature = "parallel")]
    const KEEP: usize = 4;

    /// A buffer of `len` elements whose contents are unspecified (old values or zeros):
    /// the caller writes every element.
    pub fn take(len: usize) -> Vec<f32> {
        #[cfg(feature = "parallel")]
        {
            let mut pool = POOL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let fitting = (0..pool.len())
                .filter(|&i| pool[i].capacity() >= len)
                .min_by_key(|&i| pool[i].capacity());
            if let Some(i) = fitting {
                let mut buffer = pool.swap_remove(i);
                buffer.resize(len, 0.0); // writes only past the old length
                return buffer;
            }
        }
        vec![0f32; len]
    }

    /// Returns a buffer for reuse; the smallest is dropped when too many are kept.
    pub fn give_back(buffer: Vec<f32>) {
        #[cfg(feature = "parallel")]
        {
            let mut pool = POOL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            pool.push(buffer);
            if pool.len() > KEEP {
                if let Some(i) = (0..pool.len()).min_by_key(|&i| pool[i].capacity()) {
                    pool.swap_remove(i);
                }
            }
        }
        #[cfg(not(feature = "parallel"))]
        drop(buffer);
    }
}

/// Adjoint of [`im2col`]: sums each column entry back onto the pixel it was read from.
fn col2im(cols: &[f32], channels: usize, batch: usize, h: usize, w: usize) -> Vec<f32> {
    let per_channel = batch * h * w;
    let mut dst = vec![0f32; channels * per_channel];
    zip_chunks(
        &mut dst,
        per_channel,
        cols,
        9 * per_channel,
        |dst, cols, _| {
            for (s, d, dx) in patch_rows(batch, h, w) {
                let (out_row, g_row) = (&mut dst[s..s + w], &cols[d..d + w]);
                let (out_part, g_part) = match dx {
                    0 => (&mut out_row[..w - 1], &g_row[1..]),
                    1 => (&mut out_row[..], g_row),
                    _ => (&mut out_row[1..], &g_row[..w - 1]),
                };
                out_part.iter_mut().zip(g_part).for_each(|(o, g)| *o += g);
            }
        },
    );
    dst
}

/// A 3×3 "same" convolution as ONE graph node: im2col and the GEMM happen inside it, and its
/// backward recomputes the columns. Built from candle ops instead, the column matrix (9× the
/// layer input) would be a node of the autograd graph, and candle's backprop allocates a
/// zero-filled gradient for every node and adds into it single-threaded (measured with
/// `genderlens bench-train`: training steps 2–10 % faster this way).
struct Conv3x3;

/// Output of a convolution: `weight` (out, c·9) times the (c·9, batch·h·w) columns, as the
/// channel-major (out, batch, h, w) values.
fn convolve(weight: &[f32], columns: &[f32], out_channels: usize) -> Vec<f32> {
    let taps = weight.len() / out_channels;
    let pixels = columns.len() / taps;
    let mut out = vec![0f32; out_channels * pixels];
    gemm_into(
        &mut out,
        false,
        Matrix::rows(weight, taps),
        Matrix::rows(columns, pixels),
        (out_channels, pixels, taps),
    );
    out
}

impl CustomOp2 for Conv3x3 {
    fn name(&self) -> &'static str {
        "conv3x3"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_layout: &Layout,
        weight: &CpuStorage,
        weight_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (channels, batch, h, w) = x_layout.shape().dims4()?;
        let out_channels = weight_layout.shape().dims4()?.0;
        let columns = im2col(contiguous_f32(x, x_layout)?, channels, batch, h, w);
        let out = convolve(
            contiguous_f32(weight, weight_layout)?,
            &columns,
            out_channels,
        );
        scratch::give_back(columns);
        Ok((
            CpuStorage::F32(out),
            Shape::from((out_channels, batch, h, w)),
        ))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (channels, batch, h, w) = x.dims4()?;
        let out_channels = weight.dim(0)?;
        let (taps, pixels) = (channels * 9, batch * h * w);
        // The first layer's input is the image batch, which needs no gradient: skipping it
        // saves the largest column-gradient product and its col2im.
        let input_needs_gradient = x.track_op();
        let columns = with_f32(&x.detach(), |x| im2col(x, channels, batch, h, w))?;
        let (grad_x, grad_weight) = with_f32(&grad_res.detach(), |grad| {
            with_f32(&weight.detach(), |weight| {
                // Both products are computed transposed, with the long dimension first
                // (see `gemm_into`): grad_columnsᵀ = gradᵀ · weight and
                // grad_weightᵀ = columns · gradᵀ.
                let grad_x = input_needs_gradient.then(|| {
                    let mut grad_columns = scratch::take(taps * pixels); // overwritten
                    gemm_into(
                        &mut grad_columns,
                        true,
                        Matrix::transposed(grad, pixels),
                        Matrix::rows(weight, taps),
                        (pixels, taps, out_channels),
                    );
                    let grad_x = col2im(&grad_columns, channels, batch, h, w);
                    scratch::give_back(grad_columns);
                    grad_x
                });
                let mut grad_weight = vec![0f32; out_channels * taps];
                gemm_into(
                    &mut grad_weight,
                    true,
                    Matrix::rows(&columns, pixels),
                    Matrix::transposed(grad, pixels),
                    (taps, out_channels, pixels),
                );
                (grad_x, grad_weight)
            })
        })??;
        scratch::give_back(columns);
        let device = x.device();
        Ok((
            grad_x
                .map(|g| Tensor::from_vec(g, x.shape(), device))
                .transpose()?,
            Some(Tensor::from_vec(grad_weight, weight.shape(), device)?),
        ))
    }
}

/// 3×3 convolution, stride 1, zero padding 1, no bias, in channel-major layout.
/// `x`: (in, batch, h, w) f32; `weight`: (out, in, 3, 3) as for candle's `conv2d`;
/// result: (out, batch, h, w).
pub fn conv3x3(x: &Tensor, weight: &Tensor) -> Result<Tensor> {
    let (channels, ..) = x.dims4()?;
    let (_, weight_channels, kh, kw) = weight.dims4()?;
    if (weight_channels, kh, kw) != (channels, 3, 3) {
        candle_core::bail!(
            "conv3x3: weight {:?} does not fit {channels} input channels",
            weight.dims()
        );
    }
    x.contiguous()?.apply_op2(&weight.contiguous()?, Conv3x3)
}

/// 2×2 max-pooling with stride 2 (odd trailing rows/columns are dropped, as in candle).
struct MaxPool2x2;

impl CustomOp1 for MaxPool2x2 {
    fn name(&self) -> &'static str {
        "maxpool2x2"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (batch, channels, h, w) = layout.shape().dims4()?;
        let src = contiguous_f32(storage, layout)?;
        let (oh, ow) = (h / 2, w / 2);
        let mut out = vec![0f32; batch * channels * oh * ow];
        zip_chunks(&mut out, oh * ow, src, h * w, |out, plane, _| {
            for y in 0..oh {
                let top = &plane[2 * y * w..];
                let bottom = &plane[(2 * y + 1) * w..];
                for x in 0..ow {
                    out[y * ow + x] = top[2 * x]
                        .max(top[2 * x + 1])
                        .max(bottom[2 * x])
                        .max(bottom[2 * x + 1]);
                }
            }
        });
        Ok((CpuStorage::F32(out), Shape::from((batch, channels, oh, ow))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let (_, _, h, w) = arg.dims4()?;
        let (oh, ow) = (h / 2, w / 2);
        let mut dst = vec![0f32; arg.elem_count()];
        with_f32(arg, |input| {
            with_f32(grad_res, |grads| {
                zip_chunks(&mut dst, h * w, input, h * w, |out, plane, p| {
                    let grads = &grads[p * oh * ow..(p + 1) * oh * ow];
                    for y in 0..oh {
                        for x in 0..ow {
                            // The gradient goes to the first maximum of the window, like PyTorch.
                            let window = [
                                2 * y * w + 2 * x,
                                2 * y * w + 2 * x + 1,
                                (2 * y + 1) * w + 2 * x,
                                (2 * y + 1) * w + 2 * x + 1,
                            ];
                            let at =
                                window
                                    .into_iter()
                                    .reduce(|a, b| if plane[b] > plane[a] { b } else { a });
                            out[at.unwrap_or(0)] += grads[y * ow + x];
                        }
                    }
                })
            })
        })??;
        Ok(Some(Tensor::from_vec(dst, arg.shape(), arg.device())?))
    }
}

/// 2×2 max-pooling, stride 2, with a fast exact backward pass.
pub fn max_pool2x2(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(MaxPool2x2)
}

/// Runs `f` on the f32 values of a tensor without copying when it is contiguous.
fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(cpu) => Ok(f(contiguous_f32(cpu, layout)?)),
        _ => candle_core::bail!("expected a CPU tensor"),
    }
}

/// Runs `f(chunk)` over consecutive chunks of `input` and collects the results in order: in
/// parallel on native builds, sequentially in the browser.
fn map_chunks<R, F>(input: &[f32], chunk: usize, f: F) -> Vec<R>
where
    R: Send,
    F: Fn(&[f32]) -> R + Send + Sync,
{
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        input.par_chunks(chunk).map(f).collect()
    }
    #[cfg(not(feature = "parallel"))]
    input.chunks(chunk).map(f).collect()
}

/// Per-channel mean and (biased) variance of a channel-major (c, batch, h, w) tensor.
pub fn channel_stats(x: &Tensor) -> Result<(Vec<f32>, Vec<f32>)> {
    let channels = x.dim(0)?;
    with_f32(x, |data| {
        map_chunks(data, data.len() / channels, |chunk| {
            // Shifted by the first value and summed in f64, one pass is exact enough.
            let shift = f64::from(chunk.first().copied().unwrap_or(0.0));
            let (mut sum, mut sum_sq) = ([0f64; LANES], [0f64; LANES]);
            let lanes = chunk.chunks_exact(LANES);
            let rest = lanes.remainder();
            for values in lanes {
                for k in 0..LANES {
                    let d = f64::from(values[k]) - shift;
                    sum[k] += d;
                    sum_sq[k] += d * d;
                }
            }
            for (k, &v) in rest.iter().enumerate() {
                let d = f64::from(v) - shift;
                sum[k] += d;
                sum_sq[k] += d * d;
            }
            let (sum, sum_sq) = (sum.iter().sum::<f64>(), sum_sq.iter().sum::<f64>());
            let n = chunk.len() as f64;
            let mean = sum / n;
            (
                (shift + mean) as f32,
                (sum_sq / n - mean * mean).max(0.0) as f32,
            )
        })
        .into_iter()
        .unzip()
    })
}

/// Independent partial sums per reduction: one running sum is a chain of dependent
/// additions that neither the compiler (it keeps the order of float additions) nor the CPU
/// can overlap; sixteen can be vectorised. Per-channel sums over a layer were about a tenth
/// of a training step (perf).
const LANES: usize = 16;

/// The per-channel statistics a batch norm normalises with.
#[derive(Clone, Debug)]
pub struct NormStatistics {
    pub mean: Vec<f32>,
    pub inv_std: Vec<f32>,
    /// True when `mean`/`inv_std` come from this batch: the backward pass then also
    /// differentiates through the statistics (standard training-mode batch norm).
    pub batch_statistics: bool,
}

impl NormStatistics {
    /// (scale, shift) of channel `c`: batch norm and the affine γ, β as one `v·scale + shift`.
    fn affine(&self, c: usize, gamma: f32, beta: f32) -> (f32, f32) {
        let scale = gamma * self.inv_std[c];
        (scale, beta - self.mean[c] * scale)
    }

    /// Turns `g`, the gradient at channel `c`'s batch-norm output, into the gradient at its
    /// input `x`, in place; returns (Σg, Σg·x̂), the gradients of β and γ. With batch
    /// statistics: dx = γ/σ · (g − mean(g) − x̂·mean(g·x̂)).
    fn input_gradient(&self, g: &mut [f32], x: &[f32], c: usize, gamma: f32) -> (f32, f32) {
        let (mean, inv_std) = (self.mean[c], self.inv_std[c]);
        let (mut sg, mut sgx) = ([0f32; LANES], [0f32; LANES]);
        let lanes = g.chunks_exact(LANES).zip(x.chunks_exact(LANES));
        for (gs, xs) in lanes {
            for k in 0..LANES {
                sg[k] += gs[k];
                sgx[k] += gs[k] * (xs[k] - mean) * inv_std;
            }
        }
        let done = g.len() - g.len() % LANES;
        for (k, (&gv, &xv)) in g[done..].iter().zip(&x[done..]).enumerate() {
            sg[k] += gv;
            sgx[k] += gv * (xv - mean) * inv_std;
        }
        let (sg, sgx) = (sg.iter().sum::<f32>(), sgx.iter().sum::<f32>());
        let k = gamma * inv_std;
        if self.batch_statistics {
            let (mb, mg) = (sg / g.len() as f32, sgx / g.len() as f32);
            for (o, &xv) in g.iter_mut().zip(x) {
                *o = k * (*o - mb - (xv - mean) * inv_std * mg);
            }
        } else {
            g.iter_mut().for_each(|o| *o *= k);
        }
        (sg, sgx)
    }
}

/// The gradients of a batch-norm op's (x, γ, β) from the input gradient and each channel's
/// (Σg, Σg·x̂), as [`NormStatistics::input_gradient`] returns them.
type NormGradients = (Option<Tensor>, Option<Tensor>, Option<Tensor>);

fn norm_gradients(x: &Tensor, grad_x: Vec<f32>, sums: Vec<(f32, f32)>) -> Result<NormGradients> {
    let channels = sums.len();
    let (d_beta, d_gamma): (Vec<f32>, Vec<f32>) = sums.into_iter().unzip();
    let dev = x.device();
    Ok((
        Some(Tensor::from_vec(grad_x, x.shape(), dev)?),
        Some(Tensor::from_vec(d_gamma, channels, dev)?),
        Some(Tensor::from_vec(d_beta, channels, dev)?),
    ))
}

/// Fused batch norm (with the given statistics) + affine + ReLU: one pass forward and
/// one pass backward instead of a dozen full-size temporaries through generic ops.
/// Arguments: x (c, batch, h, w) channel-major, gamma (c), beta (c).
pub struct BatchNormRelu {
    pub statistics: NormStatistics,
}

impl CustomOp3 for BatchNormRelu {
    fn name(&self) -> &'static str {
        "batchnorm-relu"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let channels = l1.shape().dims()[0];
        let (x, gamma, beta) = (
            contiguous_f32(s1, l1)?,
            contiguous_f32(s2, l2)?,
            contiguous_f32(s3, l3)?,
        );
        let mut out = vec![0f32; x.len()];
        let per_channel = x.len() / channels;
        zip_chunks(&mut out, per_channel, x, per_channel, |out, x, c| {
            let (scale, shift) = self.statistics.affine(c, gamma[c], beta[c]);
            out.iter_mut()
                .zip(x)
                .for_each(|(o, &v)| *o = (v * scale + shift).max(0.0));
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        _beta: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let channels = x.dim(0)?;
        let plane = x.elem_count() / channels;
        let gamma = gamma.to_vec1::<f32>()?;
        // Per channel: the upstream gradient through the ReLU, then through the batch norm.
        let mut grad_x = vec![0f32; x.elem_count()];
        let sums: Vec<(f32, f32)> = with_f32(res, |y| {
            with_f32(grad_res, |g| {
                with_f32(x, |xs| {
                    zip_chunks(&mut grad_x, plane, xs, plane, |gx, xc, c| {
                        let range = c * plane..(c + 1) * plane;
                        let (yc, gc) = (&y[range.clone()], &g[range]);
                        for ((o, &yv), &gv) in gx.iter_mut().zip(yc).zip(gc) {
                            *o = if yv > 0.0 { gv } else { 0.0 };
                        }
                        self.statistics.input_gradient(gx, xc, c, gamma[c])
                    })
                })
            })
        })???;
        norm_gradients(x, grad_x, sums)
    }
}

/// Batch norm + affine + ReLU + 2×2 max-pool (stride 2) as ONE graph node, for the end of
/// each stage. The full-size normalised activations are never stored: the forward pass writes
/// only the pooled quarter, and the backward pass recomputes each window's values from the
/// input to route its gradient. Unfused, those activations are a graph node of their own,
/// for which candle's backprop fills and adds a full-size gradient, and the pooling backward
/// another. Arguments as [`BatchNormRelu`]; result (c, batch, h/2, w/2).
pub struct BatchNormReluPool {
    pub statistics: NormStatistics,
}

impl CustomOp3 for BatchNormReluPool {
    fn name(&self) -> &'static str {
        "batchnorm-relu-maxpool"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (channels, batch, h, w) = l1.shape().dims4()?;
        let (x, gamma, beta) = (
            contiguous_f32(s1, l1)?,
            contiguous_f32(s2, l2)?,
            contiguous_f32(s3, l3)?,
        );
        let (oh, ow) = (h / 2, w / 2);
        let mut out = vec![0f32; channels * batch * oh * ow];
        zip_chunks(&mut out, batch * oh * ow, x, batch * h * w, |out, x, c| {
            let (scale, shift) = self.statistics.affine(c, gamma[c], beta[c]);
            let value = |v: f32| v * scale + shift;
            // Whole rows of windows, so no index arithmetic per cell; ReLU commutes with
            // the maximum, so it is applied once per window.
            let rows = out.chunks_exact_mut(ow).zip(
                x.chunks_exact(h * w)
                    .flat_map(|image| image.chunks_exact(2 * w).take(oh)),
            );
            for (out_row, pair) in rows {
                let (top, bottom) = pair.split_at(w);
                let windows = top.chunks_exact(2).zip(bottom.chunks_exact(2));
                for (o, (t, b)) in out_row.iter_mut().zip(windows) {
                    let upper = larger(value(t[0]), value(t[1]));
                    let lower = larger(value(b[0]), value(b[1]));
                    *o = larger(larger(upper, lower), 0.0);
                }
            }
        });
        Ok((CpuStorage::F32(out), Shape::from((channels, batch, oh, ow))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        beta: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (_, batch, h, w) = x.dims4()?;
        let (plane, cells) = (batch * h * w, batch * (h / 2) * (w / 2));
        let gamma = gamma.to_vec1::<f32>()?;
        let beta = beta.to_vec1::<f32>()?;
        let (oh, ow) = (h / 2, w / 2);
        let mut grad_x = vec![0f32; x.elem_count()];
        let sums: Vec<(f32, f32)> = with_f32(grad_res, |g| {
            with_f32(x, |xs| {
                zip_chunks(&mut grad_x, plane, xs, plane, |gx, xc, c| {
                    let (scale, shift) = self.statistics.affine(c, gamma[c], beta[c]);
                    let value = |i: usize| (xc[i] * scale + shift).max(0.0);
                    // A row of windows at a time (no index arithmetic per cell).
                    let rows = g[c * cells..(c + 1) * cells].chunks_exact(ow.max(1));
                    for (row, grads) in rows.enumerate() {
                        let (image, y) = (row / oh, row % oh);
                        let top = image * h * w + 2 * y * w;
                        for (x, &grad) in grads.iter().enumerate() {
                            let corner = top + 2 * x;
                            let window = [corner, corner + 1, corner + w, corner + w + 1];
                            let values = window.map(value);
                            // The gradient goes to the first maximum of the window, like
                            // PyTorch, and through the ReLU only where it was positive.
                            let best =
                                (1..4).fold(0, |a, b| if values[b] > values[a] { b } else { a });
                            if values[best] > 0.0 {
                                gx[window[best]] = grad;
                            }
                        }
                    }
                    self.statistics.input_gradient(gx, xc, c, gamma[c])
                })
            })
        })??;
        norm_gradients(x, grad_x, sums)
    }
}

/// The larger of two numbers. `f32::max` also orders NaNs, which wasm's `f32.max` does not
/// do the same way, so in the browser it is a call to libm's `fmaxf` per comparison (a tenth
/// of the classifier's time); the activations here hold no NaN.
#[inline(always)]
fn larger(a: f32, b: f32) -> f32 {
    if a > b {
        a
    } else {
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    /// Asserts that `ours` and `reference` (same-shaped outputs) give every variable the same
    /// gradient of Σ output·target, within `tolerance`.
    fn assert_same_gradients(
        ours: Tensor,
        reference: Tensor,
        target: &Tensor,
        vars: &[&Var],
        tolerance: f32,
    ) -> Result<()> {
        let ours = (ours * target)?.sum_all()?.backward()?;
        let reference = (reference * target)?.sum_all()?.backward()?;
        for var in vars {
            let diff = max_diff(ours.get(var).unwrap(), reference.get(var).unwrap());
            assert!(diff < tolerance, "gradient differs by {diff}");
        }
        Ok(())
    }

    #[test]
    fn conv3x3_matches_candle_conv2d() -> Result<()> {
        let dev = Device::Cpu;
        let w = Tensor::randn(0f32, 1., (4, 5, 3, 3), &dev)?;
        // Images of one row or one column have neighbours on one axis only: the shifted
        // copies of im2col meet their edge cases there.
        for (h, wd) in [(7, 6), (1, 5), (5, 1), (2, 2), (1, 1)] {
            let x = Tensor::randn(0f32, 1., (2, 5, h, wd), &dev)?;
            let reference = x.conv2d(&w, 1, 1, 1, 1)?;
            let ours = conv3x3(&x.transpose(0, 1)?, &w)?.transpose(0, 1)?;
            let diff = max_diff(&ours, &reference);
            assert!(diff < 1e-4, "{h}×{wd}: max abs difference {diff}");
        }
        Ok(())
    }

    #[test]
    fn conv3x3_gradients_match_candle_conv2d() -> Result<()> {
        let dev = Device::Cpu;
        // A layer large enough for the GEMM's blocked, multi-threaded paths, then a tiny one
        // (on native builds it reuses the first one's column buffers, full of old values).
        for (batch, channels, out, h, w) in [(4, 40, 24, 16, 12), (2, 3, 6, 5, 4)] {
            let x = Var::randn(0f32, 1., (batch, channels, h, w), &dev)?;
            let weight = Var::randn(0f32, 1., (out, channels, 3, 3), &dev)?;
            let target = Tensor::randn(0f32, 1., (batch, out, h, w), &dev)?;
            let ours = conv3x3(&x.transpose(0, 1)?, &weight)?.transpose(0, 1)?;
            let reference = x.conv2d(&weight, 1, 1, 1, 1)?;
            let diff = max_diff(&ours, &reference);
            assert!(diff < 1e-3, "{channels}→{out}: output differs by {diff}");
            let ours = (ours * &target)?.sum_all()?.backward()?;
            let reference = (reference * &target)?.sum_all()?.backward()?;
            for var in [x.as_tensor(), weight.as_tensor()] {
                let (a, b) = (ours.get(var).unwrap(), reference.get(var).unwrap());
                // Relative to the gradient's size: sums over thousands of products.
                let scale = b.abs()?.max_all()?.to_scalar::<f32>()?.max(1.0);
                let diff = max_diff(a, b) / scale;
                assert!(
                    diff < 1e-4,
                    "{channels}→{out}: gradient differs by {diff} (relative)"
                );
            }
        }
        Ok(())
    }

    #[test]
    fn an_input_that_needs_no_gradient_gets_none_and_the_weight_gradient_is_unchanged() -> Result<()>
    {
        let dev = Device::Cpu;
        // Like the image batch entering the first layer: a plain tensor, not a variable.
        let x = Tensor::randn(0f32, 1., (2, 5, 8, 6), &dev)?;
        let weight = Var::randn(0f32, 1., (7, 5, 3, 3), &dev)?;
        let target = Tensor::randn(0f32, 1., (2, 7, 8, 6), &dev)?;
        let input = x.transpose(0, 1)?.contiguous()?;
        let ours = (conv3x3(&input, &weight)?.transpose(0, 1)? * &target)?
            .sum_all()?
            .backward()?;
        let reference = (x.conv2d(&weight, 1, 1, 1, 1)? * &target)?
            .sum_all()?
            .backward()?;
        assert!(
            ours.get(&input).is_none(),
            "a gradient was computed for the input"
        );
        let diff = max_diff(ours.get(&weight).unwrap(), reference.get(&weight).unwrap());
        assert!(diff < 1e-3, "weight gradient differs by {diff}");
        Ok(())
    }

    #[test]
    fn max_pool_and_gradient_match_reference() -> Result<()> {
        let dev = Device::Cpu;
        let x = Var::randn(0f32, 1., (2, 3, 6, 4), &dev)?;
        let target = Tensor::randn(0f32, 1., (2, 3, 3, 2), &dev)?;
        let ours = max_pool2x2(&x)?;
        // Reference with exact gradients: max over each 2×2 window via reshape. (candle's
        // own max_pool2d backward scales the gradient by 1/4.)
        let reference = x.reshape((2, 3, 3, 2, 2, 2))?.max(5)?.max(3)?;
        assert!(max_diff(&ours, &x.max_pool2d(2)?) == 0.0);
        assert!(max_diff(&ours, &reference) == 0.0);
        let g_ours = (ours * &target)?.sum_all()?.backward()?;
        let g_ref = (reference * &target)?.sum_all()?.backward()?;
        let diff = max_diff(g_ours.get(&x).unwrap(), g_ref.get(&x).unwrap());
        assert!(diff < 1e-6, "gradient differs by {diff}");
        Ok(())
    }

    #[test]
    fn batchnorm_relu_matches_composite_ops() -> Result<()> {
        let dev = Device::Cpu;
        let x = Var::randn(0.5f32, 2., (4, 3, 5, 6), &dev)?;
        let gamma = Var::randn(1f32, 0.3, 3, &dev)?;
        let beta = Var::randn(0f32, 0.3, 3, &dev)?;
        let target = Tensor::randn(0f32, 1., (4, 3, 5, 6), &dev)?;
        let x_cm = x.transpose(0, 1)?.contiguous()?;
        let (mean, var) = channel_stats(&x_cm)?;
        let inv_std: Vec<f32> = var.iter().map(|v| 1.0 / (v + 1e-5).sqrt()).collect();
        let op = BatchNormRelu {
            statistics: NormStatistics {
                mean,
                inv_std,
                batch_statistics: true,
            },
        };
        let ours = x_cm.apply_op3(&gamma, &beta, op)?.transpose(0, 1)?;
        // Reference: training-mode batch norm written with differentiable candle ops.
        let bshape = (1, 3, 1, 1);
        let mu = x.mean_keepdim(0)?.mean_keepdim(2)?.mean_keepdim(3)?;
        let centered = x.broadcast_sub(&mu)?;
        let v = centered
            .sqr()?
            .mean_keepdim(0)?
            .mean_keepdim(2)?
            .mean_keepdim(3)?;
        let reference = centered
            .broadcast_div(&(v + 1e-5)?.sqrt()?)?
            .broadcast_mul(&gamma.reshape(bshape)?)?
            .broadcast_add(&beta.reshape(bshape)?)?
            .relu()?;
        assert!(max_diff(&ours, &reference) < 1e-4);
        assert_same_gradients(ours, reference, &target, &[&x, &gamma, &beta], 1e-3)
    }

    #[test]
    fn fused_norm_relu_pool_matches_the_separate_ops() -> Result<()> {
        let dev = Device::Cpu;
        // Odd sizes: the last row and column take part in the statistics but not the pooling.
        for batch_statistics in [true, false] {
            let x = Var::randn(0.5f32, 2., (3, 4, 7, 9), &dev)?; // (c, batch, h, w)
            let gamma = Var::randn(1f32, 0.8, 3, &dev)?; // some negative: scale < 0
            let beta = Var::randn(0f32, 0.3, 3, &dev)?;
            let target = Tensor::randn(0f32, 1., (3, 4, 3, 4), &dev)?;
            let (mean, var) = channel_stats(&x)?;
            let statistics = NormStatistics {
                mean,
                inv_std: var.iter().map(|v| 1.0 / (v + 1e-5).sqrt()).collect(),
                batch_statistics,
            };
            let fused = x.apply_op3(
                &gamma,
                &beta,
                BatchNormReluPool {
                    statistics: statistics.clone(),
                },
            )?;
            let separate =
                max_pool2x2(&x.apply_op3(&gamma, &beta, BatchNormRelu { statistics })?)?;
            assert_eq!(max_diff(&fused, &separate), 0.0);
            assert_same_gradients(fused, separate, &target, &[&x, &gamma, &beta], 1e-5)?;
        }
        Ok(())
    }

    #[test]
    fn channel_stats_are_exact_even_far_from_zero() -> Result<()> {
        let dev = Device::Cpu;
        // Channel 1 sits at 1000 with unit spread: a naive one-pass f32 variance fails there.
        let x = Tensor::randn(0f32, 1., (2, 3, 5, 4), &dev)?
            .broadcast_add(&Tensor::new(&[0f32, 1000.0], &dev)?.reshape((2, 1, 1, 1))?)?;
        let (mean, var) = channel_stats(&x)?;
        for c in 0..2 {
            let values: Vec<f64> = x
                .get(c)?
                .flatten_all()?
                .to_vec1::<f32>()?
                .into_iter()
                .map(f64::from)
                .collect();
            let m = values.iter().sum::<f64>() / values.len() as f64;
            let v = values.iter().map(|x| (x - m).powi(2)).sum::<f64>() / values.len() as f64;
            assert!(
                (f64::from(mean[c]) - m).abs() < 1e-3,
                "mean {} vs {m}",
                mean[c]
            );
            assert!(
                (f64::from(var[c]) - v).abs() < 1e-3 * v,
                "variance {} vs {v}",
                var[c]
            );
        }
        Ok(())
    }
}
