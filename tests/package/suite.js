// The package's own tests, run inside each browser engine (tests/e2e/package.test.mjs opens
// this page in Chromium, Firefox and WebKit): the package as built (/genderlens/), the
// committed photos (/fixtures/). Each case passes, fails or says why the engine cannot run
// it; `window.suiteResults` holds them all when `window.suiteDone` is true.
import { GenderLens, GenderLensError, defaultWorkers } from '/genderlens/index.js';

// A failure outside the cases (the package not loading at all) ends the run too.
const fatal = (reason) => { window.suiteError = String(reason?.stack || reason); window.suiteDone = true; };
addEventListener('error', (e) => fatal(e.error ?? e.message));
addEventListener('unhandledrejection', (e) => fatal(e.reason));

const results = [];
class Skip extends Error {}
const skip = (why) => { throw new Skip(why); };

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

async function check(name, fn) {
  const t0 = performance.now();
  try {
    const detail = await fn();
    results.push({ name, ok: true, detail: detail ?? '', ms: performance.now() - t0 });
  } catch (e) {
    if (e instanceof Skip) results.push({ name, ok: true, skipped: e.message });
    else results.push({ name, ok: false, detail: String(e && e.stack ? `${e.message}\n${e.stack}` : e) });
  }
  const li = document.createElement('li');
  const r = results.at(-1);
  li.textContent = `${r.ok ? (r.skipped ? 'SKIP' : 'ok') : 'FAIL'} ${name}${r.skipped ? `: ${r.skipped}` : r.ok ? '' : `: ${r.detail}`}`;
  document.querySelector('#results').append(li);
}

const bytesOf = async (name) => new Uint8Array(await (await fetch(`/fixtures/${name}`)).arrayBuffer());
const solvayBytes = await bytesOf('solvay-1927.jpg');
const portraits = await Promise.all(['einstein', 'planck', 'collins'].map((n) => bytesOf(`faces/${n}.jpg`)));
const PORTRAIT_SEX = ['male', 'male', 'female'];
const solvayFile = new File([solvayBytes], 'solvay-1927.jpg', { type: 'image/jpeg' });

async function codeOf(promise) {
  try {
    await promise;
  } catch (e) {
    assert(e instanceof GenderLensError, `not a GenderLensError: ${e}`);
    assert(typeof e.message === 'string' && e.message.length > 10, `no readable message: ${e.message}`);
    return e.code;
  }
  throw new Error('did not fail');
}

const centre = ({ x, y, width, height }) => [x + width / 2, y + height / 2];
/** Each face of `a` has a face of `b` within `px` of its centre (after scaling b by `scale`). */
function sameFaces(a, b, px, scale = 1) {
  assert(Math.abs(a.faces.length - b.faces.length) <= 1, `${a.faces.length} faces against ${b.faces.length}`);
  let unmatched = 0;
  for (const face of a.faces) {
    const [cx, cy] = centre(face.box);
    if (!b.faces.some((g) => { const [gx, gy] = centre(g.box); return Math.hypot(gx * scale - cx, gy * scale - cy) < px; })) unmatched++;
  }
  assert(unmatched <= 1, `${unmatched} faces not matched`);
}

function canvasOf(width, height, draw) {
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  draw(canvas.getContext('2d'));
  return canvas;
}

const lens = await GenderLens.create({ workers: 2 });
let reference;

await check('version names the package and both weights', () => {
  const v = GenderLens.version;
  assert(/^\d+\.\d+\.\d+/.test(v.package), `package ${v.package}`);
  assert(/^[0-9a-f]{64}$/.test(v.classifier.sha256) && /^[0-9a-f]{64}$/.test(v.detector.sha256), JSON.stringify(v));
  assert(Object.isFrozen(v), 'version is frozen');
  assert(lens.workers === 2 && defaultWorkers() >= 1 && defaultWorkers() <= 4, `workers ${lens.workers}, default ${defaultWorkers()}`);
  return `${v.package}, classifier ${v.classifier.sha256.slice(0, 12)}, detector ${v.detector.sha256.slice(0, 12)}`;
});

