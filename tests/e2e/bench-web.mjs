// Benchmark of the built page in headless Chromium (`./dev bench`): download size, cold
// first result (median of nine loads in fresh contexts, the photo dropped as soon as the page
// can take it, each load paired with one of an empty page that only lists a dummy face on the
// drop: the browser's and this harness's own share of the time; and a photo dropped a second
// after the page is ready), per-photo time through the package with one worker for a 640 x 360
// group of four (made of the portraits), the Solvay photo at 640 and 1024 px and a 200 px
// portrait (the first run, then medians once the module is optimised), a 12-megapixel photo
// dropped on the page, 300 photos dropped at once (time, the longest main-thread task, memory
// at the end), and the live camera's frame rate on a
// 640 x 480 fake capture of a face, then its memory over a ten-minute run
// (BENCH_CAMERA_SOAK_S; 0 skips it). The cold loads, the photo after ready and the 300 photos
// are measured with the page's pool at 1 and at 2 workers (the browser told it has that many
// cores), alternated.
// Prints a table and one JSON line. Needs www/genderlens built and Debian's /usr/bin/chromium.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import os from 'node:os';
import { makeY4m } from './y4m.mjs';
import { fixture, launch, memoryOf, startServer } from './harness.mjs';

const RUNS = Number(process.env.BENCH_RUNS ?? 15);
/** Runs before the timed ones: the browser first runs the module on baseline code and swaps
 *  in optimised functions as they become hot, which here took about ten 640 px photos. */
const WARM_UP_RUNS = Number(process.env.BENCH_WARM_UP_RUNS ?? 10);
/** Cold loads, each in a fresh context (no cache): one load is too noisy on this machine. */
const COLD_RUNS = Number(process.env.BENCH_COLD_RUNS ?? 9);
/** Photos dropped at once for the load measurement. */
const MANY = Number(process.env.BENCH_MANY_PHOTOS ?? 300);
/** Seconds the camera runs for the memory soak (its first minute is the baseline). */
const SOAK_S = Number(process.env.BENCH_CAMERA_SOAK_S ?? 600);
/** Rounds of the 300 photos, each at 1 and 2 workers in turn. */
const MANY_ROUNDS = Number(process.env.BENCH_MANY_ROUNDS ?? 2);
const WORKERS = [1, 2];
const solvay = fixture('solvay-1927.jpg');
const face = fixture('faces/einstein.jpg');

/** The floor of the cold-start measurement: a page that does nothing but list one face
 *  when a file is dropped, loaded and timed exactly like the real one. */
