// End-to-end tests of the real page in headless Chromium: drop, errors, camera, privacy.
// Needs www/genderlens built (`./dev test` does it) and Debian's /usr/bin/chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeY4m } from './y4m.mjs';
import { COLORS } from '../../www/marks.js';
import { dropFile, dropFiles, fixture, launch, memoryOf, root, startServer, www } from './harness.mjs';

const solvay = fixture('solvay-1927.jpg');
const portrait = fixture('faces/einstein.jpg');

let server;
let origin;
let browser;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'genderlens-e2e-'));

async function serve() {
  ({ server, origin } = await startServer());
}

function pageReady(page) {
  return page.waitForFunction(() => document.querySelector('#status').textContent.startsWith('Ready'), null, { timeout: 60_000 });
}

/** Opens the page, recording every request it makes. */
async function openPage(b, at = origin) {
  const context = await b.newContext({ permissions: ['camera'] });
  const page = await context.newPage();
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));
  context.on('request', (r) => requests.push(r.url()));
  await page.goto(at + '/');
  await pageReady(page);
  return { page, requests };
}

async function cardCount(page) {
  return page.locator('#results > article').count();
}

function assertSameOrigin(requests) {
  const foreign = requests.filter((u) => !u.startsWith(origin) && !u.startsWith('blob:') && !u.startsWith('data:'));
  assert.deepEqual(foreign, [], 'requests left the origin');
}

before(async () => {
  assert.ok(fs.existsSync(path.join(www, 'genderlens/wasm/genderlens_bg.wasm')), 'www/genderlens is not built');
  await serve();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('a dropped group photo shows its faces with labels', async () => {
  const { page, requests } = await openPage(browser);
  await dropFile(page, 'solvay-1927.jpg', 'image/jpeg', solvay);
  const card = page.locator('#results > article').first();
  await card.locator('.faces li').first().waitFor({ timeout: 60_000 });
  const items = await card.locator('.faces li').allTextContents();
  assert.ok(items.length >= 20 && items.length <= 29, `${items.length} faces listed`);
  for (const text of items) assert.match(text, /^Face \d+: (female|male|uncertain)/);
  const men = items.filter((t) => /: male/.test(t)).length;
  assert.ok(men >= items.length * 0.7, `only ${men} of ${items.length} labelled male`);
  assert.match(await card.locator('.summary').textContent(), /faces found/);
  // Tests write only under target/; `./dev screenshot` copies this one to docs/.
  fs.mkdirSync(path.join(root, 'target'), { recursive: true });
  await page.setViewportSize({ width: 1200, height: 900 });
  await page.screenshot({ path: path.join(root, 'target/screenshot.png') });
  assertSameOrigin(requests);
});

/** Clicks a card's download button; resolves to the downloaded file's bytes. */
async function downloaded(page, button) {
  const [download] = await Promise.all([page.waitForEvent('download'), button.click()]);
  return fs.readFileSync(await download.path());
}

/** What the marks on a picture do to the faces, read from its pixels. `picture`: the card's
 *  picture (null) or a downloaded PNG; `photo`: the dropped file; `boxes`: the faces' boxes
 *  in the photo's pixels; `layout`: where the page says it drew the marks (`data-marks`).
 *  Returns, per face, the pixels changed inside its box other than by box lines (a mark over
 *  the face), and per mark whether it shows (its colour over most of it, its digits in white). */
function readMarks(page, photo, picture, boxes, layout) {
  return page.evaluate(async ([photoB64, pictureB64, boxes, layout]) => {
    const bytes = (b64) => new Blob([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))]);
    const shown = document.querySelector('#results > article .annotated');
    while (!shown.src) await new Promise((resolve) => setTimeout(resolve, 10)); // still encoding
    await shown.decode();
    const source = await createImageBitmap(pictureB64 ? bytes(pictureB64) : shown);
    const plainPhoto = await createImageBitmap(bytes(photoB64));
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
    return { covered, shows };
  }, [photo.toString('base64'), picture?.toString('base64') ?? null, boxes, layout]);
}

/** Rectangles `{ x, y, w, h }` that overlap. */
const overlapping = (a, b) => Math.min(a.x + a.w, b.x + b.w) > Math.max(a.x, b.x) && Math.min(a.y + a.h, b.y + b.h) > Math.max(a.y, b.y);

