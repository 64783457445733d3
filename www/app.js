// GenderLens page: files, paste and camera in; boxes, labels and confidence out.
// All inference runs in worker.js; no request leaves this origin.

const CAMERA_MAX_WIDTH = 640;

const $ = (selector, root = document) => root.querySelector(selector);
const statusEl = $('#status');
const progressEl = $('#progress');
const resultsEl = $('#results');

function setStatus(text, isError = false) {
  statusEl.textContent = text;
  statusEl.classList.toggle('error', isError);
}

/** Promise-based client for the inference worker; restarts it if the module dies. */
class Inference {
  constructor() {
    this.failedStarts = 0;
    this.pending = new Map();
    this.nextId = 1;
    /** Calls waiting for the worker to start. */
    this.waiting = 0;
    this.start();
  }

  start() {
    this.ready = new Promise((resolve, reject) => {
      this.worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
      this.worker.onmessage = ({ data }) => {
        if (data.type === 'ready') {
          this.failedStarts = 0;
          // With no photo waiting, the worker runs its pipeline on a sample to have the
          // browser compile and optimise it before the first real one.
          if (this.waiting === 0) this.worker.postMessage({ op: 'warm-up' });
          return resolve(data.ms);
        }
        if (data.type === 'fatal') return reject(new Error(data.message));
        const entry = this.pending.get(data.id);
        if (!entry) return;
        this.pending.delete(data.id);
        if (data.ok) entry.resolve(data.result);
        else entry.reject(new Error(data.error));
        if (data.fatal) this.restart();
      };
      this.worker.onerror = (e) => {
        reject(new Error(e.message || 'the worker failed to start'));
        // A worker that cannot even start would fail again: give up after a few tries.
        if (++this.failedStarts <= 3) this.restart();
      };
    });
    this.ready.catch(() => {});
  }

  restart() {
    this.worker.terminate();
    for (const entry of this.pending.values()) entry.reject(new Error('The model stopped and was restarted; please try again.'));
    this.pending.clear();
    this.start();
  }

  async call(message, transfer = []) {
    this.waiting += 1;
    try {
      await this.ready;
    } finally {
      this.waiting -= 1;
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...message, id }, transfer);
    });
  }
}

// Labels, "uncertain" and the calibrated confidence all come from the wasm module, so the
// page and the command line always agree.
function describe(face) {
  const pct = Math.round(100 * face.confidence);
  return face.label === 'uncertain' ? `uncertain (${face.likely} ${pct}%)` : `${face.label} ${pct}%`;
}

const COLORS = { female: '#d0197f', male: '#1673d1', uncertain: '#6b6b6b' };
const SHORT = { female: 'F', male: 'M' };

/** The label's short form, for crowded pictures: "F 97%", "? M 62%". */
function describeShort(face) {
  const pct = `${Math.round(100 * face.confidence)}%`;
  return face.label === 'uncertain' ? `? ${SHORT[face.likely]} ${pct}` : `${SHORT[face.label]} ${pct}`;
}

/** Faces in reading order of the picture, left to right: the numbers on the boxes and in the
 *  list follow it. */
function leftToRight(faces) {
  return [...faces].sort((a, b) => a.box[0] + a.box[2] / 2 - (b.box[0] + b.box[2] / 2));
}

function overlap(a, b) {
  const w = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
  return w > 0 && h > 0 ? w * h : 0;
}

/** Where each face's label goes: above its box, else below, else inside it, in the long form
 *  if that fits without covering another label or face, else in the short form; when nothing
 *  fits, the place that covers least. Returns `{ x, y, w, h, text }` per face. */
function placeLabels(ctx, faces, boxes, fontPx, width, height) {
  const th = Math.round(fontPx * 1.3);
  const pad = Math.round(fontPx * 0.3);
  const placed = [];
  faces.forEach((face, i) => {
    const [x, y, w, h] = boxes[i];
    let best = null;
    for (const text of [`${i + 1} ${describe(face)}`, `${i + 1} ${describeShort(face)}`]) {
      const tw = Math.ceil(ctx.measureText(text).width) + 2 * pad;
      for (const [cx, cy] of [[x, y - th], [x, y + h], [x, y], [x, y + h - th]]) {
        const r = { x: Math.max(0, Math.min(cx, width - tw)), y: Math.max(0, Math.min(cy, height - th)), w: tw, h: th, text };
        // Covering another label hides it; covering another face only partly hides it.
        const cost = placed.reduce((sum, p) => sum + 4 * overlap(r, p), 0)
          + boxes.reduce((sum, [bx, by, bw, bh], j) => sum + (j === i ? 0 : overlap(r, { x: bx, y: by, w: bw, h: bh })), 0);
        if (!best || cost < best.cost) best = { ...r, cost };
        if (cost === 0) break;
      }
      if (best.cost === 0) break;
    }
    placed.push(best);
  });
  return placed;
}

