// What the caller hands in, made ready to cross to a worker, on the caller's thread: nothing
// is decoded or shrunk here. Files, bytes, bitmaps, ImageData and video frames are posted as
// they are (cloned: the caller keeps its own); elements and canvases, which cannot cross,
// become an ImageBitmap of their pixels (the browser's copy, already decoded).
import { GenderLensError } from './errors.js';

const has = (name) => typeof globalThis[name] === 'function';
const isA = (value, name) => has(name) && value instanceof globalThis[name];

/** `{ source, transfer }` for a job message, or a GenderLensError('unsupported-source'). */
export async function toMessage(source) {
  if (isA(source, 'Blob')) return { source: { kind: 'blob', blob: source }, transfer: [] };
  if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) {
    return { source: { kind: 'blob', blob: new Blob([source]) }, transfer: [] };
  }
  if (isA(source, 'ImageData')) return { source: { kind: 'pixels', imageData: source }, transfer: [] };
  if (isA(source, 'ImageBitmap')) return { source: { kind: 'bitmap', bitmap: source }, transfer: [] };
  if (isA(source, 'VideoFrame')) return { source: { kind: 'frame', frame: source }, transfer: [] };
  if (isA(source, 'HTMLImageElement')) {
    if (!source.complete || !source.naturalWidth) {
      await source.decode().catch((e) => {
        throw new GenderLensError('not-an-image', `the image element could not be loaded (${e.message || e.name})`);
      });
    }
    return fromDrawable(source);
  }
  if (isA(source, 'HTMLVideoElement')) {
    // HAVE_CURRENT_DATA: a frame is there to copy.
    if (source.readyState < 2 || !source.videoWidth) {
      throw new GenderLensError('unsupported-source', 'the video element has no frame yet (wait for its "loadeddata" event)');
    }
    return fromDrawable(source);
  }
  if (isA(source, 'HTMLCanvasElement') || isA(source, 'OffscreenCanvas') || isA(source, 'SVGImageElement')) {
    return fromDrawable(source);
  }
  throw new GenderLensError('unsupported-source',
    `cannot analyse ${describe(source)}: pass a File, Blob, ArrayBuffer, Uint8Array, ImageBitmap, ImageData, ` +
    'an <img>, <canvas> or <video> element, an OffscreenCanvas or a VideoFrame');
}

async function fromDrawable(element) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(element);
  } catch (e) {
    throw new GenderLensError('unsupported-source', `the browser could not read its pixels (${e.message || e.name})`);
  }
  return { source: { kind: 'bitmap', bitmap }, transfer: [bitmap] };
}

function describe(value) {
  if (value === null || value === undefined) return String(value);
  if (typeof value !== 'object') return `a ${typeof value}`;
  return `a ${value.constructor?.name ?? 'plain object'}`;
}