/** A made-up crowd: the three portraits, 40 times, in eight columns and five rows. */
async function crowdPhoto(page) {
  const portraits = ['collins', 'einstein', 'planck'].map((n) => fixture(`faces/${n}.jpg`).toString('base64'));
  const b64 = await page.evaluate(async (portraits) => {
    const bitmaps = await Promise.all(portraits.map((p) => createImageBitmap(new Blob([Uint8Array.from(atob(p), (c) => c.charCodeAt(0))]))));
    const canvas = new OffscreenCanvas(1000, 560);
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = '#7d848a';
    ctx.fillRect(0, 0, 1000, 560);
    for (let i = 0; i < 40; i++) ctx.drawImage(bitmaps[i % 3], 20 + (i % 8) * 122, 12 + Math.floor(i / 8) * 108, 100, 100);
    const bytes = new Uint8Array(await (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer());
    let text = '';
    for (const b of bytes) text += String.fromCharCode(b);
    return btoa(text);
  }, portraits);
  return Buffer.from(b64, 'base64');
}

for (const [photoName, minFaces] of [['the Solvay photo', 27], ['a made-up crowd of 40', 38]]) {
  test(`${photoName}: no mark covers a face, marks never overlap, every number shows, in the card and the downloaded image`, async () => {
    const { page } = await openPage(browser);
    const [name, type, photo] = photoName.startsWith('the Solvay')
      ? ['solvay-1927.jpg', 'image/jpeg', solvay]
      : ['crowd.png', 'image/png', await crowdPhoto(page)];
    await dropFile(page, name, type, photo);
    const card = page.locator('#results > article').first();
    await card.locator('.faces li').first().waitFor({ timeout: 60_000 });
    const items = await card.locator('.faces li').allTextContents();
    const { faces, width: photoWidth, height: photoHeight } = JSON.parse(await downloaded(page, card.locator('.download-json')));
    assert.equal(faces.length, items.length);
    assert.ok(faces.length >= minFaces, `${faces.length} faces`);
    // Numbered left to right, in the list as on the picture, in one wording.
    const centres = faces.map((f) => f.box[0] + f.box[2] / 2);
    assert.deepEqual(centres, [...centres].sort((a, b) => a - b), 'faces are not in left-to-right order');
    items.forEach((text, i) => assert.match(text, new RegExp(`^Face ${i + 1}: (female|male|uncertain \\((female|male))`)));
    // Where the page says it drew each mark (a page without that record: box lines of 3 px, no marks).
    const layout = JSON.parse(await card.locator('.annotated').getAttribute('data-marks') ?? 'null')
      ?? { width: photoWidth, lineWidth: 3, marks: [] };
    layout.marks.forEach((m, i) => { m.colour = COLORS[faces[i].label]; });
    const boxes = faces.map((f) => f.box);
    const png = await downloaded(page, card.locator('.download-png'));
    fs.writeFileSync(path.join(root, 'target', `marked-${path.parse(name).name}.png`), png); // for a person to look at
    for (const [where, picture] of [['card', null], ['downloaded image', png]]) {
      const { covered, shows } = await readMarks(page, photo, picture, boxes, layout);
      // The card is a JPEG: a few pixels of ringing beside a mark are not a mark.
      const allowed = picture ? 0 : 8;
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
    console.log(`${photoName}: ${layout.marks.filter((m) => m.full).length} of ${faces.length} faces show their whole label on the picture`);
    // Faces that show only a number are listed with their labels under the downloaded picture.
    const pngHeight = await page.evaluate(async (b64) => (await createImageBitmap(new Blob([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))]))).height, png.toString('base64'));
    const pictureHeight = Math.round((photoHeight * layout.width) / photoWidth);
    const numbersOnly = layout.marks.filter((m) => !m.full).length;
    assert.equal(pngHeight > pictureHeight, numbersOnly > 0, `${numbersOnly} faces show only their number; the image is ${pngHeight} px tall`);
    assert.match(await card.locator('.legend').textContent(), /uncertain/);
    await page.context().close();
  });
}

