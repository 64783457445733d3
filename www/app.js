// GenderLens page: files, paste and camera in; boxes, labels and confidence out.
// All inference runs in the GenderLens package's workers (genderlens/, the npm package as
// built); no request leaves this origin.

// Frames are searched at this width: a webcam's faces are large (a face of 40 px in the video
// is 20 px here, still found), and the detector's time grows with the pixels.
const CAMERA_MAX_WIDTH = 320;

import { allResults, download, labelFontPx, leftToRight, renderError, renderResult, resultsCsv } from './cards.js';
import { describe, drawMarks } from './marks.js';
import { cliAnalysis, cliFace } from './record.js';
import { GenderLens } from './genderlens/index.js';

const $ = (selector, root = document) => root.querySelector(selector);
const statusEl = $('#status');
const progressEl = $('#progress');
const resultsEl = $('#results');

function setStatus(text, isError = false) {
  statusEl.textContent = text;
  statusEl.classList.toggle('error', isError);
}

/** The GenderLens package, once started (see main). */
let lens = null;
let lensReady = null;

/** The files dropped, pasted or chosen since the list was last empty: how many, how many are
 *  done, the ones not yet handed to the package, and the signal that cancels the rest. */
let batch = null;
/** Files handed to the package and not yet shown. */
let running = 0;
/** Called when no file is waiting or running. */
let whenIdle = [];

function showBatch() {
  progressEl.max = batch.total;
  progressEl.value = batch.done;
  $('#batch').hidden = batch.done >= batch.total;
  $('#all-results').hidden = allResults.length === 0;
}

function handleFiles(files) {
  const list = [...files];
  if (!list.length) return;
  if (!batch || batch.done >= batch.total) batch = { total: 0, done: 0, waiting: [], controller: new AbortController() };
  batch.total += list.length;
  batch.waiting.push(...list);
  showBatch();
  lensReady.then(() => pump(batch), () => {});
}

/** Hands files to the package: two per worker, so that none waits between photos, and few
 *  enough that "cancel" leaves little under way. Results show in the order they are done. */
function pump(mine) {
  while (mine.waiting.length && running < 2 * lens.workers) {
    const file = mine.waiting.shift();
    running += 1;
    processFile(file, mine.controller.signal)
      // A failure while showing one file's result must not stop the files after it.
      .catch((e) => renderError(file, e.message))
      .finally(() => {
        running -= 1;
        mine.done += 1;
        if (mine === batch) {
          showBatch();
          if (!mine.controller.signal.aborted) setStatus(`Processed ${mine.done} of ${mine.total}. ${lastResultLine()}`);
        }
        pump(batch);
        if (running === 0 && !batch.waiting.length) whenIdle.splice(0).forEach((resolve) => resolve());
      });
  }
}

function cancelBatch() {
  if (!batch || batch.done >= batch.total) return;
  const left = batch.total - batch.done;
  batch.done += batch.waiting.length;
  batch.waiting = [];
  batch.controller.abort(); // the files under way stop too: their results are not shown
  showBatch();
  setStatus(`Cancelled: ${left} file(s) left unprocessed.`);
}

/** The newest result in words, for the status line (a live region: screen readers say it). */
function lastResultLine() {
  const last = allResults.at(-1);
  if (!last) return '';
  if (last.error) return `${last.file}: could not be read.`;
  const counts = ['female', 'male', 'uncertain'].map((l) => [l, last.faces.filter((f) => f.label === l).length]).filter(([, n]) => n);
  const n = last.faces.length;
  return `${last.file}: ${n ? `${n} face${n > 1 ? 's' : ''} (${counts.map(([l, c]) => `${c} ${l}`).join(', ')})` : 'no face found'}.`;
}

async function processFile(file, signal) {
  setStatus(`Analysing ${file.name || 'image'}…`);
  let result;
  try {
    // Decoded once in the package's worker, for the analysis and for the picture shown here.
    result = await lens.analyze(file, { picture: true, signal });
  } catch (e) {
    if (e.code !== 'aborted') renderError(file, e.message);
    return;
  }
  if (signal.aborted) {
    // Done just as the visitor cancelled: not shown, like the rest of the batch.
    result.picture.close();
    return;
  }
  try {
    await renderResult(file, result.picture, cliAnalysis(result), (whole) => lens.classifyFace(whole).then(cliFace));
  } finally {
    result.picture.close();
  }
}

/** Live camera: frames go to the worker one at a time; boxes drawn on an overlay. */
class Camera {
  constructor() {
    this.video = $('#video');
    this.overlay = $('#overlay');
    this.stats = $('#camera-stats');
    this.grab = document.createElement('canvas');
    this.facing = 'user';
    this.stream = null;
  }

