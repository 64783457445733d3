//! Running a kernel over the chunks of a buffer: in parallel on native builds (the
//! trainer), sequentially in the browser; and reading a tensor's f32 values in place.

use candle_core::{CpuStorage, Layout, Result, Storage, Tensor};

/// Runs `f(output_chunk, input_chunk, index)` over matching chunks of two buffers and
/// collects its results in order: in parallel on native builds (the trainer),
/// sequentially in the browser.
pub(crate) fn zip_chunks<R, F>(
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

/// Runs `f(chunk)` over consecutive chunks of `input` and collects the results in order: in
/// parallel on native builds, sequentially in the browser.
pub(crate) fn map_chunks<R, F>(input: &[f32], chunk: usize, f: F) -> Vec<R>
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

pub(crate) fn contiguous_f32<'a>(storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [f32]> {
    let data = match storage {
        CpuStorage::F32(data) => data,
        _ => candle_core::bail!("expected f32 storage"),
    };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("expected a contiguous tensor"),
    }
}

/// Runs `f` on the f32 values of a tensor without copying when it is contiguous.
pub(crate) fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(cpu) => Ok(f(contiguous_f32(cpu, layout)?)),
        _ => candle_core::bail!("expected a CPU tensor"),
    }
}