await check('a File: the Solvay photo’s 29 faces, with landmarks, in its own pixels', async () => {
  reference = await lens.analyze(solvayFile);
  const { width, height, faces, timings } = reference;
  assert(width === 1024 && height === 698, `${width}×${height}`);
  assert(faces.length === 29, `${faces.length} faces`);
  for (const f of faces) {
    assert(f.box.x >= -2 && f.box.y >= -2 && f.box.x + f.box.width <= width + 2 && f.box.y + f.box.height <= height + 2, JSON.stringify(f.box));
    assert(['female', 'male', 'uncertain'].includes(f.label) && ['female', 'male'].includes(f.likely), f.label);
    assert(f.confidence >= 0.5 && f.confidence <= 1 && f.pMale >= 0 && f.pMale <= 1 && f.score > 0, JSON.stringify(f));
    const eyes = f.landmarks.rightEye;
    assert(eyes.x >= f.box.x && eyes.x <= f.box.x + f.box.width, 'a landmark outside its box');
  }
  for (const key of ['decodeMs', 'detectMs', 'classifyMs', 'totalMs']) assert(timings[key] >= 0, `timings.${key} ${timings[key]}`);
  assert(faces.filter((f) => f.likely === 'male').length >= 26, 'the 28 men are mostly read as men');
  return `${faces.length} faces in ${timings.totalMs.toFixed(0)} ms (detection ${timings.detectMs.toFixed(0)}, classification ${timings.classifyMs.toFixed(0)})`;
});

const image = new Image();
image.src = URL.createObjectURL(solvayFile);
await image.decode();
const kinds = {
  Blob: () => new Blob([solvayBytes]),
  ArrayBuffer: () => solvayBytes.slice().buffer,
  Uint8Array: () => solvayBytes.slice(),
  ImageBitmap: () => createImageBitmap(solvayFile),
  ImageData: () => canvasOf(1024, 698, (ctx) => ctx.drawImage(image, 0, 0)).getContext('2d').getImageData(0, 0, 1024, 698),
  HTMLImageElement: () => image,
  HTMLCanvasElement: () => canvasOf(1024, 698, (ctx) => ctx.drawImage(image, 0, 0)),
  OffscreenCanvas: () => {
    const canvas = new OffscreenCanvas(1024, 698);
    canvas.getContext('2d').drawImage(image, 0, 0);
    return canvas;
  },
  VideoFrame: () => (typeof VideoFrame === 'function' ? new VideoFrame(canvasOf(1024, 698, (ctx) => ctx.drawImage(image, 0, 0)), { timestamp: 0 }) : skip('no VideoFrame in this engine')),
};
for (const [kind, make] of Object.entries(kinds)) {
  await check(`a source of type ${kind} gives the same faces`, async () => {
    const source = await make();
    const analysis = await lens.analyze(source);
    assert(analysis.width === 1024 && analysis.height === 698, `${analysis.width}×${analysis.height}`);
    sameFaces(analysis, reference, 6);
    if (kind === 'ImageBitmap') assert(source.width === 1024, 'the caller’s bitmap is still its own');
    if (kind === 'VideoFrame') source.close();
    return `${analysis.faces.length} faces`;
  });
}

await check('an HTMLVideoElement’s current frame', async () => {
  const canvas = canvasOf(400, 300, () => {});
  if (!canvas.captureStream) skip('no canvas.captureStream in this engine');
  const bitmap = await createImageBitmap(new Blob([portraits[0]]));
  const ctx = canvas.getContext('2d');
  const video = document.createElement('video');
  video.muted = true;
  video.srcObject = canvas.captureStream(30);
  const paint = setInterval(() => { ctx.fillStyle = '#888'; ctx.fillRect(0, 0, 400, 300); ctx.drawImage(bitmap, 100, 50); }, 30);
  try {
    await video.play();
    const deadline = performance.now() + 10_000;
    while (video.readyState < 2 || !video.videoWidth) {
      if (performance.now() > deadline) skip('the captured stream never gave the video element a frame');
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 200));
    const analysis = await lens.analyze(video);
    assert(analysis.width === video.videoWidth, `width ${analysis.width} against ${video.videoWidth}`);
    assert(analysis.faces.length === 1 && analysis.faces[0].likely === 'male', JSON.stringify(analysis.faces.map((f) => f.likely)));
    return `${analysis.width}×${analysis.height}, ${analysis.faces[0].label}`;
  } finally {
    clearInterval(paint);
    video.srcObject.getTracks().forEach((t) => t.stop());
  }
});

