// Marks on a picture: each face's box, coloured and patterned by its label (solid female,
// dashed male, dotted uncertain: colour is never the only cue), a badge with the face's
// number on the box's edge, grown into the whole label where that covers no face. Used for
// the cards, the downloaded images and the camera overlay.

export const COLORS = { female: '#d0197f', male: '#1673d1', uncertain: '#6b6b6b' };

/** Each label's line pattern, in line widths. */
const DASHES = { female: [], male: [4, 2], uncertain: [1, 1.5] };

/** The one wording of a face's answer, everywhere on the page: "female 97%", or for a face
 *  the model is not sure of "uncertain (female 67%)". Labels, "uncertain" and the calibrated
 *  confidence all come from the wasm module, so the page and the command line agree. */
export function describe(face) {
  const pct = Math.round(100 * face.confidence);
  return face.label === 'uncertain' ? `uncertain (${face.likely} ${pct}%)` : `${face.label} ${pct}%`;
}

function overlap(a, b) {
  const w = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
  return w > 0 && h > 0 ? w * h : 0;
}

const clamp = (v, lo, hi) => Math.max(lo, Math.min(v, hi));

/** Where each face's mark goes, in canvas pixels: `{ x, y, w, h, text, full }` per face
 *  (`full`: the whole label, else the number alone). A mark sits outside its box, touching
 *  its line; it may cover its own box's line, never the inside of its box nor any part of
 *  another face's box or mark. Numbers are placed first, so every face gets one; then each
 *  badge grows into the whole label where that fits. Only where nothing fits (faces packed
 *  edge to edge) does a number go where it covers least. */
export function layoutMarks(measure, faces, boxes, fontPx, lineWidth, width, height) {
  const th = Math.round(fontPx * 1.35);
  const pad = Math.round(fontPx * 0.35);
  const g = Math.ceil(lineWidth / 2);
  const kept = boxes.map(([x, y, w, h], i) => ({ i, x: x - g, y: y - g, w: w + 2 * g, h: h + 2 * g }));
  const inside = boxes.map(([x, y, w, h]) => ({ x: x + g, y: y + g, w: Math.max(0, w - 2 * g), h: Math.max(0, h - 2 * g) }));
  const marks = faces.map(() => null);
  const cost = (r, i) => kept.reduce((s, b) => s + (b.i === i ? overlap(r, inside[i]) : overlap(r, b)), 0)
    + marks.reduce((s, m, j) => s + (m && j !== i ? 4 * overlap(r, m) : 0), 0);
  const place = (i, text) => {
    const [x, y, w, h] = boxes[i];
    const tw = Math.ceil(measure(text)) + 2 * pad;
    // Above or below the box (left or right end), then beside it (top or bottom end).
    const spots = [[x - g, y - g - th], [x + w + g - tw, y - g - th], [x - g, y + h + g], [x + w + g - tw, y + h + g],
      [x - g - tw, y - g], [x + w + g, y - g], [x - g - tw, y + h + g - th], [x + w + g, y + h + g - th]];
    let best = null;
    for (const [sx, sy] of spots) {
      const r = { x: clamp(sx, 0, width - tw), y: clamp(sy, 0, height - th), w: tw, h: th, text };
      const c = cost(r, i);
      if (!best || c < best.cost) best = { ...r, cost: c };
      if (c === 0) break;
    }
    return best;
  };
  faces.forEach((_, i) => { marks[i] = { ...place(i, String(i + 1)), full: false }; });
  faces.forEach((face, i) => {
    const badge = marks[i];
    marks[i] = null;
    const label = place(i, `${i + 1} ${describe(face)}`);
    marks[i] = label.cost === 0 ? { ...label, full: true } : badge;
  });
  return marks.map(({ cost, ...m }) => m);
}

/** Line width for marks of `fontPx`. */
export const lineWidthFor = (fontPx) => Math.max(2, Math.round(fontPx / 6));

/** Draws each face's box and mark; returns the marks (see `layoutMarks`). `fontPx` is the
 *  text size in canvas pixels. */
export function drawMarks(ctx, faces, scale, fontPx) {
  const boxes = faces.map((face) => face.box.map((v) => v * scale));
  const lineWidth = lineWidthFor(fontPx);
  ctx.lineWidth = lineWidth;
  ctx.font = `600 ${fontPx}px system-ui, sans-serif`;
  ctx.textBaseline = 'middle';
  faces.forEach((face, i) => {
    ctx.strokeStyle = COLORS[face.label];
    ctx.setLineDash(DASHES[face.label].map((d) => d * lineWidth));
    ctx.strokeRect(...boxes[i]);
  });
  ctx.setLineDash([]);
  // Marks after every box, so that no box line crosses one.
  const marks = layoutMarks((t) => ctx.measureText(t).width, faces, boxes, fontPx, lineWidth, ctx.canvas.width, ctx.canvas.height);
  marks.forEach((m, i) => {
    ctx.fillStyle = COLORS[faces[i].label];
    ctx.fillRect(m.x, m.y, m.w, m.h);
    ctx.fillStyle = '#fff';
    ctx.fillText(m.text, m.x + Math.round(fontPx * 0.35), m.y + m.h / 2);
  });
  return marks;
}

/** The key's entries (`${number} ${label}`) wrapped into lines that fit `width` px. */
function keyLines(ctx, faces, width, fontPx) {
  ctx.font = `600 ${fontPx}px system-ui, sans-serif`;
  const gap = fontPx;
  const lines = [[]];
  let used = 0;
  faces.forEach((face, i) => {
    const text = `${i + 1} ${describe(face)}`;
    const w = Math.ceil(ctx.measureText(text).width);
    if (used && used + gap + w > width - 2 * gap) {
      lines.push([]);
      used = 0;
    }
    lines.at(-1).push({ text, label: face.label, x: gap + used + (used ? gap : 0), w });
    used += (used ? gap : 0) + w;
  });
  return lines;
}

/** A copy of `canvas` with a strip under the picture listing every face's number and label,
 *  for pictures where some faces show only their number. */
export function withKey(canvas, faces, fontPx) {
  const measuring = canvas.getContext('2d');
  const lines = keyLines(measuring, faces, canvas.width, fontPx);
  const lineHeight = Math.round(fontPx * 1.6);
  const out = document.createElement('canvas');
  out.width = canvas.width;
  out.height = canvas.height + lines.length * lineHeight + fontPx;
  const ctx = out.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, out.width, out.height);
  ctx.drawImage(canvas, 0, 0);
  ctx.font = `600 ${fontPx}px system-ui, sans-serif`;
  ctx.textBaseline = 'middle';
  lines.forEach((line, row) => line.forEach(({ text, label, x }) => {
    ctx.fillStyle = COLORS[label];
    ctx.fillText(text, x, canvas.height + fontPx / 2 + (row + 0.5) * lineHeight);
  }));
  return out;
}
