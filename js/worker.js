// One worker of the pool (pool.js): it instantiates the module the pool compiled, then runs
// one job at a time — decode, shrink, detect, classify — and posts the result back. While
// it has no job it runs the pipeline on a small photo, so that the browser has compiled
// and optimised the module's code before the first real photo.
import init, { GenderLens as Bindings } from './wasm/genderlens.js';
import { pixelsOf } from './decode.js';
import { analysisOf, faceOf } from './results.js';
import { toWire } from './errors.js';

/** With `{ smallFaces: true }` photos are searched at up to this side (in tiles) rather
 *  than the working side: more pixels would need more memory than a tab can count on. */
const SMALL_FACES_SIDE = 4096;
/** Pipeline runs of the warm-up (measured on the warm-up photo: the first took 110-165 ms,
 *  the third 15-60 ms). */
const WARM_UP_RUNS = 3;

let lens = null;
let memory = null;
/** The module's memory in bytes, read by the benchmark and the page's load tests. */
globalThis.genderlensWasmBytes = () => memory?.buffer.byteLength ?? 0;
/** Jobs received so far: the warm-up gives way as soon as there is real work. */
let jobs = 0;
let started = null;

async function start({ module, warmUp }) {
  const t0 = performance.now();
  try {
    memory = (await init({ module_or_path: module })).memory;
    lens = new Bindings();
    postMessage({ type: 'ready', ms: performance.now() - t0 });
  } catch (e) {
    postMessage({ type: 'fatal', error: toWire({ code: 'model', message: `Could not start the model: ${e && e.message ? e.message : e}` }) });
    return;
  }
  if (warmUp) warmUpNow();
}

/** The pipeline on the warm-up photo, then once at the working size: the module's memory
 *  grows to what a large photo needs and its loops run at full length before the first one
 *  comes. Stops when a job arrives. */
async function warmUpNow() {
  const nextTurn = () => new Promise((resolve) => setTimeout(resolve, 0));
  try {
    const photo = await (await fetch(new URL('./warm-up.jpg', import.meta.url))).blob();
    for (let run = 0; run < WARM_UP_RUNS && jobs === 0; run++) {
      await analyze({ kind: 'blob', blob: photo }, {});
      await nextTurn();
    }
    if (jobs === 0) {
      const side = Bindings.workingSide();
      const pixels = await sixTimes(photo, side, Math.round((side * 3) / 4));
      if (jobs === 0) lens.analyzeRgba(new Uint8Array(pixels.data.buffer), pixels.width, pixels.height);
    }
  } catch {
    // Only an optimisation: without the photo, the first real one is merely slower.
  }
}

/** `photo` six times on a grey `width` × `height` picture (a group photo's few faces). */
async function sixTimes(photo, width, height) {
  const bitmap = await createImageBitmap(photo);
  try {
    const ctx = new OffscreenCanvas(width, height).getContext('2d', { willReadFrequently: true });
    ctx.fillStyle = '#808080';
    ctx.fillRect(0, 0, width, height);
    for (let row = 0; row < 2; row++) {
      for (let col = 0; col < 3; col++) ctx.drawImage(bitmap, ((col + 0.5) * width) / 3, ((row + 0.5) * height) / 2);
    }
    return ctx.getImageData(0, 0, width, height);
  } finally {
    bitmap.close();
  }
}

async function analyze(source, options) {
  const t0 = performance.now();
  const side = options.smallFaces ? SMALL_FACES_SIDE : Bindings.workingSide();
  return analyzed(await pixelsOf(source, side, Bindings.inspectImage, options.picture), t0, options);
}

/** The analysis of a decoded photo (`pixelsOf`'s answer), decoding begun at `t0`. */
function analyzed({ pixels, width, height, picture }, t0, options) {
  try {
    const t1 = performance.now();
    const raw = lens.analyzeRgba(new Uint8Array(pixels.data.buffer), pixels.width, pixels.height, !!options.smallFaces);
    const result = analysisOf(raw, pixels, width, height, options);
    result.timings.decodeMs = t1 - t0;
    if (picture) result.picture = picture;
    return result;
  } catch (e) {
    picture?.close(); // its memory goes now, not at the next collection
    throw e;
  }
}

async function classifyFace(source) {
  const { pixels, width, height } = await pixelsOf(source, Bindings.workingSide(), Bindings.inspectImage, false);
  return faceOf(lens.classifyWholeRgba(new Uint8Array(pixels.data.buffer), pixels.width, pixels.height), width / pixels.width, height / pixels.height);
}

/** Photos split between this worker and another (split.js), by key: the first worker's
 *  pixels from decoding to its part's search (the module keeps them from there). */
const held = new Map();
/** A split photo whose longer side is below this is analysed whole: its halves would
 *  overlap by most of it. */
const SPLIT_SIDE = 768;

/** Decodes a photo to split: its pixels are kept, a copy goes to the other worker. Too
 *  small to gain, it is analysed whole at once (`{ result }`). */
async function prepare({ key, source, options }) {
  const t0 = performance.now();
  const decoded = await pixelsOf(source, Bindings.workingSide(), Bindings.inspectImage, options.picture);
  const { pixels, width, height, picture } = decoded;
  if (Math.max(pixels.width, pixels.height) < SPLIT_SIDE) {
    return { result: analyzed(decoded, t0, options), transfer: picture ? [picture] : [] };
  }
  held.set(key, pixels);
  const copy = { data: new Uint8ClampedArray(pixels.data), width: pixels.width, height: pixels.height };
  const reply = { copy, width, height, options, decodeMs: performance.now() - t0, picture };
  return { ...reply, transfer: [copy.data.buffer, ...(picture ? [picture] : [])] };
}

function detectPart({ key, pixels, part, parts }) {
  const own = pixels ?? held.get(key);
  held.delete(key);
  const t0 = performance.now();
  const found = lens.detectPartRgba(new Uint8Array(own.data.buffer), own.width, own.height, part, parts);
  return { found, ms: performance.now() - t0 };
}

const classifyPart = ({ found, part, parts }) => lens.classifyPart(found, part, parts);

async function run(message) {
  const { op, source, options } = message;
  if (op === 'analyze') return analyze(source, options);
  if (op === 'classify-face') return classifyFace(source);
  if (op === 'prepare') return prepare(message);
  if (op === 'detect-part') return detectPart(message);
  if (op === 'classify-part') return classifyPart(message);
  if (op === 'release') return { released: held.delete(message.key) };
  throw new Error(`unknown job ${op}`);
}

addEventListener('message', async ({ data }) => {
  if (data.type === 'init') {
    started = start(data);
    return;
  }
  if (data.type !== 'job') return;
  jobs += 1;
  await started;
  try {
    const { transfer, ...result } = await run(data);
    postMessage({ type: 'result', id: data.id, ok: true, result }, transfer ?? (result.picture ? [result.picture] : []));
  } catch (e) {
    // A wasm trap (RuntimeError, e.g. a Rust panic) leaves the module unusable: the pool
    // replaces this worker.
    const fatal = e instanceof WebAssembly.RuntimeError;
    const error = fatal
      ? { code: 'crashed', message: `the model crashed on this photo (${e.message}) and was restarted; other photos will work` }
      : toWire(e);
    postMessage({ type: 'result', id: data.id, ok: false, error, fatal });
  }
});
