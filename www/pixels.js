// Image files → pixels for the wasm pipeline, decoded by the browser: the module carries no
// image decoders of its own, which keeps the download small and the page able to open any
// photo the browser can. The module's `inspectImage` reads each file's header first, so a
// file that is not an image, is cut off or claims a huge size is refused with the same clear
// message as on the command line, before anything decodes it.

/** Longest side of the picture a result card shows and draws its marks on: the page never
 *  holds a larger copy (downloads read the file again). */
export const DISPLAY_SIDE = 1600;

/** A photo's pixels for analysis: at most `side` px on the longer side, EXIF orientation
 *  applied, transparency over white (as the command line decodes). Returns them as
 *  `ImageData`, with the photo's own `width` and `height` and the `picture` to show (an
 *  `ImageBitmap` of at most DISPLAY_SIDE px, which the caller closes). A larger photo is
 *  shrunk once to that size and the pixels are drawn from the shrunk copy: the page no longer
 *  draws the full-size photo onto its card (docs/performance.md, "The first large photo"). */
export async function decodeFile(file, side, inspectImage) {
  inspectImage(new Uint8Array(await file.arrayBuffer()));
  let picture;
  try {
    picture = await createImageBitmap(file, { imageOrientation: 'from-image' });
  } catch (e) {
    throw new Error(`cannot decode image: the browser could not (${e.message || e.name})`);
  }
  const { width, height } = picture;
  try {
    if (Math.max(width, height) > DISPLAY_SIDE) {
      const photo = picture;
      picture = shrunk(photo, DISPLAY_SIDE, (canvas) => canvas.transferToImageBitmap());
      photo.close(); // the full-size pixels go now, not at the next collection
    }
    const pixels = shrunk(picture, side, (canvas, ctx) => ctx.getImageData(0, 0, canvas.width, canvas.height));
    return { picture, pixels, width, height };
  } catch (e) {
    picture.close();
    throw e;
  }
}

/** `take(canvas, context)` of `bitmap` drawn over white on a canvas of at most `side` px. */
function shrunk(bitmap, side, take) {
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

/** `analysis` of `pixels` shrunk from a `width` × `height` photo, in the photo's own pixels. */
export function inPhotoScale(analysis, pixels, width, height) {
  const sx = width / pixels.width;
  const sy = height / pixels.height;
  for (const face of analysis.faces) {
    const [x, y, w, h] = face.box;
    face.box = [x * sx, y * sy, w * sx, h * sy];
  }
  analysis.width = width;
  analysis.height = height;
  return analysis;
}