await check('a larger source: the results in its own pixels (2 048 px, shrunk inside the worker)', async () => {
  const big = canvasOf(2048, 1396, (ctx) => ctx.drawImage(image, 0, 0, 2048, 1396));
  const analysis = await lens.analyze(big);
  assert(analysis.width === 2048 && analysis.height === 1396, `${analysis.width}×${analysis.height}`);
  sameFaces(analysis, reference, 14, 2);
  return `${analysis.faces.length} faces`;
});

await check('a photo alone in a pool of two free workers is split between them, with the same faces', async () => {
  // Both workers running: a few photos at once start the second.
  for await (const entry of lens.analyzeMany([solvayFile, portraits[0], portraits[1], portraits[2]])) assert(entry.result, 'warm');
  const split = await lens.analyze(solvayFile);
  assert(split.timings.workers === 2, `${split.timings.workers} workers`);
  const single = await GenderLens.create({ workers: 1, warmUp: false });
  try {
    const whole = await single.analyze(solvayFile);
    assert(whole.timings.workers === 1, 'one worker');
    assert(split.faces.length === whole.faces.length, `${split.faces.length} faces split, ${whole.faces.length} whole`);
    sameFaces(split, whole, 3);
    const labels = (a) => a.faces.map((f) => f.likely).sort().join();
    assert(labels(split) === labels(whole), 'the same labels');
    // A small photo stays with one worker.
    assert((await lens.analyze(portraits[0])).timings.workers === 1, 'a portrait was split');
  } finally {
    single.close();
  }
  return `${split.faces.length} faces; detection ${split.timings.detectMs.toFixed(0)} ms, classification ${split.timings.classifyMs.toFixed(0)} ms on two workers`;
});

await check('errors carry a code and a readable message', async () => {
  const codes = {
    text: await codeOf(lens.analyze(new Blob(['not an image at all']))),
    cut: await codeOf(lens.analyze(solvayBytes.slice(0, 4000))),
    huge: await codeOf(lens.analyze(hugePngHeader())),
    number: await codeOf(lens.analyze(42)),
    aborted: await codeOf(lens.analyze(solvayFile, { signal: AbortSignal.abort() })),
  };
  const expected = { text: 'not-an-image', cut: 'truncated', huge: 'too-large', number: 'unsupported-source', aborted: 'aborted' };
  assert(JSON.stringify(codes) === JSON.stringify(expected), JSON.stringify(codes));
  const controller = new AbortController();
  const running = lens.analyze(solvayFile, { signal: controller.signal });
  controller.abort();
  assert(await codeOf(running) === 'aborted', 'an abort while under way');
  assert((await lens.analyze(portraits[0])).faces.length === 1, 'works after the errors');
  return JSON.stringify(codes);
});

/** A PNG whose header claims 20 000 × 20 000 px (refused before anything decodes it). */
function hugePngHeader() {
  const bytes = new Uint8Array(64);
  bytes.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
  new DataView(bytes.buffer).setUint32(16, 20_000);
  new DataView(bytes.buffer).setUint32(20, 20_000);
  bytes.set([8, 6, 0, 0, 0], 24);
  return bytes;
}

await check('maxFaces and minConfidence filter the faces', async () => {
  const five = await lens.analyze(solvayFile, { maxFaces: 5 });
  assert(five.faces.length === 5, `${five.faces.length} faces`);
  const sure = await lens.analyze(solvayFile, { minConfidence: 0.97 });
  assert(sure.faces.length < 29 && sure.faces.every((f) => f.confidence >= 0.97), `${sure.faces.length} faces`);
  return `${sure.faces.length} faces at ≥ 0.97`;
});

await check('picture: the decoded picture comes back for drawing', async () => {
  const analysis = await lens.analyze(solvayFile, { picture: true });
  assert(analysis.picture instanceof ImageBitmap && analysis.picture.width === 1024, String(analysis.picture));
  analysis.picture.close();
});

