// Inside a worker: a job's source → RGBA pixels of at most the working side, EXIF
// orientation applied, transparency over white (as the command line decodes), and the
// source's own size to scale the results back to. Encoded files are checked by the module's
// `inspectImage` first, so a file that is not an image, is cut off or claims a huge size is
// refused with the command line's message before the browser's decoder sees it.
import { GenderLensError } from './errors.js';

/** Longest side of the `picture` handed back for display when asked (`{ picture: true }`). */
export const DISPLAY_SIDE = 1600;

/** `{ pixels, width, height, picture }` for `source` (a job message's): `pixels` an
 *  ImageData of at most `side` px, `picture` an ImageBitmap of at most DISPLAY_SIDE px
 *  (only with `wantPicture`; the receiver closes it). */
export async function pixelsOf(source, side, inspectImage, wantPicture) {
  if (source.kind === 'pixels' && !wantPicture && Math.max(source.imageData.width, source.imageData.height) <= side) {
    const { width, height } = source.imageData;
    return { pixels: source.imageData, width, height, picture: null };
  }
  let bitmap = await bitmapOf(source, inspectImage);
  const { width, height } = bitmap;
  try {
    let picture = null;
    if (wantPicture) {
      if (Math.max(width, height) > DISPLAY_SIDE) {
        const full = bitmap;
        bitmap = drawn(full, DISPLAY_SIDE, (canvas) => canvas.transferToImageBitmap());
        full.close(); // the full-size pixels go now, not at the next collection
      }
      picture = bitmap;
    }
    const pixels = drawn(bitmap, side, (canvas, ctx) => ctx.getImageData(0, 0, canvas.width, canvas.height));
    if (!wantPicture) bitmap.close();
    return { pixels, width, height, picture };
  } catch (e) {
    bitmap.close();
    throw e;
  }
}

async function bitmapOf(source, inspectImage) {
  switch (source.kind) {
    case 'blob': {
      inspectImage(new Uint8Array(await source.blob.arrayBuffer()));
      try {
        return await createImageBitmap(source.blob, { imageOrientation: 'from-image' });
      } catch (e) {
        throw new GenderLensError('truncated', `cannot decode image: the browser could not (${e.message || e.name})`);
      }
    }
    case 'bitmap': return source.bitmap;
    case 'pixels': return createImageBitmap(source.imageData);
    case 'frame':
      try {
        return await createImageBitmap(source.frame);
      } finally {
        source.frame.close(); // the worker's clone; the caller's frame is its own
      }
    default: throw new GenderLensError('unsupported-source', `unknown source kind ${source.kind}`);
  }
}

/** `take(canvas, context)` of `bitmap` drawn over white on a canvas of at most `side` px. */
function drawn(bitmap, side, take) {
  const scale = Math.min(1, side / Math.max(bitmap.width, bitmap.height));
  const width = Math.max(1, Math.round(bitmap.width * scale));
  const height = Math.max(1, Math.round(bitmap.height * scale));
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, width, height);
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(bitmap, 0, 0, width, height);
  return take(canvas, ctx);
}
