// End-to-end tests of the real page in headless Chromium: drop, errors, camera, privacy.
// Needs www/pkg built (`./dev test` does it) and Debian's /usr/bin/chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeY4m } from './y4m.mjs';
import { fixture, launch, memoryOf, root, startServer, www } from './harness.mjs';

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

/** Dispatches a real `drop` event carrying one File. */
async function dropFile(page, name, type, bytes) {
  await page.evaluate(([name, type, b64]) => {
    const data = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const transfer = new DataTransfer();
    transfer.items.add(new File([data], name, { type }));
    document.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
  }, [name, type, Buffer.from(bytes).toString('base64')]);
}

/** Dispatches one `drop` event carrying several files: `[name, type, bytes]` each. */
async function dropFiles(page, files) {
  await page.evaluate((files) => {
    const transfer = new DataTransfer();
    for (const [name, type, b64] of files) {
      transfer.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name, { type }));
    }
    document.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
  }, files.map(([name, type, bytes]) => [name, type, Buffer.from(bytes).toString('base64')]));
}

async function cardCount(page) {
  return page.locator('#results > article').count();
}

function assertSameOrigin(requests) {
  const foreign = requests.filter((u) => !u.startsWith(origin) && !u.startsWith('blob:') && !u.startsWith('data:'));
  assert.deepEqual(foreign, [], 'requests left the origin');
}

before(async () => {
  assert.ok(fs.existsSync(path.join(www, 'pkg/genderlens_bg.wasm')), 'www/pkg is not built');
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

/** For each face box (image coordinates), how many pixels of label text the picture shows
 *  around it: pixels near white where the plain photo is not, beside a pixel of a label's
 *  colour. `picture` is the card's picture (null) or a downloaded PNG; `photo` the dropped file. */
function labelTextAround(page, photo, picture, boxes, imageWidth) {
  return page.evaluate(async ([photoB64, pictureB64, boxes, imageWidth]) => {
    const bytes = (b64) => new Blob([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))]);
    const shown = document.querySelector('#results > article .annotated');
    while (!shown.src) await new Promise((resolve) => setTimeout(resolve, 10)); // still encoding
    await shown.decode();
    const source = await createImageBitmap(pictureB64 ? bytes(pictureB64) : shown);
    const { width, height } = source;
    const pixelsOf = (image) => {
      const c = new OffscreenCanvas(width, height);
      const ctx = c.getContext('2d');
      ctx.drawImage(image, 0, 0, width, height);
      return ctx.getImageData(0, 0, width, height).data;
    };
    const plain = pixelsOf(await createImageBitmap(bytes(photoB64)));
    const pixels = pixelsOf(source);
    const colours = [[0xd0, 0x19, 0x7f], [0x16, 0x73, 0xd1], [0x6b, 0x6b, 0x6b]];
    const changed = (i) => Math.abs(pixels[i] - plain[i]) + Math.abs(pixels[i + 1] - plain[i + 1]) + Math.abs(pixels[i + 2] - plain[i + 2]) > 90;
    const labelColour = (i) => changed(i) && colours.some((c) => c.every((v, k) => Math.abs(pixels[i + k] - v) < 40));
    const isText = (x, y) => {
      const i = 4 * (y * width + x);
      if (!(pixels[i] > 220 && pixels[i + 1] > 220 && pixels[i + 2] > 220 && changed(i))) return false;
      for (let dy = -2; dy <= 2; dy++) {
        for (let dx = -2; dx <= 2; dx++) {
          const xx = x + dx;
          const yy = y + dy;
          if (xx >= 0 && yy >= 0 && xx < width && yy < height && labelColour(4 * (yy * width + xx))) return true;
        }
      }
      return false;
    };
    const scale = width / imageWidth;
    return boxes.map(([bx, by, bw, bh]) => {
      const [x, y, w, h] = [bx, by, bw, bh].map((v) => v * scale);
      let count = 0;
      for (let yy = Math.max(0, Math.floor(y - 0.6 * h)); yy < Math.min(height, y + 1.6 * h); yy++) {
        for (let xx = Math.max(0, Math.floor(x - 0.2 * w)); xx < Math.min(width, x + 1.2 * w); xx++) count += isText(xx, yy);
      }
      return count;
    });
  }, [photo.toString('base64'), picture?.toString('base64') ?? null, boxes, imageWidth]);
}

