// End-to-end tests of the real page in every engine — Chromium, Firefox ESR and WebKitGTK —
// through one small driver (engines.mjs) and a visitor's steps (visitor.mjs): drops, the
// pictures' marks read from their pixels, downloads, errors, a crash, working offline, a
// half-made update; the camera in Chromium only (the one engine here with a fake capture
// device), which the other engines' runs say. Needs www/genderlens built (`./dev test`).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeY4m } from './y4m.mjs';
import { COLORS } from '../../www/marks.js';
import { fixture, memoryOf, root, www } from './harness.mjs';
import { inEveryEngine, open } from './engines.mjs';
import { assertSameOrigin, cardCount, cardsShown, choose, downloaded, drop, dropBytes, faceList, isReady, openPage, pageServer } from './visitor.mjs';

const solvay = fixture('solvay-1927.jpg');
const SOLVAY = '/__fixtures/solvay-1927.jpg';
const PORTRAIT = '/__fixtures/faces/einstein.jpg';
const PORTRAITS = ['collins', 'einstein', 'planck'].map((n) => `/__fixtures/faces/${n}.jpg`);

let site;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'genderlens-e2e-'));

before(async () => {
  site = await pageServer();
});

after(async () => {
  await site?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Waits until the newest card lists a face. */
const firstFaceListed = (browser, ms = 60_000) =>
  browser.waitFor(() => document.querySelectorAll('#results > article:first-child .faces li').length > 0, ms);

/** The text of the first element `selector` matches ('' when none does). */
const textOf = (browser, selector) => browser.evaluate((s) => document.querySelector(s)?.textContent ?? '', selector);

/** How many pixels of the newest card's picture have the colour of the men's boxes (the
 *  other colours are not counted: the grey of "uncertain" is everywhere in a black-and-white
 *  photo). */
const menBoxPixels = (browser) => browser.evaluate(async (hex) => {
  const img = document.querySelector('#results > article .annotated');
  while (!img.src) await new Promise((r) => setTimeout(r, 20));
  await img.decode();
  const canvas = new OffscreenCanvas(img.naturalWidth, img.naturalHeight);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  let count = 0;
  for (let i = 0; i < data.length; i += 4) count += Math.abs(data[i] - r) + Math.abs(data[i + 1] - g) + Math.abs(data[i + 2] - b) < 60;
  return count;
}, COLORS.male);

inEveryEngine('a group photo chosen through the file input shows its faces with labels and boxes', async (browser, t) => {
  await openPage(browser, site.origin);
  await choose(browser, [['solvay-1927.jpg', SOLVAY]]);
  await firstFaceListed(browser);
  const items = await faceList(browser);
  assert.equal(items.length, 29, `${items.length} faces listed`);
  for (const text of items) assert.match(text, /^Face \d+: (female|male|uncertain)/);
  const men = items.filter((t) => /: male/.test(t)).length;
  assert.ok(men >= 24, `only ${men} of ${items.length} labelled male`);
  assert.match(await textOf(browser, '#results > article .summary'), /faces found/);
  // 28 men's boxes of about 40 px drawn 2–3 px wide: thousands of pixels of their blue,
  // which the photo itself (a black-and-white print) has none of.
  const blue = await menBoxPixels(browser);
  t.diagnostic(`${browser.name}: ${blue} pixels of the men's boxes' blue on the card's picture`);
  assert.ok(blue > 3000, `the men's boxes do not show (${blue} px)`);
  if (browser.name === 'chromium') {
    // Tests write only under target/; `./dev screenshot` copies this one to docs/.
    fs.mkdirSync(path.join(root, 'target'), { recursive: true });
    await browser.page.setViewportSize({ width: 1200, height: 900 });
    await browser.screenshot(path.join(root, 'target/screenshot.png'));
  }
  assertSameOrigin(browser, site.origin);
});

/** What the marks on a picture do to the faces, read from its pixels. `photoUrl`: the dropped
 *  file; `fromDownload`: read the last downloaded image rather than the card's picture;
 *  `boxes`: the faces' boxes in the photo's pixels; `layout`: where the page says it drew the
 *  marks (`data-marks`). Returns, per face, the pixels changed inside its box other than by
 *  box lines (a mark over the face), and per mark whether it shows (its colour over most of
 *  it, its digits in white). */
function readMarks(browser, photoUrl, fromDownload, boxes, layout) {
  return browser.evaluate(async ([photoUrl, fromDownload, boxes, layout]) => {
    const bytes = (b64) => new Blob([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))]);
    const shown = document.querySelector('#results > article .annotated');
    while (!shown.src) await new Promise((resolve) => setTimeout(resolve, 10)); // still encoding
    await shown.decode();
    const source = await createImageBitmap(fromDownload ? bytes(window.lastDownload) : shown);
    const plainPhoto = await createImageBitmap(await (await fetch(photoUrl)).blob());
    const { width, height } = source;
    const s = width / layout.width; // picture pixels per canvas pixel of the layout
    const k = width / plainPhoto.width; // picture pixels per photo pixel
    const photoHeight = Math.round(plainPhoto.height * k);
    const pixelsOf = (image, h) => {
      const c = new OffscreenCanvas(width, height);
      const ctx = c.getContext('2d');
      ctx.drawImage(image, 0, 0, width, h);
      return ctx.getImageData(0, 0, width, height).data;
    };
    const plain = pixelsOf(plainPhoto, photoHeight);
    const pixels = pixelsOf(source, height);
    const at = (x, y) => 4 * (y * width + x);
    const changed = (i) => Math.abs(pixels[i] - plain[i]) + Math.abs(pixels[i + 1] - plain[i + 1]) + Math.abs(pixels[i + 2] - plain[i + 2]) > 90;
    const rects = boxes.map((b) => b.map((v) => v * k));
    const near = Math.ceil((layout.lineWidth / 2) * s) + 2; // a box line, with resampling
    const onALine = (x, y) => rects.some(([bx, by, bw, bh]) => {
      const alongX = x > bx - near && x < bx + bw + near;
      const alongY = y > by - near && y < by + bh + near;
      return (alongX && (Math.abs(y - by) < near || Math.abs(y - by - bh) < near))
        || (alongY && (Math.abs(x - bx) < near || Math.abs(x - bx - bw) < near));
    });
    const covered = rects.map(([bx, by, bw, bh]) => {
      let count = 0;
      for (let y = Math.ceil(by); y < Math.min(photoHeight, by + bh); y++) {
        for (let x = Math.ceil(bx); x < Math.min(width, bx + bw); x++) count += changed(at(x, y)) && !onALine(x, y);
      }
      return count;
    });
    const hex = (c) => [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16));
    const shows = layout.marks.map((m) => {
      const colour = hex(m.colour);
      let fill = 0;
      let white = 0;
      let total = 0;
      for (let y = Math.ceil(m.y * s) + 1; y < Math.floor((m.y + m.h) * s) - 1; y++) {
        for (let x = Math.ceil(m.x * s) + 1; x < Math.floor((m.x + m.w) * s) - 1; x++) {
          const i = at(x, y);
          total++;
          fill += colour.every((v, c) => Math.abs(pixels[i + c] - v) < 40);
          white += pixels[i] > 200 && pixels[i + 1] > 200 && pixels[i + 2] > 200;
        }
      }
      return fill > 0.5 * total && white >= 4;
    });
    return { covered, shows, pictureHeight: height };
  }, [photoUrl, fromDownload, boxes, layout]);
}

