//! Running a kernel over the chunks of a buffer: in parallel on native builds (the
//! trainer), sequentially in the browser.

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

#[cfg(not(target_arch = "wasm32"))] // training only
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

#[cfg(not(target_arch = "wasm32"))] // training only
/// Runs `f(chunk, index)` over consecutive chunks of `out`: in parallel on native builds.
pub(crate) fn fill_chunks<F>(out: &mut [f32], chunk: usize, f: F)
where
    F: Fn(&mut [f32], usize) + Send + Sync,
{
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        out.par_chunks_mut(chunk)
            .enumerate()
            .for_each(|(i, o)| f(o, i))
    }
    #[cfg(not(feature = "parallel"))]
    out.chunks_mut(chunk).enumerate().for_each(|(i, o)| f(o, i))
}