test('every face on the picture has its number and label, in the card and the downloaded image', async () => {
  const { page } = await openPage(browser);
  await dropFile(page, 'solvay-1927.jpg', 'image/jpeg', solvay);
  const card = page.locator('#results > article').first();
  await card.locator('.faces li').first().waitFor({ timeout: 60_000 });
  const items = await card.locator('.faces li').allTextContents();
  const { faces, width } = JSON.parse(await downloaded(page, card.locator('.download-json')));
  assert.equal(faces.length, items.length);
  assert.ok(faces.length >= 20, `${faces.length} faces`);
  // Numbered left to right, in the list as on the picture.
  const centres = faces.map((f) => f.box[0] + f.box[2] / 2);
  assert.deepEqual(centres, [...centres].sort((a, b) => a - b), 'faces are not in left-to-right order');
  items.forEach((text, i) => assert.match(text, new RegExp(`^Face ${i + 1}: (female|male|uncertain)`)));
  const boxes = faces.map((f) => f.box);
  for (const [where, picture] of [['card', null], ['downloaded image', await downloaded(page, card.locator('.download-png'))]]) {
    const text = await labelTextAround(page, solvay, picture, boxes, width);
    const bare = text.map((n, i) => [i + 1, n]).filter(([, n]) => n < 15);
    assert.deepEqual(bare, [], `${where}: faces (number, text pixels) without a readable label`);
  }
  assert.match(await card.locator('.legend').textContent(), /uncertain/);
  await page.context().close();
});

test('a drop of many photos shows progress, cancels within one photo and downloads all results', async () => {
  const { page } = await openPage(browser);
  const portraits = ['collins', 'einstein', 'planck'].map((name) => fixture(`faces/${name}.jpg`));
  const files = Array.from({ length: 40 }, (_, i) => [`photo-${i}.jpg`, 'image/jpeg', i % 10 === 9 ? solvay : portraits[i % 3]]);
  await dropFiles(page, files);
  await page.waitForFunction(() => document.querySelector('#progress').value >= 4, null, { timeout: 60_000 });
  assert.equal(await page.locator('#batch').isVisible(), true, 'progress and cancel are shown');
  // Click and read the count in one step of the page, so no file finishes in between.
  const doneAtCancel = await page.evaluate(() => {
    document.querySelector('#cancel').click();
    return document.querySelector('#progress').value;
  });
  await page.waitForFunction(() => document.querySelector('#batch').hidden, null, { timeout: 60_000 });
  const cards = await cardCount(page);
  assert.ok(cards >= doneAtCancel && cards <= doneAtCancel + 1, `${cards} cards after cancelling at ${doneAtCancel}`);
  assert.match(await page.locator('#status').textContent(), /Cancelled/);
  // Finished cards keep a small picture, not a canvas of the photo.
  assert.equal(await page.locator('#results canvas').count(), 0);
  const pictures = await page.locator('#results .annotated').evaluateAll((imgs) => imgs.map((img) => img.src));
  assert.ok(pictures.length === cards && pictures.every((src) => src.startsWith('blob:')), pictures.join(' '));

  const all = JSON.parse(await downloaded(page, page.locator('#download-all-json')));
  assert.equal(all.length, cards);
  const names = all.map((r) => r.file);
  assert.deepEqual(names, files.slice(0, cards).map(([name]) => name), 'in the order they were done');
  const csv = (await downloaded(page, page.locator('#download-all-csv'))).toString().trim().split('\n');
  assert.equal(csv[0], 'file,width,height,face,x,y,w,h,label,likely,confidence,p_male,detector_score,error');
  const faceRows = all.reduce((n, r) => n + Math.max(1, r.faces.length), 0);
  assert.equal(csv.length - 1, faceRows, 'one row per face');
  assert.match(csv[1], /^photo-0\.jpg,200,200,1,[\d.]+,[\d.]+,[\d.]+,[\d.]+,(female|male|uncertain),/);

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
  const wasmHits = () => own.hits.get('/pkg/genderlens_bg.wasm') ?? 0;
  /** Reloads; the service worker then fetches the site again in the background. */
  async function visit() {
    const before = wasmHits();
    await page.reload();
    await pageReady(page);
    while (wasmHits() === before) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 1000)); // the worker stores what it fetched
  }
  const glue = fs.readFileSync(path.join(www, 'pkg/genderlens.js'), 'utf8');

  // A deploy whose new glue arrives but whose wasm module cannot be fetched.
  replaced.set('/pkg/genderlens.js', { status: 200, body: 'throw new Error("glue of another build");' });
  replaced.set('/pkg/genderlens_bg.wasm', { status: 503, body: 'unavailable' });
  await visit();
  await visit(); // would start from the broken glue if files were updated one by one
  await dropFile(page, 'face.jpg', 'image/jpeg', portrait);
  await page.locator('#results > article .faces li').first().waitFor({ timeout: 60_000 });

  // A deploy that arrives whole is what the visit after it runs.
  replaced.clear();
  replaced.set('/pkg/genderlens.js', { status: 200, body: glue + '\n// next build\n' });
  await visit();
  await page.reload();
  await pageReady(page);
  const served = await page.evaluate(() => fetch('pkg/genderlens.js').then((r) => r.text()));
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
  const all = JSON.parse(await downloaded(page, page.locator('#download-all-json'))).slice(cards + 1);
  assert.deepEqual(all.map((r) => r.file), mixed.map(([name]) => name));
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
  await context.route('**/pkg/genderlens.js', async (route) => {
    const original = fs.readFileSync(path.join(www, 'pkg/genderlens.js'), 'utf8');
    const patch = `
const realInspectImage = GenderLens.inspectImage;
GenderLens.inspectImage = function (bytes) {
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