test('a drop of many photos shows progress, cancels what is under way and downloads all results', async () => {
  const { page } = await openPage(browser);
  const portraits = ['collins', 'einstein', 'planck'].map((name) => fixture(`faces/${name}.jpg`));
  const files = Array.from({ length: 40 }, (_, i) => [`photo-${i}.jpg`, 'image/jpeg', i % 10 === 9 ? solvay : portraits[i % 3]]);
  await dropFiles(page, files);
  await page.waitForFunction(() => document.querySelector('#progress').value >= 4, null, { timeout: 60_000 });
  assert.equal(await page.locator('#batch').isVisible(), true, 'progress and cancel are shown');
  // Click and read the count in one step of the page, so no file finishes in between.
  const [doneAtCancel, handedOver] = await page.evaluate(() => {
    const done = document.querySelector('#progress').value;
    document.querySelector('#cancel').click();
    // The page hands two photos per worker to the package (one worker per core, at most 4).
    return [done, 2 * Math.min(4, navigator.hardwareConcurrency)];
  });
  await page.waitForFunction(() => document.querySelector('#batch').hidden, null, { timeout: 60_000 });
  const cards = await cardCount(page);
  // The photos under way stop, and a result that arrives after the click is not shown; only
  // the cards already being drawn at the click (at most one per photo handed over) are added.
  assert.ok(cards >= doneAtCancel && cards <= doneAtCancel + handedOver, `${cards} cards after cancelling at ${doneAtCancel}`);
  assert.match(await page.locator('#status').textContent(), /Cancelled/);
  // Finished cards keep a small picture, not a canvas of the photo.
  assert.equal(await page.locator('#results canvas').count(), 0);
  const pictures = await page.locator('#results .annotated').evaluateAll((imgs) => imgs.map((img) => img.src));
  assert.ok(pictures.length === cards && pictures.every((src) => src.startsWith('blob:')), pictures.join(' '));

  const all = JSON.parse(await downloaded(page, page.locator('#download-all-json')));
  assert.equal(all.length, cards);
  // In the order they were done, which the workers make close to the order dropped.
  const names = all.map((r) => r.file);
  const shown = await page.locator('#results > article .name').allTextContents();
  assert.deepEqual(names, shown.reverse(), 'the cards, newest first, in the order they were done');
  assert.equal(new Set(names).size, cards, 'each photo once');
  const dropped = files.map(([name]) => name);
  assert.ok(names.every((name) => dropped.indexOf(name) < cards + 4), `only photos from the start of the drop: ${names}`);
  const csv = (await downloaded(page, page.locator('#download-all-csv'))).toString().trim().split('\n');
  assert.equal(csv[0], 'file,width,height,face,x,y,w,h,label,likely,confidence,p_male,detector_score,error');
  const faceRows = all.reduce((n, r) => n + Math.max(1, r.faces.length), 0);
  assert.equal(csv.length - 1, faceRows, 'one row per face');
  assert.match(csv[1], /^photo-\d+\.jpg,\d+,\d+,1,[\d.]+,[\d.]+,[\d.]+,[\d.]+,(female|male|uncertain),/);

  // A new drop after cancelling is processed.
  await dropFiles(page, [['again.jpg', 'image/jpeg', portraits[1]]]);
  await page.waitForFunction((n) => document.querySelectorAll('#results > article').length === n + 1, cards, { timeout: 60_000 });
  await page.context().close();
});

test('once loaded, the page works with its server gone', async () => {
  const own = await startServer();
  const { page } = await openPage(browser, own.origin);
  await page.waitForFunction(() => document.documentElement.dataset.offlineReady === 'yes', null, { timeout: 30_000 });
  own.server.closeAllConnections();
  await new Promise((resolve) => own.server.close(resolve));
  await assert.rejects(fetch(`${own.origin}/`), 'the server is really gone');
  await page.reload();
  await pageReady(page);
  await dropFile(page, 'face.jpg', 'image/jpeg', portrait);
  const card = page.locator('#results > article').first();
  await card.locator('.faces li').first().waitFor({ timeout: 60_000 });
  assert.match(await card.locator('.faces li').first().textContent(), /^Face 1: (female|male|uncertain)/);
});

test('an update caught half-way never pairs new glue with the old wasm; a whole one is used', async () => {
  const replaced = new Map();
  const own = await startServer({ replaced });
  const { page } = await openPage(browser, own.origin);
  await page.waitForFunction(() => document.documentElement.dataset.offlineReady === 'yes', null, { timeout: 30_000 });
  const wasmHits = () => own.hits.get('/genderlens/wasm/genderlens_bg.wasm') ?? 0;
  /** Reloads; the service worker then fetches the site again in the background. */
  async function visit() {
    const before = wasmHits();
    await page.reload();
    await pageReady(page);
    while (wasmHits() === before) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 1000)); // the worker stores what it fetched
  }
  const glue = fs.readFileSync(path.join(www, 'genderlens/wasm/genderlens.js'), 'utf8');

  // A deploy whose new glue arrives but whose wasm module cannot be fetched.
  replaced.set('/genderlens/wasm/genderlens.js', { status: 200, body: 'throw new Error("glue of another build");' });
  replaced.set('/genderlens/wasm/genderlens_bg.wasm', { status: 503, body: 'unavailable' });
  await visit();
  await visit(); // would start from the broken glue if files were updated one by one
  await dropFile(page, 'face.jpg', 'image/jpeg', portrait);
  await page.locator('#results > article .faces li').first().waitFor({ timeout: 60_000 });

  // A deploy that arrives whole is what the visit after it runs.
  replaced.clear();
  replaced.set('/genderlens/wasm/genderlens.js', { status: 200, body: glue + '\n// next build\n' });
  await visit();
  await page.reload();
  await pageReady(page);
  const served = await page.evaluate(() => fetch('genderlens/wasm/genderlens.js').then((r) => r.text()));
  assert.ok(served.endsWith('// next build\n'), 'the complete new deploy is used');
  own.server.closeAllConnections();
  own.server.close();
});