const EMPTY_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>empty</title></head>
<body><section id="results"></section><script>
document.addEventListener('dragover', (e) => e.preventDefault());
document.addEventListener('drop', (e) => {
  e.preventDefault();
  document.querySelector('#results').innerHTML = '<ol class="faces"><li>face</li></ol>';
});
</script></body></html>`;

/** Every file the server sent: what the page really downloads, service worker included. */
const served = [];

function serve() {
  const replaced = new Map([
    ['/__bench/empty.html', { status: 200, type: 'text/html', body: EMPTY_PAGE }],
    ['/__bench/solvay.jpg', { status: 200, type: 'image/jpeg', body: solvay }],
    ['/__bench/portrait.jpg', { status: 200, type: 'image/jpeg', body: face }],
    ...['collins', 'einstein', 'planck'].map((n) => [`/__bench/${n}.jpg`, { status: 200, type: 'image/jpeg', body: fixture(`faces/${n}.jpg`) }]),
  ]);
  return startServer({ replaced, onFile: (file) => served.push(file) });
}

/** `MANY` photos dropped at once (portraits, every tenth the group photo): time until the
 *  last is listed, the page's longest main-thread task meanwhile (the browser reports those
 *  of 50 ms and more), and the memory at the end. */
async function manyPhotos(browser, origin, workers) {
  const context = await contextWith(browser, workers);
  const page = await context.newPage();
  await page.goto(origin + '/');
  await modelReady(page);
  const portraits = ['collins', 'einstein', 'planck'].map((n) => fixture(`faces/${n}.jpg`).toString('base64'));
  const files = Array.from({ length: MANY }, (_, i) => [`photo-${i}.jpg`, i % 10 === 9 ? solvay.toString('base64') : portraits[i % 3]]);
  const ms = await page.evaluate(async (files) => {
    const transfer = new DataTransfer();
    for (const [name, b64] of files) transfer.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name, { type: 'image/jpeg' }));
    // Observed from the drop on: making the files above is the harness's work, not the page's.
    await new Promise((r) => setTimeout(r, 100));
    window.longTasks = [];
    new PerformanceObserver((list) => window.longTasks.push(...list.getEntries().map((e) => e.duration))).observe({ type: 'longtask' });
    const t0 = performance.now();
    document.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
    while (document.querySelectorAll('#results > article').length < files.length) await new Promise((r) => setTimeout(r, 20));
    return performance.now() - t0;
  }, files);
  const longTasks = await page.evaluate(() => window.longTasks);
  const memory = await memoryOf(page);
  await context.close();
  return { workers, photos: MANY, ms, long_tasks: longTasks.length, longest_task_ms: Math.max(0, ...longTasks), memory };
}

/** A fresh context whose pages see `workers` cores, so the page's pool (its default:
 *  one worker per core) runs that many workers; the machine's own count when undefined. */
async function contextWith(browser, workers) {
  const context = await browser.newContext();
  if (workers) {
    await context.addInitScript((n) => Object.defineProperty(Navigator.prototype, 'hardwareConcurrency', { get: () => n }), workers);
  }
  return context;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Cold load in a fresh context: every file served until the page (and its service worker)
 *  settled, and when the first face is listed. */
async function coldStart(browser, origin, workers) {
  const context = await contextWith(browser, workers);
  const page = await context.newPage();
  served.length = 0;
  const firstResultMs = await coldFirstResult(page, origin + '/');
  const readyMs = await page.evaluate(() => performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd);
  const modelReadyMs = await page.evaluate(() => performance.getEntriesByName('genderlens-ready')[0]?.startTime ?? NaN);
  // The service worker caches the page for offline use after the first result: wait for it.
  await page.waitForFunction(() => document.documentElement.dataset.offlineReady === 'yes', null, { timeout: 30_000 });
  await page.waitForTimeout(500);
  const files = served.map(({ file, bytes, disk }) => ({
    file,
    bytes,
    gzip: zlib.gzipSync(fs.readFileSync(disk), { level: 9 }).length,
  }));
  await context.close();
  return { firstResultMs, domContentLoadedMs: readyMs, modelReadyMs, files };
}

/** The page's clock when the first face is listed, in a fresh page that was just sent to
 *  `url` and had the photo dropped on it as soon as it could take it. Waits with plain
 *  promises in the page: Playwright's own waiting helpers inject its selector engine into
 *  the page, a script whose compilation cost this 2-core machine 30-40 ms of the page's
 *  main thread in the middle of the load (medians of 20 loads of the same build). */
async function coldFirstResult(page, url) {
  await page.goto(url, { waitUntil: 'commit' });
  // Module scripts run before DOMContentLoaded ends (readyState is already 'interactive' while
  // they wait), so from then on the page's drop handler is in place.
  await page.evaluate(() => new Promise((resolve) => {
    const loaded = () => performance.getEntriesByType('navigation')[0]?.domContentLoadedEventEnd > 0;
    const poll = () => (loaded() ? resolve() : setTimeout(poll, 1));
    poll();
  }));
  await dropFace(page);
  return page.evaluate(() => new Promise((resolve) => {
    const poll = () => (document.querySelector('#results .faces li') ? resolve(performance.now()) : requestAnimationFrame(poll));
    poll();
  }));
}

/** Cold first result of the empty page (`EMPTY_PAGE`), in a fresh context. */
async function emptyPageFirstResult(browser, origin) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const ms = await coldFirstResult(page, origin + '/__bench/empty.html');
  await context.close();
  return ms;
}

/** A fresh page a second after its model was ready: a visitor's pace. */
async function readyPage(browser, origin, workers) {
  const context = await contextWith(browser, workers);
  const page = await context.newPage();
  await page.goto(origin + '/');
  await modelReady(page);
  await page.waitForTimeout(1000);
  return { context, page };
}

/** A 12-megapixel phone photo (the group photo enlarged to 4032 × 3024, JPEG made by the
 *  browser) dropped a second after the page was ready: time until its faces are listed
 *  (median of 3 fresh contexts), and the worker's wasm memory afterwards (it never shrinks:
 *  its high-water mark; the decoded picture itself is the browser's, outside it). */
async function phonePhoto(browser, origin) {
  const runs = [];
  for (let run = 0; run < 3; run++) {
    const { context, page } = await readyPage(browser, origin);
    const file = await page.evaluate(async () => {
      const bitmap = await createImageBitmap(await (await fetch('/__bench/solvay.jpg')).blob());
      const canvas = new OffscreenCanvas(4032, 3024);
      canvas.getContext('2d').drawImage(bitmap, 0, 0, 4032, 3024);
      globalThis.phone = new File([await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.9 })], 'phone.jpg', { type: 'image/jpeg' });
      return { bytes: globalThis.phone.size };
    });
    await page.waitForTimeout(500);
    const startMs = await page.evaluate(() => {
      const transfer = new DataTransfer();
      transfer.items.add(globalThis.phone);
      const at = performance.now();
      document.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
      return at;
    });
    const doneMs = await firstFaceListed(page);
    const faces = await page.locator('#results .faces li').count();
    runs.push({ ms: doneMs - startMs, faces, file_bytes: file.bytes, wasm_bytes: (await memoryOf(page)).wasm_bytes });
    await context.close();
  }
  return { ...runs[0], ms: median(runs.map((r) => r.ms)), all_ms: runs.map((r) => Math.round(r.ms)), wasm_bytes: Math.max(...runs.map((r) => r.wasm_bytes)) };
}

/** Time from dropping a photo to its first listed face, when the visitor drops it a second
 *  after the page said it was ready (fresh context each run; median of 3). */
async function firstResultAfterReady(browser, origin, workers) {
  const times = [];
  for (let run = 0; run < 3; run++) {
    const { context, page } = await readyPage(browser, origin, workers);
    const startMs = await dropFace(page);
    const doneMs = await firstFaceListed(page);
    times.push(doneMs - startMs);
    await context.close();
  }
  return median(times);
}

/** The page's clock when the first face is listed. */
function firstFaceListed(page) {
  return page.waitForFunction(
    () => (document.querySelector('#results .faces li') ? performance.now() : null), null, { timeout: 60_000, polling: 'raf' },
  ).then((h) => h.jsonValue());
}

/** Resolves once the page has marked the model as loaded. */
function modelReady(page) {
  return page.waitForFunction(() => performance.getEntriesByName('genderlens-ready').length > 0, null, { timeout: 60_000 });
}

/** Drops the UTKFace portrait onto the page; returns the page's clock at the drop. */
function dropFace(page) {
  return page.evaluate((b64) => {
    const data = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const transfer = new DataTransfer();
    transfer.items.add(new File([data], 'face.jpg', { type: 'image/jpeg' }));
    const at = performance.now();
    document.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
    return at;
  }, face.toString('base64'));
}

/** Time through the package with one worker (the call to its result; detection and
 *  classification as the module timed them) for a photo (`name`: the group photo or the
 *  portrait) scaled to `width` px in a fresh pool: the first run, and medians once the
 *  browser has optimised the module. */
async function photoTimings(browser, origin, name, width) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(origin + '/');
  const all = await page.evaluate(async ([name, width, runs, warmUp]) => {
    const load = async (file) => createImageBitmap(await (await fetch(`/__bench/${file}.jpg`)).blob());
    let canvas;
    if (name === 'group') {
      // A 640 x 360 group photo of four people side by side, faces about 50 px: the
      // portraits (faces about 100 px in 200 px) at 110 px on a plain wall.
      canvas = new OffscreenCanvas(640, 360);
      const ctx = canvas.getContext('2d');
      ctx.fillStyle = '#8a8f94';
      ctx.fillRect(0, 0, 640, 360);
      const people = await Promise.all(['collins', 'einstein', 'planck', 'einstein'].map(load));
      people.forEach((p, i) => ctx.drawImage(p, 30 + i * 150, 110 + (i % 2) * 30, 110, 110));
    } else {
      const bitmap = await load(name);
      canvas = new OffscreenCanvas(width, Math.round((bitmap.height * width) / bitmap.width));
      canvas.getContext('2d').drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    }
    const { width: w, height } = canvas;
    const pixels = canvas.getContext('2d').getImageData(0, 0, w, height);
    const { GenderLens } = await import('/genderlens/index.js');
    const lens = await GenderLens.create({ workers: 1, warmUp: false });
    const out = [];
    for (let i = 0; i < warmUp + runs; i++) {
      const { timings, faces } = await lens.analyze(pixels);
      out.push({ total: timings.totalMs, detect: timings.detectMs, classify: timings.classifyMs, faces: faces.length });
    }
    lens.close();
    return out;
  }, [name, width, RUNS, WARM_UP_RUNS]);
  const first = all[0];
  const timings = all.slice(WARM_UP_RUNS);
  await context.close();
  return {
    name,
    width,
    runs: timings.length,
    faces: timings[0].faces,
    first_ms: first.total,
    median_ms: median(timings.map((t) => t.total)),
    // The fastest run: this machine alternates between fast and ~1.5× slower periods.
    fastest_ms: Math.min(...timings.map((t) => t.total)),
    median_detect_ms: median(timings.map((t) => t.detect)),
    median_classify_ms: median(timings.map((t) => t.classify)),
  };
}

/** Frames per second the page's camera mode shows (median of 5 readings a second apart) on
 *  Chromium's fake camera playing a 640 x 480 clip of a face. */
async function cameraFps(browser, origin) {
  const y4m = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'genderlens-bench-')), 'face.y4m');
  const helper = await browser.newPage();
  await makeY4m(helper, face, y4m, { width: 640, height: 480 });
  await helper.close();
  const camera = await launch(['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${y4m}`]);
  try {
    const page = await (await camera.newContext({ permissions: ['camera'] })).newPage();
    await page.goto(origin + '/');
    await modelReady(page);
    await page.click('#camera-toggle');
    await page.waitForFunction(() => Number(document.querySelector('#overlay').dataset.faces) >= 1, null, { timeout: 30_000 });
    await page.waitForTimeout(2000); // a full one-second window after the JIT warmed up
    const readings = [];
    for (let i = 0; i < 5; i++) {
      const text = await page.locator('#camera-stats').textContent();
      readings.push({ fps: Number(/(\d+) FPS/.exec(text)?.[1]), detect: Number(/detection (\d+) ms/.exec(text)?.[1]) });
      await page.waitForTimeout(1000);
    }
    const result = { width: 640, height: 480, fps: median(readings.map((r) => r.fps)), detect_ms: median(readings.map((r) => r.detect)) };
    if (SOAK_S > 60) {
      // Memory after the first minute of running, and at the end of the soak.
      await page.waitForTimeout(60_000 - 7000);
      const start = await memoryOf(page);
      await page.waitForTimeout((SOAK_S - 60) * 1000);
      const end = await memoryOf(page);
      result.soak = { seconds: SOAK_S, after_first_minute: start, end, growth: end.total_bytes / start.total_bytes - 1 };
    }
    return result;
  } finally {
    await camera.close();
  }
}

