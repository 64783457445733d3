// End-to-end tests of the real page in headless Chromium: drop, errors, camera, privacy.
// Needs www/pkg built (`./dev test` does it) and Debian's /usr/bin/chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { makeY4m } from './y4m.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const www = path.join(root, 'www');
const solvay = fs.readFileSync(path.join(root, 'tests/fixtures/solvay-1927.jpg'));
const utkDir = path.join(root, '../shared/datasets/utk-dev/female');
const utkFace = fs.readFileSync(path.join(utkDir, fs.readdirSync(utkDir).sort()[0]));

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.json': 'application/json', '.png': 'image/png' };
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-quic'];

let server;
let origin;
let browser;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'genderlens-e2e-'));

/** Serves www/ on a free loopback port; resolves to the server and its origin. `replaced`
 *  maps a path to `{ status, body }` served instead of the file (a later deploy, a failure);
 *  `hits` counts the requests per path. */
function startServer(replaced = new Map()) {
  const hits = new Map();
  return new Promise((resolve) => {
    const s = http.createServer((req, res) => {
      const url = new URL(req.url, 'http://x');
      hits.set(url.pathname, (hits.get(url.pathname) ?? 0) + 1);
      const replacement = replaced.get(url.pathname);
      if (replacement) {
        res.writeHead(replacement.status, { 'Content-Type': TYPES[path.extname(url.pathname)] ?? 'text/plain' }).end(replacement.body);
        return;
      }
      const file = path.join(www, url.pathname === '/' ? 'index.html' : decodeURIComponent(url.pathname));
      if (!file.startsWith(www) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
        res.writeHead(404).end('not found');
        return;
      }
      res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
      fs.createReadStream(file).pipe(res);
    });
    s.listen(0, '127.0.0.1', () => resolve({ server: s, origin: `http://127.0.0.1:${s.address().port}`, hits }));
  });
}

async function serve() {
  ({ server, origin } = await startServer());
}

function launch(extraArgs = []) {
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: [...CHROMIUM_ARGS, ...extraArgs] });
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
  fs.mkdirSync(path.join(root, 'docs'), { recursive: true });
  await page.setViewportSize({ width: 1200, height: 900 });
  await page.screenshot({ path: path.join(root, 'docs/screenshot.png') });
  assertSameOrigin(requests);
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
  await dropFile(page, 'face.jpg', 'image/jpeg', utkFace);
  const card = page.locator('#results > article').first();
  await card.locator('.faces li').first().waitFor({ timeout: 60_000 });
  assert.match(await card.locator('.faces li').first().textContent(), /^Face 1: (female|male|uncertain)/);
});

test('an update caught half-way never pairs new glue with the old wasm; a whole one is used', async () => {
  const replaced = new Map();
  const own = await startServer(replaced);
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
  await dropFile(page, 'face.jpg', 'image/jpeg', utkFace);
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
  await dropFile(page, 'face.jpg', 'image/jpeg', utkFace);
  await page.locator('#results > article:not(.error-card) .faces li').first().waitFor({ timeout: 30_000 });
  assert.equal(await cardCount(page), 3);
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
  await dropFile(page, 'first.jpg', 'image/jpeg', utkFace);
  await dropFile(page, 'second.jpg', 'image/jpeg', utkFace);
  await page.locator('#results > article:not(.error-card) .faces li').first().waitFor({ timeout: 30_000 });
  assert.match(await page.locator('#results > article.error-card').textContent(), /first\.jpg.*the canvas failed/s);
  assert.equal(await page.locator('#results > article:not(.error-card) .name').textContent(), 'second.jpg');
  await page.context().close();
});

test('the camera shows live boxes from a fake capture device', async () => {
  const y4m = path.join(tmp, 'face.y4m');
  const { page } = await openPage(browser);
  await makeY4m(page, utkFace, y4m);
  const cameraBrowser = await launch(['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${y4m}`]);
  try {
    const { page: live, requests } = await openPage(cameraBrowser);
    await live.click('#camera-toggle');
    await live.waitForFunction(() => Number(document.querySelector('#overlay').dataset.faces) >= 1, null, { timeout: 30_000 });
    assert.match(await live.locator('#camera-stats').textContent(), /FPS/);
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
  assertSameOrigin(requests);
});

test('a crash inside the model restarts the worker, says so, and the next file works', async () => {
  const context = await browser.newContext();
  // Simulate a Rust panic (a wasm trap) on files whose name starts with "crash": the
  // bindings module is served with analyzeBytes wrapped to trap on a marker byte sequence.
  await context.route('**/pkg/genderlens.js', async (route) => {
    const original = fs.readFileSync(path.join(www, 'pkg/genderlens.js'), 'utf8');
    const patch = `
const realAnalyzeBytes = GenderLens.prototype.analyzeBytes;
GenderLens.prototype.analyzeBytes = function (bytes) {
  if (new TextDecoder().decode(bytes.subarray(0, 5)) === 'CRASH') throw new WebAssembly.RuntimeError('unreachable');
  return realAnalyzeBytes.call(this, bytes);
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
  await dropFile(page, 'face.jpg', 'image/jpeg', utkFace);
  await page.locator('#results > article:not(.error-card) .faces li').first().waitFor({ timeout: 60_000 });
  await context.close();
});