  async start() {
    this.stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: this.facing }, audio: false });
    this.video.srcObject = this.stream;
    await this.video.play();
    $('#camera').hidden = false;
    this.frames = [];
    this.running = true;
    this.loop();
  }

  stop() {
    this.running = false;
    this.stream?.getTracks().forEach((t) => t.stop());
    this.stream = null;
    this.video.srcObject = null;
    $('#camera').hidden = true;
  }

  async switchFacing() {
    this.facing = this.facing === 'user' ? 'environment' : 'user';
    this.stop();
    await this.start();
  }

  async loop() {
    while (this.running) {
      const { videoWidth: vw, videoHeight: vh } = this.video;
      if (!vw || !vh) {
        await new Promise((r) => requestAnimationFrame(r));
        continue;
      }
      const scale = Math.min(1, CAMERA_MAX_WIDTH / vw);
      const w = Math.round(vw * scale);
      const h = Math.round(vh * scale);
      this.grab.width = w;
      this.grab.height = h;
      const gctx = this.grab.getContext('2d', { willReadFrequently: true });
      gctx.drawImage(this.video, 0, 0, w, h);
      let analysis;
      try {
        analysis = cliAnalysis(await lens.analyze(gctx.getImageData(0, 0, w, h)));
      } catch (e) {
        this.stats.textContent = `Camera frame failed: ${e.message}`;
        continue;
      }
      if (!this.running) break;
      this.overlay.width = vw;
      this.overlay.height = vh;
      const octx = this.overlay.getContext('2d');
      octx.clearRect(0, 0, vw, vh);
      const faces = leftToRight(analysis.faces);
      drawMarks(octx, faces, 1 / scale, labelFontPx(vw, this.overlay.getBoundingClientRect().width, 14));
      const now = performance.now();
      this.frames.push(now);
      while (this.frames.length && now - this.frames[0] > 1000) this.frames.shift();
      this.stats.textContent = `${this.frames.length} FPS · ${analysis.faces.length} face(s): ${faces.map((f, i) => `${i + 1} ${describe(f)}`).join(', ') || '—'} · detection ${analysis.detect_ms.toFixed(0)} ms`;
      this.overlay.setAttribute('data-faces', String(analysis.faces.length));
    }
  }
}

/** Caches the page and model so it works offline after the first visit (see sw.js).
 *  Called once the model has started and the photos dropped meanwhile are done, so
 *  caching never competes with the first load or the first result. */
function enableOffline() {
  if (!('serviceWorker' in navigator)) return;
  navigator.serviceWorker.register('./sw.js').then(
    () => document.documentElement.setAttribute('data-offline-ready', 'pending'),
    () => {}, // e.g. a plain-http host: the page still works, just not offline
  );
  navigator.serviceWorker.ready.then(() => document.documentElement.setAttribute('data-offline-ready', 'yes'));
}

function main() {
  if (typeof WebAssembly !== 'object') {
    setStatus('This browser does not support WebAssembly, which GenderLens needs.', true);
    return;
  }
  const t0 = performance.now();
  lensReady = GenderLens.create().then((created) => (lens = created));
  lensReady.then(
    () => {
      performance.mark('genderlens-ready'); // read by the benchmark
      setStatus(`Ready (model loaded in ${Math.round(performance.now() - t0)} ms). Drop, paste or choose images.`);
      // Photos dropped while the model loaded go first: caching the site fetches every
      // file again and, on a small machine, slowed the first result by about 10 %.
      const idle = running === 0 && !batch?.waiting.length;
      (idle ? Promise.resolve() : new Promise((resolve) => whenIdle.push(resolve))).then(enableOffline);
    },
    (e) => setStatus(e.message, true),
  );

  $('#cancel').addEventListener('click', cancelBatch);
  $('#download-all-json').addEventListener('click', () =>
    download('genderlens-results.json', new Blob([JSON.stringify(allResults, null, 2)], { type: 'application/json' })));
  $('#download-all-csv').addEventListener('click', () =>
    download('genderlens-results.csv', new Blob([resultsCsv(allResults)], { type: 'text/csv' })));

  const fileInput = $('#file-input');
  fileInput.addEventListener('change', () => {
    handleFiles(fileInput.files);
    fileInput.value = '';
  });
  document.addEventListener('dragover', (e) => {
    e.preventDefault();
    document.body.classList.add('dragging');
  });
  document.addEventListener('dragleave', (e) => {
    if (!e.relatedTarget) document.body.classList.remove('dragging');
  });
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    document.body.classList.remove('dragging');
    handleFiles(e.dataTransfer?.files ?? []);
  });
  document.addEventListener('paste', (e) => {
    const files = [...(e.clipboardData?.items ?? [])].filter((i) => i.kind === 'file').map((i) => i.getAsFile()).filter(Boolean);
    if (files.length) handleFiles(files);
  });

  const camera = new Camera();
  const toggle = $('#camera-toggle');
  const switcher = $('#camera-switch');
  toggle.addEventListener('click', async () => {
    if (camera.running) {
      camera.stop();
      toggle.textContent = 'Start camera';
      toggle.setAttribute('aria-pressed', 'false');
      switcher.hidden = true;
      return;
    }
    if (!navigator.mediaDevices?.getUserMedia) {
      setStatus('This browser cannot use a camera here (it needs a secure https:// or localhost page).', true);
      return;
    }
    try {
      await camera.start();
      toggle.textContent = 'Stop camera';
      toggle.setAttribute('aria-pressed', 'true');
      switcher.hidden = false;
    } catch (e) {
      const denied = e.name === 'NotAllowedError' || e.name === 'SecurityError';
      setStatus(denied ? 'Camera access was denied. Allow it in the browser settings to use live mode.' : `Could not start the camera: ${e.message}`, true);
    }
  });
  switcher.addEventListener('click', () => camera.switchFacing().catch((e) => setStatus(`Could not switch camera: ${e.message}`, true)));
}

main();