await check('classifyFace reads a close crop as one face', async () => {
  const portrait = await createImageBitmap(new Blob([portraits[2]]));
  const [found] = (await lens.analyze(portrait)).faces;
  const { x, y, width, height } = found.box;
  const crop = canvasOf(Math.round(width), Math.round(height), (ctx) => ctx.drawImage(portrait, x, y, width, height, 0, 0, Math.round(width), Math.round(height)));
  const face = await lens.classifyFace(crop);
  assert(face.landmarks === null && face.score === null && face.likely === 'female' && found.likely === 'female', JSON.stringify(face));
  assert(face.box.x === 0 && face.box.width === crop.width && face.box.height === crop.height, JSON.stringify(face.box));
  return `${face.label} ${face.confidence.toFixed(2)}`;
});

await check('analyzeMany: 300 portraits, a hostile file and a dying worker give 300 results, none lost, none twice', async () => {
  const many = await GenderLens.create({ workers: 2, workerUrl: new URL('./crashing-worker.js', import.meta.url) });
  try {
    const HOSTILE = 150;
    const sources = Array.from({ length: 300 }, (_, i) => (i === HOSTILE ? new Blob(['this is no photo']) : new Blob([portraits[i % 3]])));
    const seen = new Map();
    let progress = 0;
    const t0 = performance.now();
    for await (const entry of many.analyzeMany(sources, { onProgress: ({ done, total }) => { assert(done === progress + 1 && total === 300, `progress ${done}/${total}`); progress = done; } })) {
      assert(!seen.has(entry.index), `index ${entry.index} twice`);
      assert(entry.source === sources[entry.index], 'the source is handed back');
      seen.set(entry.index, entry);
    }
    const ms = performance.now() - t0;
    assert(seen.size === 300 && progress === 300, `${seen.size} results, progress ${progress}`);
    const failed = [...seen.values()].filter((e) => e.error);
    const crashed = failed.filter((e) => e.error.code === 'crashed');
    assert(crashed.length === 1, `${crashed.length} crashed: ${failed.map((e) => `${e.index} ${e.error.code}`).join(', ')}`);
    assert(seen.get(HOSTILE).error?.code === 'not-an-image', `the hostile file: ${seen.get(HOSTILE).error?.code}`);
    assert(failed.length === 2, `${failed.length} failed`);
    const wrong = [...seen.values()].filter((e) => e.result && (e.result.faces.length !== 1 || e.result.faces[0].likely !== PORTRAIT_SEX[e.index % 3]));
    assert(wrong.length === 0, `${wrong.length} portraits read wrong, first ${wrong[0]?.index}`);
    return `in ${ms.toFixed(0)} ms; crashed at ${crashed[0].index}`;
  } finally {
    many.close();
  }
});

await check('analyzeMany stops with an aborted error when its signal aborts, and the lens goes on', async () => {
  const controller = new AbortController();
  let got = 0;
  const code = await codeOf((async () => {
    for await (const entry of lens.analyzeMany((function* () { for (let i = 0; i < 1000; i++) yield new Blob([portraits[i % 3]]); })(), { signal: controller.signal })) {
      assert(entry.result, `entry ${entry.index}: ${entry.error?.code}`);
      if (++got === 10) controller.abort();
    }
  })());
  assert(code === 'aborted' && got === 10, `${code} after ${got}`);
  assert((await lens.analyze(portraits[1])).faces.length === 1, 'works after the abort');
});

await check('after close() every call fails with code closed', async () => {
  const closing = await GenderLens.create({ workers: 1, warmUp: false });
  const underWay = closing.analyze(solvayFile);
  await new Promise((r) => setTimeout(r, 5)); // in the worker by now
  closing.close();
  assert(await codeOf(underWay) === 'closed', 'a photo under way when closed');
  assert(await codeOf(closing.analyze(solvayFile)) === 'closed', 'analyze');
  const entries = [];
  for await (const entry of closing.analyzeMany([solvayFile])) entries.push(entry);
  assert(entries.length === 1 && entries[0].error.code === 'closed', JSON.stringify(entries.map((e) => e.error?.code)));
});

lens.close();
document.querySelector('#state').textContent = results.every((r) => r.ok) ? 'all passed' : 'failed';
window.suiteResults = results;
window.suiteDone = true;