test('a text file gives an error and the page stays usable', async () => {
  const { page, requests } = await openPage(browser);
  await dropFile(page, 'notes.txt', 'text/plain', Buffer.from('just some text, not an image'));
  const error = page.locator('#results > article.error-card .error');
  await error.waitFor({ timeout: 30_000 });
  assert.match(await error.textContent(), /Could not read this file: not a supported image/);
  await dropFile(page, 'truncated.jpg', 'image/jpeg', solvay.subarray(0, solvay.length / 3));
  await page.waitForFunction(() => document.querySelectorAll('#results > article.error-card').length === 2, null, { timeout: 30_000 });
  await dropFile(page, 'face.jpg', 'image/jpeg', portrait);
  await page.locator('#results > article:not(.error-card) .faces li').first().waitFor({ timeout: 30_000 });
  assert.equal(await cardCount(page), 3);
  assertSameOrigin(requests);
});

test('a picture without a detected face can be classified as a whole, in its own pixels', async () => {
  const { page, requests } = await openPage(browser);
  // A plain 1 500 × 900 picture: no face, and larger than the 1 024 px the worker shrinks to.
  const png = Buffer.from(await page.evaluate(async () => {
    const canvas = new OffscreenCanvas(1500, 900);
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = '#b08060';
    ctx.fillRect(0, 0, 1500, 900);
    return [...new Uint8Array(await (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer())];
  }));
  await dropFile(page, 'plain.png', 'image/png', png);
  const card = page.locator('#results > article').first();
  await card.locator('.summary').filter({ hasText: /^No face found/ }).waitFor({ timeout: 30_000 });
  await card.locator('.whole').click();
  await card.locator('.summary').filter({ hasText: /^Classified as a whole image/ }).waitFor({ timeout: 30_000 });
  assert.match(await card.locator('.faces li').first().textContent(), /^Face 1: .+ \(whole image\)$/);
  const json = JSON.parse(await downloaded(page, card.locator('.download-json')));
  assert.deepEqual([json.width, json.height, json.faces[0].box], [1500, 900, [0, 0, 1500, 900]]);
  assertSameOrigin(requests);
});

test('a failure while showing one result does not stop the files after it', async () => {
  const { page } = await openPage(browser);
  // The next result card's canvas refuses to draw once.
  await page.evaluate(() => {
    const getContext = HTMLCanvasElement.prototype.getContext;
    let failures = 1;
    HTMLCanvasElement.prototype.getContext = function (...args) {
      if (this.classList.contains('annotated') && failures-- > 0) throw new Error('the canvas failed');
      return getContext.apply(this, args);
    };
  });
  await dropFile(page, 'first.jpg', 'image/jpeg', portrait);
  await dropFile(page, 'second.jpg', 'image/jpeg', portrait);
  await page.locator('#results > article:not(.error-card) .faces li').first().waitFor({ timeout: 30_000 });
  assert.match(await page.locator('#results > article.error-card').textContent(), /first\.jpg.*the canvas failed/s);
  assert.equal(await page.locator('#results > article:not(.error-card) .name').textContent(), 'second.jpg');
  await page.context().close();
});

test('the camera shows live boxes from a fake capture device', async () => {
  const y4m = path.join(tmp, 'face.y4m');
  const { page } = await openPage(browser);
  await makeY4m(page, portrait, y4m);
  const cameraBrowser = await launch(['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${y4m}`]);
  try {
    const { page: live, requests } = await openPage(cameraBrowser);
    await live.click('#camera-toggle');
    await live.waitForFunction(() => Number(document.querySelector('#overlay').dataset.faces) >= 1, null, { timeout: 30_000 });
    assert.match(await live.locator('#camera-stats').textContent(), /FPS/);
    // A short soak (`./dev bench` runs ten minutes): once running, memory stays flat.
    await live.waitForTimeout(3000);
    const running = await memoryOf(live);
    await live.waitForTimeout(12_000);
    const later = await memoryOf(live);
    assert.ok(running.wasm_bytes > 0, 'the worker reports its memory');
    assert.ok(later.total_bytes <= running.total_bytes * 1.1, `memory grew from ${running.total_bytes} to ${later.total_bytes} bytes`);
    await live.click('#camera-toggle');
    assert.equal(await live.locator('#camera').isHidden(), true);
    assertSameOrigin(requests);
  } finally {
    await cameraBrowser.close();
  }
});

const MIME = { '.jpg': 'image/jpeg', '.png': 'image/png', '.gif': 'image/gif', '.webp': 'image/webp' };

test('every hostile corpus file shows a result or an error, and the page stays usable', async () => {
  // Written by `cargo run --example write_corpus -- target/corpus` (./dev test does it).
  const corpus = path.join(root, 'target/corpus');
  const cases = JSON.parse(fs.readFileSync(path.join(corpus, 'expectations.json'), 'utf8'));
  const { page, requests } = await openPage(browser);
  let cards = 0;
  for (const { name, expect } of cases) {
    const bytes = fs.readFileSync(path.join(corpus, name));
    await dropFile(page, name, MIME[path.extname(name)] ?? '', bytes);
    cards += 1;
    await page.waitForFunction((n) => document.querySelectorAll('#results > article').length === n, cards, { timeout: 60_000 });
    const card = page.locator('#results > article').first();
    assert.equal(await card.locator('h2').textContent(), name);
    if (expect === 'error') {
      assert.match(await card.locator('.error').textContent(), /^Could not read this file: .{10,}/, name);
    } else if (expect === 'no-face') {
      assert.match(await card.locator('.summary').textContent(), /^No face found/, name);
    } else {
      const items = await card.locator('.faces li').allTextContents();
      assert.ok(items.length >= 1, `${name}: no face listed`);
      assert.match(items[0], /^Face 1: male/, name);
    }
  }
  await dropFile(page, 'solvay-1927.jpg', 'image/jpeg', solvay);
  await page.waitForFunction((n) => document.querySelectorAll('#results > article').length === n, cards + 1, { timeout: 60_000 });
  assert.ok((await page.locator('#results > article').first().locator('.faces li').count()) >= 20);

  // All in one drop, each bad file between two portraits: they change nothing for the others.
  const portraits = [['female', fixture('faces/collins.jpg')], ['male', fixture('faces/einstein.jpg')], ['male', fixture('faces/planck.jpg')]];
  const mixed = cases.flatMap(({ name }, i) => [
    [`portrait-${i}.jpg`, 'image/jpeg', portraits[i % 3][1]],
    [name, MIME[path.extname(name)] ?? '', fs.readFileSync(path.join(corpus, name))],
  ]);
  await dropFiles(page, mixed);
  await page.waitForFunction((n) => document.querySelectorAll('#results > article').length === n, cards + 1 + mixed.length, { timeout: 120_000 });
  // Done in about the order dropped, on several workers: found by name.
  const done = JSON.parse(await downloaded(page, page.locator('#download-all-json'))).slice(cards + 1);
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
  assertSameOrigin(requests);
});

test('a crash inside the model restarts the worker, says so, and the next file works', async () => {
  const context = await browser.newContext();
  // Simulate a Rust panic (a wasm trap) on files whose name starts with "crash": the
  // bindings module is served with inspectImage, the first call on a file's bytes, wrapped
  // to trap on a marker byte sequence.
  await context.route('**/genderlens/wasm/genderlens.js', async (route) => {
    const original = fs.readFileSync(path.join(www, 'genderlens/wasm/genderlens.js'), 'utf8');
    // The glue is minified: its class is reached through a self-import of its export.
    const patch = `
import { GenderLens as Bindings } from './genderlens.js';
const realInspectImage = Bindings.inspectImage;
Bindings.inspectImage = function (bytes) {
  if (new TextDecoder().decode(bytes.subarray(0, 5)) === 'CRASH') throw new WebAssembly.RuntimeError('unreachable');
  return realInspectImage(bytes);
};`;
    await route.fulfill({ body: original + patch, contentType: 'text/javascript' });
  });
  const page = await context.newPage();
  await page.goto(origin + '/');
  await page.waitForFunction(() => document.querySelector('#status').textContent.startsWith('Ready'), null, { timeout: 60_000 });
  await dropFile(page, 'crash.jpg', 'image/jpeg', Buffer.from('CRASH and burn'));
  const error = page.locator('#results > article.error-card .error');
  await error.waitFor({ timeout: 30_000 });
  assert.match(await error.textContent(), /crashed.*restarted/);
  await dropFile(page, 'face.jpg', 'image/jpeg', portrait);
  await page.locator('#results > article:not(.error-card) .faces li').first().waitFor({ timeout: 60_000 });
  await context.close();
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
