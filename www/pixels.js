// Image files → pixels for the wasm pipeline, decoded by the browser: the module carries no
// image decoders of its own, which keeps the download small and the page able to open any
// photo the browser can. The module's `inspectImage` reads each file's header first, so a
// file that is not an image, is cut off or claims a huge size is refused with the same clear
// message as on the command line, before anything decodes it.

/** A photo's pixels for analysis: at most `side` px on the longer side, EXIF orientation
 *  applied, transparency over white (as the command line decodes). Returns them as
 *  `ImageData` with the full-size `picture` (an `ImageBitmap` the caller closes). */
export async function decodeFile(file, side, inspectImage) {
  inspectImage(new Uint8Array(await file.arrayBuffer()));
  let picture;
  try {
    picture = await createImageBitmap(file, { imageOrientation: 'from-image' });
  } catch (e) {
    throw new Error(`cannot decode image: the browser could not (${e.message || e.name})`);
  }
  try {
    const scale = Math.min(1, side / Math.max(picture.width, picture.height));
    const width = Math.max(1, Math.round(picture.width * scale));
    const height = Math.max(1, Math.round(picture.height * scale));
    const ctx = new OffscreenCanvas(width, height).getContext('2d', { willReadFrequently: true });
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, width, height);
    ctx.imageSmoothingQuality = 'high';
    ctx.drawImage(picture, 0, 0, width, height);
    return { picture, pixels: ctx.getImageData(0, 0, width, height) };
  } catch (e) {
    picture.close();
    throw e;
  }
}

/** `analysis` of `pixels` shrunk from `picture`, in the picture's own pixels. */
export function inPictureScale(analysis, pixels, picture) {
  const sx = picture.width / pixels.width;
  const sy = picture.height / pixels.height;
  for (const face of analysis.faces) {
    const [x, y, w, h] = face.box;
    face.box = [x * sx, y * sy, w * sx, h * sy];
  }
  analysis.width = picture.width;
  analysis.height = picture.height;
  return analysis;
}
