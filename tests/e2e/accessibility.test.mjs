// An accessibility audit of the real page in every engine — Chromium, Firefox ESR and
// WebKitGTK: axe-core (npm, pinned in package.json) run on every state a visitor meets —
// loading, empty, a result, an error card, many photos under way and after, the camera
// (Chromium only: the one engine here with a fake capture device) — with no serious or
// critical violation allowed; and the keyboard path from a face's box to its list entry.
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeY4m } from './y4m.mjs';
import { fixture } from './harness.mjs';
import { inEveryEngine, open } from './engines.mjs';
import { audit, cardsShown, drop, isReady, openPage, pageServer } from './visitor.mjs';

const PORTRAITS = ['collins', 'einstein', 'planck'].map((n) => `/__fixtures/faces/${n}.jpg`);
let site;

before(async () => {
  site = await pageServer();
});

after(() => site?.close());

inEveryEngine('no serious or critical accessibility violation while loading, empty, with a result and an error', async (browser) => {
  // Loading: the model's download held back until the audit is done.
  let release;
  const own = await pageServer({ replaced: new Map([['/genderlens/wasm/genderlens_bg.wasm', { until: new Promise((r) => { release = r; }) }]]) });
  try {
    await browser.goto(`${own.origin}/`);
    await browser.waitFor(() => document.querySelector('#status').textContent.length > 0, 30_000);
    assert.match(await browser.evaluate(() => document.querySelector('#status').textContent), /Loading/);
    await audit(browser, 'loading');
    release();
    await openPage(browser, own.origin);
    await audit(browser, 'empty');
    await drop(browser, [['solvay-1927.jpg', '/__fixtures/solvay-1927.jpg']]);
    await browser.waitFor(() => document.querySelector('#results > article .annotated[src]') && document.querySelector('#results > article .faces li'), 60_000);
    await audit(browser, 'a result');
    await drop(browser, [['notes.txt', own.offer('notes.txt', Buffer.from('not an image'), 'text/plain')]]);
    await browser.waitFor(() => document.querySelector('#results > article.error-card'), 30_000);
    await audit(browser, 'an error card');
  } finally {
    await own.close();
  }
});

inEveryEngine('no serious or critical accessibility violation while many photos are under way, and after', async (browser) => {
  await openPage(browser, site.origin);
  const files = Array.from({ length: 24 }, (_, i) => [`${['collins', 'einstein', 'planck'][i % 3]}-${i}.jpg`, PORTRAITS[i % 3]]);
  await drop(browser, files);
  await browser.waitFor(() => !document.querySelector('#batch').hidden, 30_000);
  await audit(browser, 'many photos under way');
  await cardsShown(browser, 24, 120_000);
  await browser.waitFor(() => document.querySelector('#batch').hidden, 30_000);
  const labels = await browser.evaluate(() => [...document.querySelectorAll('#results > article')].map((c) => [c.querySelector('.name').textContent, c.querySelector('.faces li')?.textContent]));
  for (const [name, face] of labels) assert.match(face ?? '', new RegExp(`^Face 1: (uncertain \\()?${name.startsWith('collins') ? 'female' : 'male'}`), name);
  assert.match(await browser.evaluate(() => document.querySelector('#status').textContent), /^Processed 24 of 24/);
  await audit(browser, 'after a batch');
});

inEveryEngine('no serious or critical accessibility violation with the camera on', async (browser) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'genderlens-a11y-'));
  const y4m = path.join(tmp, 'face.y4m');
  await makeY4m(browser.page, fixture('faces/einstein.jpg'), y4m, { width: 320, height: 240 });
  const camera = await open('chromium', { args: ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${y4m}`] });
  try {
    await camera.goto(`${site.origin}/`);
    await camera.waitFor(isReady, 60_000);
    await camera.evaluate(() => { document.querySelector('#camera-toggle').click(); return true; });
    await camera.waitFor(() => Number(document.querySelector('#overlay').dataset.faces) >= 1, 30_000);
    await audit(camera, 'camera');
  } finally {
    await camera.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}, { only: ['chromium'], why: 'no fake capture device in this engine here (Chromium has one)' });

inEveryEngine('a face box is reached by keyboard, names its face and lights its list entry', async (browser) => {
  await openPage(browser, site.origin);
  await drop(browser, [['face.jpg', PORTRAITS[1]]]);
  await browser.waitFor(() => document.querySelector('#results > article .faces li'), 60_000);
  // Tab from the last control before the results until a face's spot has the focus.
  await browser.evaluate(() => {
    const el = document.querySelector('#download-all-csv');
    el.closest('p').hidden = false;
    el.focus();
    return true;
  });
  const onSpot = () => document.activeElement?.classList.contains('spot') ?? false;
  for (let i = 0; i < 20 && !(await browser.evaluate(onSpot)); i++) await browser.press('Tab');
  const spot = await browser.evaluate(() => {
    const el = document.querySelector('.spot:focus');
    if (!el) return null;
    // What the label beside the box says while it has the focus: its ::after content, which
    // an engine may give back as the attr() it is made of rather than the text.
    const content = getComputedStyle(el, '::after').content;
    const attr = content.match(/^attr\(([\w-]+)\)$/);
    return { label: el.getAttribute('aria-label'), shown: attr ? el.getAttribute(attr[1]) : content };
  });
  assert.ok(spot, `${browser.name}: no face box took the keyboard focus`);
  assert.match(spot.label, /^Face 1: (female|male|uncertain)/);
  assert.match(spot.shown ?? '', /1 (female|male|uncertain)/);
  assert.equal(await browser.evaluate(() => document.querySelectorAll('#results > article .faces li.lit').length), 1, 'the list entry is not lit');
  // The next stop is the face's list entry, which lights its box in turn.
  await browser.press('Tab');
  assert.match(await browser.evaluate(() => document.activeElement.textContent), /^Face 1: /);
  assert.equal(await browser.evaluate(() => document.querySelectorAll('#results > article .spot.lit').length), 1, 'the box is not lit from its list entry');
});