/** Draws each face's box and its numbered label. `fontPx` is the label size in canvas pixels. */
function drawBoxes(ctx, faces, scale, fontPx) {
  const boxes = faces.map((face) => face.box.map((v) => v * scale));
  ctx.lineWidth = Math.max(2, Math.round(fontPx / 6));
  ctx.font = `600 ${fontPx}px system-ui, sans-serif`;
  ctx.textBaseline = 'middle';
  faces.forEach((face, i) => {
    ctx.strokeStyle = COLORS[face.label];
    ctx.strokeRect(...boxes[i]);
  });
  // Labels after every box, so that no box line crosses a label.
  const labels = placeLabels(ctx, faces, boxes, fontPx, ctx.canvas.width, ctx.canvas.height);
  labels.forEach((label, i) => {
    ctx.fillStyle = COLORS[faces[i].label];
    ctx.fillRect(label.x, label.y, label.w, label.h);
    ctx.fillStyle = '#fff';
    ctx.fillText(label.text, label.x + Math.round(fontPx * 0.3), label.y + label.h / 2);
  });
}

/** Label size in canvas pixels that shows as about `cssPx` on screen, however much the page
 *  shrinks the canvas (also the size in the downloaded image). */
function labelFontPx(canvas, cssPx = 13) {
  const shown = canvas.getBoundingClientRect().width || canvas.width;
  return Math.max(10, Math.round((cssPx * canvas.width) / shown));
}

