// Runs the wasm pipeline off the main thread so the page never freezes.
// The module's bytes are requested at once, alongside its JS glue and the decoding helpers,
// rather than one after the other (the downloads overlap).
const wasmBytes = fetch(new URL('./pkg/genderlens_bg.wasm', import.meta.url));
const glue = import('./pkg/genderlens.js');
const decoding = import('./pixels.js');

let lens = null;
/** The bindings' class, for its static functions. */
let Lens = null;
/** `pixels.js`, once loaded. */
let decoder = null;
/** The module's memory in bytes, read by the benchmark and the page's load tests. */
let wasmMemory = null;
globalThis.genderlensWasmBytes = () => wasmMemory?.buffer.byteLength ?? 0;
/** Requests received so far: the warm-up gives way as soon as there is real work. */
let requests = 0;
/** Pipeline runs of the warm-up (measured on the warm-up photo: the first took 110-165 ms,
 *  the third 15-60 ms). */
const WARM_UP_RUNS = 3;

async function start() {
  const t0 = performance.now();
  try {
    const { default: init, GenderLens } = await glue;
    wasmMemory = (await init({ module_or_path: wasmBytes })).memory;
    Lens = GenderLens;
    decoder = await decoding;
    lens = new GenderLens();
    postMessage({ type: 'ready', ms: performance.now() - t0 });
  } catch (e) {
    postMessage({ type: 'fatal', message: `Could not start the model: ${e && e.message ? e.message : e}` });
  }
}

const ready = start();

/** Runs the whole pipeline on a small photo of one face (a crop of the public-domain Solvay
 *  photo), then once on a working-size picture of six of it, while the visitor picks a
 *  file: the browser compiles the module's functions on their first call and optimises them
 *  once they are hot, so without this the first photo runs on unoptimised code (see
 *  `./dev bench`, "first result after ready"). The page asks for it only when no photo is
 *  waiting, and it stops when one comes. */
async function warmUp() {
  const waitingRequestFirst = () => new Promise((resolve) => setTimeout(resolve, 0));
  try {
    const photo = await (await fetch('warm-up.jpg')).blob();
    for (let run = 0; run < WARM_UP_RUNS && requests === 0; run++) {
      (await analyzeFile(photo)).picture.close();
      await waitingRequestFirst();
    }
    if (requests === 0) {
      // Then once at the working size, the photo placed on it: the module's memory grows
      // to what a large photo needs and the loops run at full length before the first one
      // comes (docs/performance.md, "The first large photo").
      const side = Lens.workingSide();
      const pixels = await sixTimes(photo, side, Math.round((side * 3) / 4));
      lens.analyzeRgba(new Uint8Array(pixels.data.buffer), pixels.width, pixels.height);
    }
  } catch {
    // Only an optimisation: offline without the file, the first photo is merely slower.
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

/** Faces in an image file, in its own pixels, and the picture to show. */
async function analyzeFile(file) {
  const { picture, pixels, width, height } = await decoder.decodeFile(file, Lens.workingSide(), Lens.inspectImage);
  try {
    const analysis = lens.analyzeRgba(new Uint8Array(pixels.data.buffer), pixels.width, pixels.height);
    return { analysis: decoder.inPhotoScale(analysis, pixels, width, height), picture };
  } catch (e) {
    picture.close(); // its memory goes now, not at the next collection
    throw e;
  }
}

/** An image file classified as one face (for photos that are already crops). */
async function classifyWholeFile(file) {
  const { picture, pixels, width, height } = await decoder.decodeFile(file, Lens.workingSide(), Lens.inspectImage);
  try {
    const face = lens.classifyWholeRgba(new Uint8Array(pixels.data.buffer), pixels.width, pixels.height);
    face.box = [0, 0, width, height];
    return face;
  } finally {
    picture.close();
  }
}

/** The reply to a request, and what it hands over rather than copies. */
async function run(msg) {
  switch (msg.op) {
    case 'file': {
      // The picture goes to the page for display: it never decodes the file a second time.
      const reply = await analyzeFile(msg.file);
      return [reply, [reply.picture]];
    }
    case 'rgba': return [lens.analyzeRgba(new Uint8Array(msg.data), msg.width, msg.height), []];
    case 'whole-file': return [await classifyWholeFile(msg.file), []];
    default: throw new Error(`unknown request ${msg.op}`);
  }
}

onmessage = async ({ data: msg }) => {
  if (msg.op === 'warm-up') {
    await ready;
    if (lens) warmUp();
    return;
  }
  requests += 1;
  await ready;
  if (!lens) {
    postMessage({ id: msg.id, ok: false, error: 'The model is not available.', fatal: true });
    return;
  }
  const t0 = performance.now();
  try {
    const [result, transfer] = await run(msg);
    postMessage({ id: msg.id, ok: true, result, ms: performance.now() - t0 }, transfer);
  } catch (e) {
    // A wasm trap (RuntimeError, e.g. a Rust panic) leaves the module unusable: say so and
    // ask the page for a fresh worker.
    const fatal = e instanceof WebAssembly.RuntimeError;
    const detail = e && e.message ? e.message : String(e);
    const error = fatal ? `the model crashed on this file (${detail}) and was restarted; other files will work` : detail;
    postMessage({ id: msg.id, ok: false, error, fatal });
  }
};