/** Rectangles `{ x, y, w, h }` that overlap. */
const overlapping = (a, b) => Math.min(a.x + a.w, b.x + b.w) > Math.max(a.x, b.x) && Math.min(a.y + a.h, b.y + b.h) > Math.max(a.y, b.y);

/** A made-up crowd, drawn by the page: the three portraits, 40 times, in eight columns and
 *  five rows; served as /__drop/crowd.png. */
async function crowdPhoto(browser) {
  const b64 = await browser.evaluate(async (portraits) => {
    const bitmaps = await Promise.all(portraits.map(async (p) => createImageBitmap(await (await fetch(p)).blob())));
    const canvas = new OffscreenCanvas(1000, 560);
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = '#7d848a';
    ctx.fillRect(0, 0, 1000, 560);
    for (let i = 0; i < 40; i++) ctx.drawImage(bitmaps[i % 3], 20 + (i % 8) * 122, 12 + Math.floor(i / 8) * 108, 100, 100);
    const bytes = new Uint8Array(await (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer());
    let text = '';
    for (const b of bytes) text += String.fromCharCode(b);
    return btoa(text);
  }, PORTRAITS);
  return site.offer('crowd.png', Buffer.from(b64, 'base64'), 'image/png');
}

for (const [photoName, minFaces] of [['the Solvay photo', 27], ['a made-up crowd of 40', 38]]) {
  inEveryEngine(`${photoName}: no mark covers a face, marks never overlap, every number shows, in the card and the downloaded image`, async (browser) => {
    await openPage(browser, site.origin);
    const [name, url] = photoName.startsWith('the Solvay') ? ['solvay-1927.jpg', SOLVAY] : ['crowd.png', await crowdPhoto(browser)];
    await drop(browser, [[name, url]]);
    await firstFaceListed(browser);
    const items = await faceList(browser);
    const card = '#results > article:first-child';
    const { faces, width: photoWidth, height: photoHeight } = JSON.parse(await downloaded(browser, `${card} .download-json`));
    assert.equal(faces.length, items.length);
    assert.ok(faces.length >= minFaces, `${faces.length} faces`);
    // Numbered left to right, in the list as on the picture, in one wording.
    const centres = faces.map((f) => f.box[0] + f.box[2] / 2);
    assert.deepEqual(centres, [...centres].sort((a, b) => a - b), 'faces are not in left-to-right order');
    items.forEach((text, i) => assert.match(text, new RegExp(`^Face ${i + 1}: (female|male|uncertain \\((female|male))`)));
    // Where the page says it drew each mark (a page without that record: box lines of 3 px, no marks).
    const layout = JSON.parse(await browser.evaluate((s) => document.querySelector(s).getAttribute('data-marks'), `${card} .annotated`) ?? 'null')
      ?? { width: photoWidth, lineWidth: 3, marks: [] };
    layout.marks.forEach((m, i) => { m.colour = COLORS[faces[i].label]; });
    const boxes = faces.map((f) => f.box);
    const png = await downloaded(browser, `${card} .download-png`);
    fs.writeFileSync(path.join(root, 'target', `marked-${path.parse(name).name}-${browser.name}.png`), png); // for a person to look at
    let pngHeight = 0;
    for (const [where, fromDownload] of [['card', false], ['downloaded image', true]]) {
      const { covered, shows, pictureHeight } = await readMarks(browser, url, fromDownload, boxes, layout);
      if (fromDownload) pngHeight = pictureHeight;
      // The card is a JPEG: a few pixels of ringing beside a mark are not a mark.
      const allowed = fromDownload ? 0 : 8;
      const hidden = covered.map((n, i) => [i + 1, n]).filter(([, n]) => n > allowed);
      assert.deepEqual(hidden, [], `${where}: faces (number, pixels) covered by a mark`);
      const unseen = shows.map((ok, i) => [i + 1, ok]).filter(([, ok]) => !ok);
      assert.deepEqual(unseen, [], `${where}: marks that do not show`);
    }
    assert.equal(layout.marks.length, faces.length, 'a mark for every face');
    layout.marks.forEach((m, i) => {
      assert.ok(m.text.startsWith(`${i + 1}`), `mark ${i + 1} reads ${m.text}`);
      layout.marks.slice(i + 1).forEach((n, j) => assert.ok(!overlapping(m, n), `marks ${i + 1} and ${i + j + 2} overlap`));
    });
    console.log(`${browser.name}, ${photoName}: ${layout.marks.filter((m) => m.full).length} of ${faces.length} faces show their whole label on the picture`);
    // Faces that show only a number are listed with their labels under the downloaded picture.
    const pictureHeight = Math.round((photoHeight * layout.width) / photoWidth);
    const numbersOnly = layout.marks.filter((m) => !m.full).length;
    assert.equal(pngHeight > pictureHeight, numbersOnly > 0, `${numbersOnly} faces show only their number; the image is ${pngHeight} px tall`);
    assert.match(await textOf(browser, `${card} .legend`), /uncertain/);
  });
}

inEveryEngine('a drop of many photos shows progress, cancels what is under way and downloads all results', async (browser) => {
  await openPage(browser, site.origin);
  const files = Array.from({ length: 40 }, (_, i) => [`photo-${i}.jpg`, i % 10 === 9 ? SOLVAY : PORTRAITS[i % 3]]);
  await drop(browser, files);
  await browser.waitFor(() => document.querySelector('#progress').value >= 4, 60_000);
  assert.equal(await browser.evaluate(() => !document.querySelector('#batch').hidden), true, 'progress and cancel are shown');
  // Click and read the count in one step of the page, so no file finishes in between.
  const [doneAtCancel, handedOver] = await browser.evaluate(() => {
    const done = document.querySelector('#progress').value;
    document.querySelector('#cancel').click();
    // The page hands two photos per worker to the package (one worker per core, at most 4).
    return [done, 2 * Math.min(4, navigator.hardwareConcurrency || 2)];
  });
  await browser.waitFor(() => document.querySelector('#batch').hidden, 60_000);
  const cards = await cardCount(browser);
  // The photos under way stop, and a result that arrives after the click is not shown; only
  // the cards already being drawn at the click (at most one per photo handed over) are added.
  assert.ok(cards >= doneAtCancel && cards <= doneAtCancel + handedOver, `${cards} cards after cancelling at ${doneAtCancel}`);
  assert.match(await textOf(browser, '#status'), /Cancelled/);
  // Finished cards keep a small picture, not a canvas of the photo.
  assert.equal(await browser.evaluate(() => document.querySelectorAll('#results canvas').length), 0);
  const pictures = await browser.evaluate(() => [...document.querySelectorAll('#results .annotated')].map((img) => img.src));
  assert.ok(pictures.length === cards && pictures.every((src) => src.startsWith('blob:')), pictures.join(' '));

  const all = JSON.parse(await downloaded(browser, '#download-all-json'));
  assert.equal(all.length, cards);
  // In the order they were done, which the workers make close to the order dropped.
  const names = all.map((r) => r.file);
  const shown = await browser.evaluate(() => [...document.querySelectorAll('#results > article .name')].map((n) => n.textContent));
  assert.deepEqual(names, shown.reverse(), 'the cards, newest first, in the order they were done');
  assert.equal(new Set(names).size, cards, 'each photo once');
  const dropped = files.map(([name]) => name);
  assert.ok(names.every((name) => dropped.indexOf(name) < cards + 4), `only photos from the start of the drop: ${names}`);
  const csv = (await downloaded(browser, '#download-all-csv')).toString().trim().split('\n');
  assert.equal(csv[0], 'file,width,height,face,x,y,w,h,label,likely,confidence,p_male,detector_score,error');
  const faceRows = all.reduce((n, r) => n + Math.max(1, r.faces.length), 0);
  assert.equal(csv.length - 1, faceRows, 'one row per face');
  assert.match(csv[1], /^photo-\d+\.jpg,\d+,\d+,1,[\d.]+,[\d.]+,[\d.]+,[\d.]+,(female|male|uncertain),/);

  // A new drop after cancelling is processed.
  await drop(browser, [['again.jpg', PORTRAIT]]);
  await cardsShown(browser, cards + 1);
});

const offlineReady = (browser) => browser.waitFor(() => document.documentElement.dataset.offlineReady === 'yes', 30_000);

inEveryEngine('once loaded, the page works with its server gone', async (browser) => {
  const own = await pageServer();
  await openPage(browser, own.origin);
  await offlineReady(browser);
  await own.close();
  await assert.rejects(fetch(`${own.origin}/`), 'the server is really gone');
  await browser.reload();
  await browser.waitFor(isReady, 60_000);
  await dropBytes(browser, 'face.jpg', 'image/jpeg', fixture('faces/einstein.jpg'));
  await firstFaceListed(browser);
  assert.match((await faceList(browser))[0], /^Face 1: (female|male|uncertain)/);
});

inEveryEngine('an update caught half-way never pairs new glue with the old wasm; a whole one is used', async (browser) => {
  const own = await pageServer();
  try {
    await openPage(browser, own.origin);
    await offlineReady(browser);
    const wasmHits = () => own.hits.get('/genderlens/wasm/genderlens_bg.wasm') ?? 0;
    /** Reloads; the service worker then fetches the site again in the background. */
    async function visit() {
      const before = wasmHits();
      await browser.reload();
      await browser.waitFor(isReady, 60_000);
      for (const end = Date.now() + 30_000; wasmHits() === before;) {
        assert.ok(Date.now() < end, `${browser.name}: the service worker did not fetch the site again`);
        await new Promise((r) => setTimeout(r, 50));
      }
      await new Promise((r) => setTimeout(r, 1000)); // the worker stores what it fetched
    }
    const glue = fs.readFileSync(path.join(www, 'genderlens/wasm/genderlens.js'), 'utf8');

    // A deploy whose new glue arrives but whose wasm module cannot be fetched.
    own.replaced.set('/genderlens/wasm/genderlens.js', { status: 200, body: 'throw new Error("glue of another build");' });
    own.replaced.set('/genderlens/wasm/genderlens_bg.wasm', { status: 503, body: 'unavailable' });
    await visit();
    await visit(); // would start from the broken glue if files were updated one by one
    await drop(browser, [['face.jpg', PORTRAIT]]);
    await firstFaceListed(browser);

    // A deploy that arrives whole is what the visit after it runs.
    own.replaced.clear();
    own.replaced.set('/genderlens/wasm/genderlens.js', { status: 200, body: glue + '\n// next build\n' });
    await visit();
    await browser.reload();
    await browser.waitFor(isReady, 60_000);
    const served = await browser.evaluate(() => fetch('genderlens/wasm/genderlens.js').then((r) => r.text()));
    assert.ok(served.endsWith('// next build\n'), 'the complete new deploy is used');
  } finally {
    await own.close();
  }
});

inEveryEngine('a text file gives an error and the page stays usable', async (browser) => {
  await openPage(browser, site.origin);
  await drop(browser, [['notes.txt', site.offer('notes.txt', Buffer.from('just some text, not an image'), 'text/plain')]]);
  await browser.waitFor(() => document.querySelector('#results > article.error-card .error'), 30_000);
  assert.match(await textOf(browser, '#results > article.error-card .error'), /Could not read this file: not a supported image/);
  await drop(browser, [['truncated.jpg', site.offer('truncated.jpg', solvay.subarray(0, solvay.length / 3), 'image/jpeg')]]);
  await browser.waitFor(() => document.querySelectorAll('#results > article.error-card').length === 2, 30_000);
  await drop(browser, [['face.jpg', PORTRAIT]]);
  await browser.waitFor(() => document.querySelector('#results > article:not(.error-card) .faces li'), 30_000);
  assert.equal(await cardCount(browser), 3);
  assertSameOrigin(browser, site.origin);
});

inEveryEngine('a picture without a detected face can be classified as a whole, in its own pixels', async (browser) => {
  await openPage(browser, site.origin);
  // A plain 1 500 × 900 picture: no face, and larger than the 1 024 px the worker shrinks to.
  const b64 = await browser.evaluate(async () => {
    const canvas = new OffscreenCanvas(1500, 900);
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = '#b08060';
    ctx.fillRect(0, 0, 1500, 900);
    let text = '';
    for (const b of new Uint8Array(await (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer())) text += String.fromCharCode(b);
    return btoa(text);
  });
  await drop(browser, [['plain.png', site.offer('plain.png', Buffer.from(b64, 'base64'), 'image/png')]]);
  const summary = () => document.querySelector('#results > article:first-child .summary')?.textContent ?? '';
  await browser.waitFor(`(${summary})().startsWith('No face found')`, 30_000);
  await browser.evaluate(() => { document.querySelector('#results > article:first-child .whole').click(); return true; });
  await browser.waitFor(`(${summary})().startsWith('Classified as a whole image')`, 30_000);
  assert.match((await faceList(browser))[0], /^Face 1: .+ \(whole image\)$/);
  const json = JSON.parse(await downloaded(browser, '#results > article:first-child .download-json'));
  assert.deepEqual([json.width, json.height, json.faces[0].box], [1500, 900, [0, 0, 1500, 900]]);
  assertSameOrigin(browser, site.origin);
});

inEveryEngine('a failure while showing one result does not stop the files after it', async (browser) => {
  await openPage(browser, site.origin);
  // The next result card's canvas refuses to draw once.
  await browser.evaluate(() => {
    const getContext = HTMLCanvasElement.prototype.getContext;
    let failures = 1;
    HTMLCanvasElement.prototype.getContext = function (...args) {
      if (this.classList.contains('annotated') && failures-- > 0) throw new Error('the canvas failed');
      return getContext.apply(this, args);
    };
    return true;
  });
  await drop(browser, [['first.jpg', PORTRAIT]]);
  // The second only once the first is shown: on two workers it could be shown first.
  await cardsShown(browser, 1);
  await drop(browser, [['second.jpg', PORTRAIT]]);
  await browser.waitFor(() => document.querySelector('#results > article:not(.error-card) .faces li'), 30_000);
  assert.match(await textOf(browser, '#results > article.error-card'), /first\.jpg.*the canvas failed/s);
  assert.equal(await textOf(browser, '#results > article:not(.error-card) .name'), 'second.jpg');
});

inEveryEngine('the camera shows live boxes from a fake capture device', async (browser) => {
  const y4m = path.join(tmp, 'face.y4m');
  await makeY4m(browser.page, fixture('faces/einstein.jpg'), y4m);
  const live = await open('chromium', { args: ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${y4m}`] });
  try {
    await openPage(live, site.origin);
    await live.evaluate(() => { document.querySelector('#camera-toggle').click(); return true; });
    await live.waitFor(() => Number(document.querySelector('#overlay').dataset.faces) >= 1, 30_000);
    assert.match(await textOf(live, '#camera-stats'), /FPS/);
    // A short soak (`./dev bench` runs ten minutes): once running, memory stays flat.
    await new Promise((r) => setTimeout(r, 3000));
    const running = await memoryOf(live.page);
    await new Promise((r) => setTimeout(r, 12_000));
    const later = await memoryOf(live.page);
    assert.ok(running.wasm_bytes > 0, 'the worker reports its memory');
    assert.ok(later.total_bytes <= running.total_bytes * 1.1, `memory grew from ${running.total_bytes} to ${later.total_bytes} bytes`);
    await live.evaluate(() => { document.querySelector('#camera-toggle').click(); return true; });
    assert.equal(await live.evaluate(() => document.querySelector('#camera').hidden), true);
    assertSameOrigin(live, site.origin);
  } finally {
    await live.close();
  }
}, { only: ['chromium'], why: 'no fake capture device in this engine here (Chromium has one)' });

const MIME = { '.jpg': 'image/jpeg', '.png': 'image/png', '.gif': 'image/gif', '.webp': 'image/webp' };

inEveryEngine('every hostile corpus file shows a result or an error, and the page stays usable', async (browser) => {
  // Written by `cargo run --example write_corpus -- target/corpus` (./dev test does it).
  const corpus = path.join(root, 'target/corpus');
  const cases = JSON.parse(fs.readFileSync(path.join(corpus, 'expectations.json'), 'utf8'));
  await openPage(browser, site.origin);
  let cards = 0;
  for (const { name, expect } of cases) {
    await drop(browser, [[name, `/__corpus/${name}`, MIME[path.extname(name)] ?? '']]);
    cards += 1;
    await cardsShown(browser, cards);
    const card = '#results > article:first-child';
    assert.equal(await textOf(browser, `${card} h2`), name);
    if (expect === 'error') {
      assert.match(await textOf(browser, `${card} .error`), /^Could not read this file: .{10,}/, name);
    } else if (expect === 'no-face') {
      assert.match(await textOf(browser, `${card} .summary`), /^No face found/, name);
    } else {
      const items = await faceList(browser);
      assert.ok(items.length >= 1, `${name}: no face listed`);
      assert.match(items[0], /^Face 1: male/, name);
    }
  }
  await drop(browser, [['solvay-1927.jpg', SOLVAY]]);
  await cardsShown(browser, cards + 1);
  assert.ok((await faceList(browser)).length >= 20);

  // All in one drop, each bad file between two portraits: they change nothing for the others.
  const portraits = [['female', PORTRAITS[0]], ['male', PORTRAITS[1]], ['male', PORTRAITS[2]]];
  const mixed = cases.flatMap(({ name }, i) => [
    [`portrait-${i}.jpg`, portraits[i % 3][1], 'image/jpeg'],
    [name, `/__corpus/${name}`, MIME[path.extname(name)] ?? ''],
  ]);
  await drop(browser, mixed);
  await cardsShown(browser, cards + 1 + mixed.length, 180_000);
  // Done in about the order dropped, on several workers: found by name.
  const done = JSON.parse(await downloaded(browser, '#download-all-json')).slice(cards + 1);
  assert.deepEqual(done.map((r) => r.file).sort(), mixed.map(([name]) => name).sort(), 'each file once');
  const byName = new Map(done.map((r) => [r.file, r]));
  const all = mixed.map(([name]) => byName.get(name));
  // The face sits where it is in the upright picture, in the picture's own pixels: EXIF
  // orientation applied, and boxes of a photo analysed shrunk scaled back to its size.
  const centre = ([x, y, w, h]) => [x + w / 2, y + h / 2];
  const reference = all[2 * cases.findIndex(({ name }) => name === 'face.png') + 1];
  const [rx, ry] = centre(reference.faces[0].box);
  cases.forEach(({ name, expect, upright }, i) => {
    const portrait = all[2 * i];
    assert.equal(portrait.faces[0]?.likely, portraits[i % 3][0], `the portrait after ${i} bad files`);
    const bad = all[2 * i + 1];
    assert.equal(bad.error !== null, expect === 'error', `${name}: ${bad.error}`);
    if (expect !== 'face') return;
    assert.deepEqual([bad.width, bad.height], upright, `${name}: not upright`);
    const scale = upright[0] / reference.width;
    const [cx, cy] = centre(bad.faces[0].box);
    assert.ok(Math.hypot(cx - rx * scale, cy - ry * scale) < 12 * scale, `${name}: face at ${bad.faces[0].box}, expected near ${[rx, ry]}×${scale}`);
  });
  assertSameOrigin(browser, site.origin);
});

inEveryEngine('a crash inside the model restarts the worker, says so, and the next file works', async (browser) => {
  // Simulate a Rust panic (a wasm trap) on files whose bytes start with "CRASH": the bindings
  // module is served with inspectImage, the first call on a file's bytes, wrapped to trap.
  const original = fs.readFileSync(path.join(www, 'genderlens/wasm/genderlens.js'), 'utf8');
  // The glue is minified: its class is reached through a self-import of its export.
  const patch = `
import { GenderLens as Bindings } from './genderlens.js';
const realInspectImage = Bindings.inspectImage;
Bindings.inspectImage = function (bytes) {
  if (new TextDecoder().decode(bytes.subarray(0, 5)) === 'CRASH') throw new WebAssembly.RuntimeError('unreachable');
  return realInspectImage(bytes);
};`;
  const own = await pageServer({ replaced: new Map([['/genderlens/wasm/genderlens.js', { status: 200, body: original + patch }]]) });
  try {
    await openPage(browser, own.origin);
    await drop(browser, [['crash.jpg', own.offer('crash.jpg', Buffer.from('CRASH and burn'), 'image/jpeg')]]);
    await browser.waitFor(() => document.querySelector('#results > article.error-card .error'), 30_000);
    assert.match(await textOf(browser, '#results > article.error-card .error'), /crashed.*restarted/);
    await drop(browser, [['face.jpg', PORTRAIT]]);
    await browser.waitFor(() => document.querySelector('#results > article:not(.error-card) .faces li'), 60_000);
  } finally {
    await own.close();
  }
});

test('the offline copy holds every file of the package the page imports', () => {
  const sw = fs.readFileSync(path.join(www, 'sw.js'), 'utf8');
  const shell = [...sw.slice(sw.indexOf('const SHELL'), sw.indexOf('];')).matchAll(/'\.\/([^']*)'/g)].map((m) => m[1]);
  const { files } = JSON.parse(fs.readFileSync(path.join(www, 'genderlens/package.json'), 'utf8'));
  const wanted = files.filter((f) => /\.(js|wasm|jpg)$/.test(f)).map((f) => `genderlens/${f}`);
  assert.deepEqual(wanted.filter((f) => !shell.includes(f)), [], 'package files missing from sw.js SHELL');
  const pageFiles = fs.readdirSync(www).filter((f) => /\.(js|css|html)$/.test(f) && f !== 'sw.js');
  assert.deepEqual(pageFiles.filter((f) => !shell.includes(f)), [], 'page files missing from sw.js SHELL');
});
