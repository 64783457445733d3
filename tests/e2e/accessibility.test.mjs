// An accessibility audit of the real page in headless Chromium: axe-core (npm, pinned in
// package.json) run on every state a visitor meets — loading, empty, a result, an error card,
// many photos under way, the camera — with no serious or critical violation allowed; and the
// keyboard path from a face's box to its list entry.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { makeY4m } from './y4m.mjs';
import { dropFile, dropFiles, fixture, launch, startServer } from './harness.mjs';

const axeSource = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const solvay = fixture('solvay-1927.jpg');
const portrait = fixture('faces/einstein.jpg');

let server;
let origin;
let hits;
let browser;

before(async () => {
  ({ server, origin, hits } = await startServer());
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.close();
});

/** A fresh page; axe is evaluated into it, which the page's own CSP would refuse to load. */
async function newPage(b = browser) {
  const context = await b.newContext({ bypassCSP: true, permissions: ['camera'] });
  return context.newPage();
}

const ready = (page) => page.waitForFunction(() => document.querySelector('#status').textContent.startsWith('Ready'), null, { timeout: 60_000 });

/** The serious and critical violations axe finds on the page as it is now. */
async function audit(page, state) {
  await page.evaluate(axeSource);
  const { violations } = await page.evaluate(() => globalThis.axe.run(document, { resultTypes: ['violations'] }));
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join('; ')}`), [], `${state}: accessibility violations`);
  return violations.length;
}

test('no serious or critical accessibility violation while loading, empty, with a result and an error', async () => {
  const page = await newPage();
  // Loading: the model's download held back until the audit is done.
  let release;
  const held = new Promise((resolve) => { release = resolve; });
  await page.route('**/genderlens/wasm/genderlens_bg.wasm', async (route) => { await held; await route.continue(); });
  await page.goto(origin + '/');
  assert.match(await page.locator('#status').textContent(), /Loading/);
  await audit(page, 'loading');
  release();
  await ready(page);
  await audit(page, 'empty');
  await dropFile(page, 'solvay-1927.jpg', 'image/jpeg', solvay);
  await page.locator('#results > article .faces li').first().waitFor({ timeout: 60_000 });
  await page.locator('#results > article .annotated[src]').waitFor({ timeout: 30_000 });
  await audit(page, 'a result');
  await dropFile(page, 'notes.txt', 'text/plain', Buffer.from('not an image'));
  await page.locator('#results > article.error-card').waitFor({ timeout: 30_000 });
  await audit(page, 'an error card');
  await page.context().close();
});

test('no serious or critical accessibility violation while many photos are under way', async () => {
  const page = await newPage();
  await page.goto(origin + '/');
  await ready(page);
  await dropFiles(page, Array.from({ length: 40 }, (_, i) => [`photo-${i}.jpg`, 'image/jpeg', portrait]));
  await page.locator('#batch:not([hidden])').waitFor({ timeout: 30_000 });
  await audit(page, 'many photos under way');
  await page.context().close();
});

test('no serious or critical accessibility violation with the camera on', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'genderlens-a11y-'));
  const y4m = path.join(tmp, 'face.y4m');
  const helper = await browser.newPage();
  await makeY4m(helper, portrait, y4m, { width: 320, height: 240 });
  await helper.close();
  const camera = await launch(['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${y4m}`]);
  try {
    const page = await newPage(camera);
    await page.goto(origin + '/');
    await ready(page);
    await page.click('#camera-toggle');
    await page.waitForFunction(() => Number(document.querySelector('#overlay').dataset.faces) >= 1, null, { timeout: 30_000 });
    await audit(page, 'camera');
  } finally {
    await camera.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('a face box is reached by keyboard, names its face and lights its list entry', async () => {
  const page = await newPage();
  await page.goto(origin + '/');
  await ready(page);
  await dropFile(page, 'face.jpg', 'image/jpeg', portrait);
  const card = page.locator('#results > article').first();
  await card.locator('.faces li').first().waitFor({ timeout: 60_000 });
  // Tab from the last control before the results until a face's spot has the focus.
  await page.locator('#download-all-csv').evaluate((el) => { el.closest('p').hidden = false; el.focus(); });
  for (let i = 0; i < 20 && !(await page.evaluate(() => document.activeElement?.classList.contains('spot'))); i++) await page.keyboard.press('Tab');
  const spot = page.locator('.spot:focus');
  assert.equal(await spot.count(), 1, 'no face box took the keyboard focus');
  assert.match(await spot.getAttribute('aria-label'), /^Face 1: (female|male|uncertain)/);
  assert.equal(await card.locator('.faces li.lit').count(), 1, 'the list entry is not lit');
  // The label shows beside the box while it has the focus.
  const shown = await spot.evaluate((el) => getComputedStyle(el, '::after').content);
  assert.match(shown, /1 (female|male|uncertain)/);
  // The next stop is the face's list entry, which lights its box in turn.
  await page.keyboard.press('Tab');
  assert.match(await page.evaluate(() => document.activeElement.textContent), /^Face 1: /);
  assert.equal(await card.locator('.spot.lit').count(), 1, 'the box is not lit from its list entry');
  assert.ok(hits.get('/genderlens/wasm/genderlens_bg.wasm') >= 1);
  await page.context().close();
});