const { server, origin } = await serve();
const browser = await launch();
try {
  const colds = Object.fromEntries(WORKERS.map((w) => [w, []]));
  const emptyPageMs = [];
  for (let run = 0; run < COLD_RUNS; run++) {
    for (const workers of run % 2 ? [...WORKERS].reverse() : WORKERS) colds[workers].push(await coldStart(browser, origin, workers));
    emptyPageMs.push(await emptyPageFirstResult(browser, origin));
  }
  const coldOf = (runs) => ({
    files: runs[0].files,
    firstResultMs: median(runs.map((c) => c.firstResultMs)),
    domContentLoadedMs: median(runs.map((c) => c.domContentLoadedMs)),
    modelReadyMs: median(runs.map((c) => c.modelReadyMs)),
    allFirstResultsMs: runs.map((c) => Math.round(c.firstResultMs)),
  });
  const coldBy = Object.fromEntries(WORKERS.map((w) => [w, coldOf(colds[w])]));
  const cold = { ...coldBy[2], emptyPageMs: median(emptyPageMs) };
  const afterReadyBy = {};
  for (const workers of WORKERS) afterReadyBy[workers] = await firstResultAfterReady(browser, origin, workers);
  const afterReadyMs = afterReadyBy[2];
  const photos = [];
  for (const [name, width] of [['group', 640], ['solvay', 640], ['solvay', 1024], ['portrait', 200]]) photos.push(await photoTimings(browser, origin, name, width));
  const phone = await phonePhoto(browser, origin);
  const manyRuns = Object.fromEntries(WORKERS.map((w) => [w, []]));
  for (let round = 0; round < MANY_ROUNDS; round++) {
    for (const workers of round % 2 ? [...WORKERS].reverse() : WORKERS) manyRuns[workers].push(await manyPhotos(browser, origin, workers));
  }
  const manyBy = Object.fromEntries(WORKERS.map((w) => [w, {
    ...manyRuns[w][0],
    ms: median(manyRuns[w].map((r) => r.ms)),
    all_ms: manyRuns[w].map((r) => Math.round(r.ms)),
    memory: Object.fromEntries(['total_bytes', 'js_heap_bytes', 'wasm_bytes', 'process_bytes'].map((k) => [k, Math.max(...manyRuns[w].map((r) => r.memory[k]))])),
  }]));
  const many = manyBy[2];
  const camera = await cameraFps(browser, origin);
  const total = cold.files.reduce((s, f) => s + f.bytes, 0);
  const totalGzip = cold.files.reduce((s, f) => s + f.gzip, 0);
  for (const f of cold.files) console.log(`${f.file.padEnd(28)} ${String(f.bytes).padStart(9)} B  gzip ${String(f.gzip).padStart(9)} B`);
  console.log(`${'total'.padEnd(28)} ${String(total).padStart(9)} B  gzip ${String(totalGzip).padStart(9)} B`);
  for (const workers of WORKERS) {
    const c = coldBy[workers];
    console.log(`${workers} worker${workers > 1 ? 's' : ''}: first result ${c.firstResultMs.toFixed(0)} ms after navigation start (cold, median of ${COLD_RUNS} loads: ` +
      `${c.allFirstResultsMs.join(', ')} ms; DOMContentLoaded ${c.domContentLoadedMs.toFixed(0)} ms, model ready ` +
      `${c.modelReadyMs.toFixed(0)} ms); first result after ready ${afterReadyBy[workers].toFixed(0)} ms from the drop (photo dropped 1 s after the page was ready)`);
  }
  console.log(`an empty page timed the same way: ${cold.emptyPageMs.toFixed(0)} ms (median of ${COLD_RUNS}, loads alternated with ` +
    `the page's): the browser's and this harness's share of the first result`);
  for (const p of photos) {
    console.log(`${{ solvay: 'Solvay', group: 'group of four', portrait: 'portrait' }[p.name]} ${p.width} px: ${p.faces} faces, median ${p.median_ms.toFixed(1)} ms in the worker ` +
      `(detection ${p.median_detect_ms.toFixed(1)} ms, classification ${p.median_classify_ms.toFixed(1)} ms; ${p.runs} runs ` +
      `after ${WARM_UP_RUNS} to warm up, the fastest ${p.fastest_ms.toFixed(1)} ms; the first run took ${p.first_ms.toFixed(0)} ms)`);
  }
  const mb = (bytes) => (bytes / 2 ** 20).toFixed(0);
  console.log(`12-megapixel photo (4032×3024 JPEG, ${mb(phone.file_bytes)} MB) dropped after ready: ${phone.faces} faces listed after ` +
    `${phone.ms.toFixed(0)} ms (median of ${phone.all_ms.join(', ')} ms); the worker's wasm memory ${mb(phone.wasm_bytes)} MB`);
  for (const workers of WORKERS) {
    const m = manyBy[workers];
    console.log(`${m.photos} photos dropped at once, ${workers} worker${workers > 1 ? 's' : ''}: all listed after ${(m.ms / 1000).toFixed(1)} s (${m.all_ms.join(', ')} ms); ` +
      `${m.long_tasks ? `${m.long_tasks} main-thread tasks over 50 ms, the longest ${m.longest_task_ms.toFixed(0)} ms` : 'no main-thread task over 50 ms'}; ` +
      `memory at the end ${mb(m.memory.total_bytes)} MB (JS heap ${mb(m.memory.js_heap_bytes)} MB, wasm ${mb(m.memory.wasm_bytes)} MB); ` +
      `the tab's renderer process ${mb(m.memory.process_bytes)} MB private`);
  }
  const ratio = (k) => (manyBy[2].memory[k] / manyBy[1].memory[k]).toFixed(2);
  console.log(`2 workers against 1: 300 photos ${(manyBy[2].ms / manyBy[1].ms).toFixed(2)}×, memory ${ratio('total_bytes')}× (JS heap and wasm), ` +
    `${ratio('process_bytes')}× (the renderer process), ` +
    `cold first result ${(coldBy[2].firstResultMs - coldBy[1].firstResultMs).toFixed(0)} ms later`);
  console.log(`camera ${camera.width}×${camera.height} (one face): ${camera.fps} FPS, detection ${camera.detect_ms} ms per frame (medians of 5 readings)`);
  if (camera.soak) {
    console.log(`camera for ${camera.soak.seconds} s: memory ${mb(camera.soak.after_first_minute.total_bytes)} MB after the first minute, ` +
      `${mb(camera.soak.end.total_bytes)} MB at the end (${(100 * camera.soak.growth).toFixed(1)} %)`);
  }
  console.log(JSON.stringify({ total_bytes: total, total_gzip_bytes: totalGzip, first_result_ms: cold.firstResultMs, cold_first_results_ms: cold.allFirstResultsMs, empty_page_first_result_ms: cold.emptyPageMs, first_result_after_ready_ms: afterReadyMs, model_ready_ms: cold.modelReadyMs, by_workers: Object.fromEntries(WORKERS.map((w) => [w, { cold: { ...coldBy[w], files: undefined }, first_result_after_ready_ms: afterReadyBy[w], many: manyBy[w] }])), photos, phone, many, camera, files: cold.files }));
} finally {
  await browser.close();
  server.close();
}
