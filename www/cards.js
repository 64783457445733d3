// Result cards: the annotated picture, its numbered faces and labels, downloads; and every
// result of the visit, for "download all". A finished card keeps a small picture and the
// File it came from (read again for a download), never a full-size canvas or the file's bytes.

const $ = (selector, root = document) => root.querySelector(selector);

import { describe, drawMarks, lineWidthFor, withKey } from './marks.js';

/** Longest side of the picture a card draws on: the package hands its `picture` back at
 *  most this large. */
const DISPLAY_SIDE = 1600;

/** Faces in reading order of the picture, left to right: the numbers on the boxes and in the
 *  list follow it. */
export function leftToRight(faces) {
  return [...faces].sort((a, b) => a.box[0] + a.box[2] / 2 - (b.box[0] + b.box[2] / 2));
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

/** The picture with its boxes and marks on a canvas of at most DISPLAY_SIDE px:
 *  `{ canvas, marks }` (see marks.js). */
function annotate(bitmap, analysis, faces, shownWidth) {
  const scale = Math.min(1, DISPLAY_SIDE / Math.max(analysis.width, analysis.height));
  const canvas = document.createElement('canvas');
  canvas.className = 'annotated';
  canvas.width = Math.round(analysis.width * scale);
  canvas.height = Math.round(analysis.height * scale);
  const ctx = canvas.getContext('2d');
  if (bitmap) ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  const fontPx = labelFontPx(canvas.width, shownWidth);
  return { canvas, fontPx, marks: drawMarks(ctx, faces, scale, fontPx) };
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

/** One list entry: a small picture of the face and its number and label. `bitmap` shows
 *  the whole `photoWidth` px wide photo, maybe shrunk. */
function faceItem(face, index, bitmap, photoWidth) {
  const li = document.createElement('li');
  li.tabIndex = 0;
  if (bitmap) {
    const thumb = document.createElement('canvas');
    thumb.width = thumb.height = 96;
    const [x, y, w, h] = face.box.map((v) => (v * bitmap.width) / photoWidth);
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

/** Over the picture, one focusable spot per face box that names the face and shows its
 *  whole label on hover, focus or tap; a spot and its list entry light up together. */
function faceSpots(faces, analysis, items) {
  const spots = faces.map((face, i) => {
    const spot = document.createElement('button');
    spot.type = 'button';
    spot.className = `spot spot-${face.label}`;
    const [x, y, w, h] = face.box;
    Object.assign(spot.style, {
      left: `${(100 * x) / analysis.width}%`,
      top: `${(100 * y) / analysis.height}%`,
      width: `${(100 * w) / analysis.width}%`,
      height: `${(100 * h) / analysis.height}%`,
    });
    spot.dataset.label = `${i + 1} ${describe(face)}`;
    spot.setAttribute('aria-label', `Face ${i + 1}: ${describe(face)}`);
    return spot;
  });
  spots.forEach((spot, i) => {
    const item = items[i];
    const light = (on) => () => { spot.classList.toggle('lit', on); item.classList.toggle('lit', on); };
    for (const el of [spot, item]) {
      el.addEventListener('focus', light(true));
      el.addEventListener('blur', light(false));
      el.addEventListener('mouseenter', light(true));
      el.addEventListener('mouseleave', light(false));
    }
  });
  return spots;
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
 *  browser cannot draw) is only borrowed: the caller closes it. `classifyWhole(file)` is the
 *  face of the whole picture, for a photo that is already a crop. */
export async function renderResult(file, bitmap, analysis, classifyWhole) {
  const card = $('#result-template').content.firstElementChild.cloneNode(true);
  const name = file.name || 'pasted image';
  $('.name', card).textContent = name;
  const picture = $('.annotated', card);
  const facesEl = $('.faces', card);
  const spotsEl = $('.spots', card);
  const summary = $('.summary', card);
  const wholeButton = $('.whole', card);
  const record = { file: name, width: analysis.width, height: analysis.height, faces: leftToRight(analysis.faces), error: null };
  // In the page before drawing: its width decides the labels' size.
  document.querySelector('#results').prepend(card);
  // Listed with its card, not after its picture is drawn: "download all" clicked as soon as
  // the card shows must include it (a large photo's thumbnail takes a while).
  allResults.push(record);
  const shownWidth = () => $('.picture', card).clientWidth || DISPLAY_SIDE;

  const show = async (bitmap) => {
    const { faces } = record;
    const { canvas, fontPx, marks } = annotate(bitmap, analysis, faces, shownWidth());
    const items = faces.map((face, i) => faceItem(face, i, bitmap, analysis.width));
    facesEl.replaceChildren(...items);
    spotsEl.replaceChildren(...faceSpots(faces, analysis, items));
    // Where the marks are, in the picture's pixels, for the tests that read them.
    picture.dataset.marks = JSON.stringify({ width: canvas.width, lineWidth: lineWidthFor(fontPx), marks });
    const timing = analysis.detect_ms !== undefined ? ` Detection ${analysis.detect_ms.toFixed(0)} ms, classification ${analysis.classify_ms.toFixed(0)} ms.` : '';
    summary.textContent = faces.length
      ? `${faces.length} face${faces.length > 1 ? 's' : ''} found.${timing}`
      : `No face found.${timing} If the picture is already a close crop of one face, you can classify it as a whole.`;
    wholeButton.hidden = faces.length > 0;
    picture.alt = `${name}: ${faces.length ? `${faces.length} numbered face${faces.length > 1 ? 's' : ''}, listed beside the picture` : 'no face found'}`;
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
      const face = await classifyWhole(file);
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
    const { canvas, fontPx, marks } = annotate(again, analysis, record.faces, shownWidth());
    again?.close();
    // Faces that show only their number are listed, with their labels, under the picture.
    const keyed = marks.every((m) => m.full) ? canvas : withKey(canvas, record.faces, fontPx);
    download(`${stem(name)}-genderlens.png`, await toBlob(keyed, 'image/png'));
  });
  $('.download-json', card).addEventListener('click', () => {
    const json = JSON.stringify({ file: name, width: analysis.width, height: analysis.height, faces: record.faces }, null, 2);
    download(`${stem(name)}-genderlens.json`, new Blob([json], { type: 'application/json' }));
  });
  try {
    await show(bitmap);
  } catch (e) {
    // The error card and its record take their place.
    card.remove();
    allResults.splice(allResults.indexOf(record), 1);
    throw e;
  }
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