function download(name, blob) {
  const url = URL.createObjectURL(blob);
  const a = Object.assign(document.createElement('a'), { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

const MAX_CANVAS_SIDE = 1600;

/** One result card: annotated canvas, face list, actions. */
function renderResult(file, bitmap, analysis, inference, bytes) {
  const card = $('#result-template').content.firstElementChild.cloneNode(true);
  $('.name', card).textContent = file.name || 'pasted image';
  const canvas = $('.annotated', card);
  const facesEl = $('.faces', card);
  const summary = $('.summary', card);
  const wholeButton = $('.whole', card);
  let faces = leftToRight(analysis.faces);
  const scale = Math.min(1, MAX_CANVAS_SIDE / Math.max(analysis.width, analysis.height));

  const redraw = () => {
    canvas.width = Math.round(analysis.width * scale);
    canvas.height = Math.round(analysis.height * scale);
    const ctx = canvas.getContext('2d');
    if (bitmap) ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    drawBoxes(ctx, faces, scale, labelFontPx(canvas));
    canvas.setAttribute('role', 'img');
    canvas.setAttribute('aria-label', `${file.name}: ${faces.length ? faces.map(describe).join(', ') : 'no face found'}`);
    facesEl.replaceChildren(...faces.map((face, i) => faceItem(face, i, bitmap)));
    const timing = analysis.detect_ms !== undefined ? ` Detection ${analysis.detect_ms.toFixed(0)} ms, classification ${analysis.classify_ms.toFixed(0)} ms.` : '';
    summary.textContent = faces.length
      ? `${faces.length} face${faces.length > 1 ? 's' : ''} found.${timing}`
      : `No face found.${timing} If the picture is already a close crop of one face, you can classify it as a whole.`;
    wholeButton.hidden = faces.length > 0;
  };

  wholeButton.addEventListener('click', async () => {
    wholeButton.disabled = true;
    try {
      const face = await inference.call({ op: 'whole-bytes', bytes: bytes.slice(0) });
      face.whole_image = true;
      faces = [face];
      redraw();
      summary.textContent = 'Classified as a whole image (no face was detected, so this is less reliable).';
    } catch (e) {
      summary.textContent = `Could not classify: ${e.message}`;
    } finally {
      wholeButton.disabled = false;
    }
  });
  $('.download-png', card).addEventListener('click', () => canvas.toBlob((blob) => download(`${stem(file.name)}-genderlens.png`, blob), 'image/png'));
  $('.download-json', card).addEventListener('click', () => {
    const json = JSON.stringify({ file: file.name, width: analysis.width, height: analysis.height, faces }, null, 2);
    download(`${stem(file.name)}-genderlens.json`, new Blob([json], { type: 'application/json' }));
  });
  // In the page before drawing: a canvas of the template's inert document draws no text.
  resultsEl.prepend(card);
  try {
    redraw();
  } catch (e) {
    card.remove(); // the error card takes its place
    throw e;
  }
}

function stem(name) {
  return (name || 'image').replace(/\.[^.]+$/, '');
}

function faceItem(face, index, bitmap) {
  const li = document.createElement('li');
  const label = face.label;
  if (bitmap) {
    const thumb = document.createElement('canvas');
    thumb.width = thumb.height = 96;
    const [x, y, w, h] = face.box;
    thumb.getContext('2d').drawImage(bitmap, x, y, w, h, 0, 0, 96, 96);
    thumb.setAttribute('aria-hidden', 'true');
    li.append(thumb);
  }
  const text = document.createElement('span');
  text.className = `label-${label}`;
  text.textContent = `Face ${index + 1}: ${describe(face)}${face.whole_image ? ' (whole image)' : ''}`;
  li.append(text);
  return li;
}

function renderError(file, message) {
  const card = document.createElement('article');
  card.className = 'result error-card';
  const h2 = document.createElement('h2');
  h2.textContent = file.name || 'pasted item';
  const p = document.createElement('p');
  p.className = 'error';
  p.textContent = `Could not read this file: ${message}`;
  card.append(h2, p);
  resultsEl.prepend(card);
}

let queue = Promise.resolve();

function handleFiles(files, inference) {
  const list = [...files];
  if (!list.length) return;
  progressEl.hidden = false;
  progressEl.max = list.length;
  progressEl.value = 0;
  for (const file of list) {
    queue = queue
      .then(() => processFile(file, inference))
      // A failure while showing one file's result must not stop the files after it.
      .catch((e) => renderError(file, e.message))
      .finally(() => {
        progressEl.value += 1;
        setStatus(`Processed ${progressEl.value} of ${list.length}.`);
        if (progressEl.value >= list.length) progressEl.hidden = true;
      });
  }
}

async function processFile(file, inference) {
  setStatus(`Analysing ${file.name || 'image'}…`);
  let bytes;
  try {
    bytes = await file.arrayBuffer();
  } catch (e) {
    renderError(file, e.message);
    return;
  }
  // The browser decodes the picture for display while the worker analyses it.
  // A format it cannot draw gives no picture; the results are still listed as text.
  const bitmap = createImageBitmap(file).catch(() => null);
  let analysis;
  try {
    analysis = await inference.call({ op: 'bytes', bytes: bytes.slice(0) });
  } catch (e) {
    renderError(file, e.message);
    bitmap.then((b) => b?.close());
    return;
  }
  renderResult(file, await bitmap, analysis, inference, bytes);
}

/** Live camera: frames go to the worker one at a time; boxes drawn on an overlay. */
class Camera {
  constructor(inference) {
    this.inference = inference;
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
      const pixels = gctx.getImageData(0, 0, w, h).data;
      let analysis;
      try {
        analysis = await this.inference.call({ op: 'rgba', data: pixels.buffer, width: w, height: h }, [pixels.buffer]);
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
      drawBoxes(octx, faces, 1 / scale, labelFontPx(this.overlay, 14));
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
  const inference = new Inference();
  inference.ready.then(
    () => {
      performance.mark('genderlens-ready'); // read by the benchmark
      setStatus(`Ready (model loaded in ${Math.round(performance.now() - t0)} ms). Drop, paste or choose images.`);
      // Photos dropped while the model loaded go first: caching the site fetches every
      // file again and, on a small machine, slowed the first result by about 10 %.
      queue.finally(enableOffline);
    },
    (e) => setStatus(e.message, true),
  );

  const fileInput = $('#file-input');
  fileInput.addEventListener('change', () => {
    handleFiles(fileInput.files, inference);
    fileInput.value = '';
  });
  $('#dropzone').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      fileInput.click();
    }
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
    handleFiles(e.dataTransfer?.files ?? [], inference);
  });
  document.addEventListener('paste', (e) => {
    const files = [...(e.clipboardData?.items ?? [])].filter((i) => i.kind === 'file').map((i) => i.getAsFile()).filter(Boolean);
    if (files.length) handleFiles(files, inference);
  });

  const camera = new Camera(inference);
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
