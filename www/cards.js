// Result cards: the annotated picture, its numbered faces and labels, downloads; and every
// result of the visit, for "download all". A finished card keeps a small picture and the
// File it came from (read again for a download), never a full-size canvas or the file's bytes.

const $ = (selector, root = document) => root.querySelector(selector);

// Labels, "uncertain" and the calibrated confidence all come from the wasm module, so the
// page and the command line always agree.
export function describe(face) {
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
export function leftToRight(faces) {
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
export function drawBoxes(ctx, faces, scale, fontPx) {
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

/** Label size in canvas pixels that shows as about `cssPx` CSS px when a canvas
 *  `canvasWidth` px wide is shown `shownWidth` px wide (never enlarged; the downloaded image
 *  has the labels at the same scale). */
export function labelFontPx(canvasWidth, shownWidth, cssPx = 13) {
  return Math.max(10, Math.round((cssPx * canvasWidth) / Math.max(1, Math.min(shownWidth || canvasWidth, canvasWidth))));
}

export function download(name, blob) {
  const url = URL.createObjectURL(blob);
  const a = Object.assign(document.createElement('a'), { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

const MAX_CANVAS_SIDE = 1600;

/** The picture with its boxes and labels on a canvas of at most MAX_CANVAS_SIDE px. */
function annotate(bitmap, analysis, faces, shownWidth) {
  const scale = Math.min(1, MAX_CANVAS_SIDE / Math.max(analysis.width, analysis.height));
  const canvas = document.createElement('canvas');
  canvas.className = 'annotated';
  canvas.width = Math.round(analysis.width * scale);
  canvas.height = Math.round(analysis.height * scale);
  const ctx = canvas.getContext('2d');
  if (bitmap) ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  drawBoxes(ctx, faces, scale, labelFontPx(canvas.width, shownWidth));
  return canvas;
}

const toBlob = (canvas, type, quality) => new Promise((resolve) => canvas.toBlob(resolve, type, quality));

/** `canvas` shrunk to `width` px (never enlarged), as a JPEG. */
function shrunkJpeg(canvas, width) {
  if (width >= canvas.width) return toBlob(canvas, 'image/jpeg', 0.9);
  const small = document.createElement('canvas');
  small.width = width;
  small.height = Math.max(1, Math.round((canvas.height * width) / canvas.width));
  small.getContext('2d').drawImage(canvas, 0, 0, small.width, small.height);
  return toBlob(small, 'image/jpeg', 0.9);
}

function stem(name) {
  return (name || 'image').replace(/\.[^.]+$/, '');
}

/** One list entry: a small picture of the face and its number and label. */
function faceItem(face, index, bitmap) {
  const li = document.createElement('li');
  if (bitmap) {
    const thumb = document.createElement('canvas');
    thumb.width = thumb.height = 96;
    const [x, y, w, h] = face.box;
    thumb.getContext('2d').drawImage(bitmap, x, y, w, h, 0, 0, 96, 96);
    const img = Object.assign(document.createElement('img'), { src: thumb.toDataURL('image/jpeg', 0.85), alt: '' });
    li.append(img);
  }
  const text = document.createElement('span');
  text.className = `label-${face.label}`;
  text.textContent = `Face ${index + 1}: ${describe(face)}${face.whole_image ? ' (whole image)' : ''}`;
  li.append(text);
  return li;
}

/** Every result of this visit, in the order the files were done: `{ file, width, height,
 *  faces, error }`, faces numbered left to right as on the cards. */
export const allResults = [];

const CSV_HEADER = ['file', 'width', 'height', 'face', 'x', 'y', 'w', 'h', 'label', 'likely', 'confidence', 'p_male', 'detector_score', 'error'];

function csvField(value) {
  const text = value === null || value === undefined ? '' : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The results as CSV, the columns of `genderlens predict --csv`: one row per face; an image
 *  without faces, or with an error, gets one row. */
export function resultsCsv(results) {
  const rows = [CSV_HEADER];
  for (const r of results) {
    const image = [r.file, r.width, r.height];
    if (!r.faces.length) rows.push([...image, '', '', '', '', '', '', '', '', '', '', r.error]);
    r.faces.forEach((f, i) => rows.push([...image, i + 1, ...f.box.map((v) => v.toFixed(1)), f.label, f.likely,
      f.confidence.toFixed(4), f.p_male.toFixed(4), f.detector_score?.toFixed(3) ?? '', r.error]));
  }
  return rows.map((row) => row.map(csvField).join(',')).join('\n') + '\n';
}

/** Shows one file's result at the top of the list. `bitmap` (or null for a format the
 *  browser cannot draw) is only borrowed: the caller closes it. */
export async function renderResult(file, bitmap, analysis, inference) {
  const card = $('#result-template').content.firstElementChild.cloneNode(true);
  const name = file.name || 'pasted image';
  $('.name', card).textContent = name;
  const picture = $('.annotated', card);
  const facesEl = $('.faces', card);
  const summary = $('.summary', card);
  const wholeButton = $('.whole', card);
  const record = { file: name, width: analysis.width, height: analysis.height, faces: leftToRight(analysis.faces), error: null };
  // In the page before drawing: its width decides the labels' size.
  document.querySelector('#results').prepend(card);
  const shownWidth = () => $('.figure', card).clientWidth || MAX_CANVAS_SIDE;

  const show = async (bitmap) => {
    const { faces } = record;
    const canvas = annotate(bitmap, analysis, faces, shownWidth());
    facesEl.replaceChildren(...faces.map((face, i) => faceItem(face, i, bitmap)));
    const timing = analysis.detect_ms !== undefined ? ` Detection ${analysis.detect_ms.toFixed(0)} ms, classification ${analysis.classify_ms.toFixed(0)} ms.` : '';
    summary.textContent = faces.length
      ? `${faces.length} face${faces.length > 1 ? 's' : ''} found.${timing}`
      : `No face found.${timing} If the picture is already a close crop of one face, you can classify it as a whole.`;
    wholeButton.hidden = faces.length > 0;
    picture.alt = `${name}: ${faces.length ? faces.map((f, i) => `${i + 1} ${describe(f)}`).join(', ') : 'no face found'}`;
    // The text is complete above; the picture follows once encoded.
    const thumbnail = await shrunkJpeg(canvas, Math.ceil(shownWidth() * (window.devicePixelRatio || 1)));
    canvas.width = canvas.height = 0; // its memory goes now, not at the next collection
    if (picture.src) URL.revokeObjectURL(picture.src);
    picture.src = URL.createObjectURL(thumbnail);
  };
  /** The file's picture again, for a redraw or a download (null if the browser cannot draw it). */
  const reread = () => createImageBitmap(file).catch(() => null);

  wholeButton.addEventListener('click', async () => {
    wholeButton.disabled = true;
    try {
      const face = await inference.call({ op: 'whole-file', file });
      face.whole_image = true;
      record.faces = [face];
      const again = await reread();
      await show(again);
      again?.close();
      summary.textContent = 'Classified as a whole image (no face was detected, so this is less reliable).';
    } catch (e) {
      summary.textContent = `Could not classify: ${e.message}`;
    } finally {
      wholeButton.disabled = false;
    }
  });
  $('.download-png', card).addEventListener('click', async () => {
    const again = await reread();
    const canvas = annotate(again, analysis, record.faces, shownWidth());
    again?.close();
    download(`${stem(name)}-genderlens.png`, await toBlob(canvas, 'image/png'));
  });
  $('.download-json', card).addEventListener('click', () => {
    const json = JSON.stringify({ file: name, width: analysis.width, height: analysis.height, faces: record.faces }, null, 2);
    download(`${stem(name)}-genderlens.json`, new Blob([json], { type: 'application/json' }));
  });
  try {
    await show(bitmap);
  } catch (e) {
    card.remove(); // the error card takes its place
    throw e;
  }
  allResults.push(record);
}

export function renderError(file, message) {
  const card = document.createElement('article');
  card.className = 'result error-card';
  const h2 = document.createElement('h2');
  h2.textContent = file.name || 'pasted item';
  const p = document.createElement('p');
  p.className = 'error';
  p.textContent = `Could not read this file: ${message}`;
  card.append(h2, p);
  document.querySelector('#results').prepend(card);
  allResults.push({ file: file.name || 'pasted item', width: null, height: null, faces: [], error: message });
}
