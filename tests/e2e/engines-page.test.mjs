// The page in every engine — Chromium, Firefox ESR and WebKitGTK — as a visitor uses it:
// it starts, photos chosen through its file input are boxed and listed (read from the
// picture's pixels, not only the DOM), a bad file gets an error card and the page goes on,
// a batch of photos finishes with its progress bar gone, and axe-core finds no serious or
// critical accessibility violation in any of those states. The camera is tested in Chromium
// only (page.test.mjs), the one engine here with a fake capture device.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { root, startServer, www } from './harness.mjs';
import { ENGINES, inEngine } from './engines.mjs';
import { COLORS } from '../../www/marks.js';

const axeSource = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
let server;
let origin;

before(async () => {
  assert.ok(fs.existsSync(path.join(www, 'genderlens/wasm/genderlens_bg.wasm')), 'www/genderlens is not built');
  ({ server, origin } = await startServer({ mounts: [['/__fixtures/', path.join(root, 'tests/fixtures')], ['/', www]] }));
});

after(() => server?.close());

/** Chooses the named fixtures through the page's file input, as a visitor would. */
const choose = (names) => `(async () => {
  const transfer = new DataTransfer();
  for (const name of ${JSON.stringify(names)}) {
    const blob = await (await fetch('/__fixtures/' + name.split('#')[0])).blob();
    transfer.items.add(new File([blob], name.split('/').pop().replace('#', '-'), { type: blob.type || 'application/octet-stream' }));
  }
  const input = document.querySelector('#file-input');
  input.files = transfer.files;
  input.dispatchEvent(new Event('change', { bubbles: true }));
  return true;
})()`;

const cards = 'document.querySelectorAll("#results > article").length';

/** How many pixels of the newest card's picture have the colour of the men's boxes (the
 *  other two colours are not counted: the grey of "uncertain" is everywhere in a
 *  black-and-white photo). */
const colouredPixels = `(async () => {
  const img = document.querySelector('#results > article .annotated');
  while (!img.src) await new Promise((r) => setTimeout(r, 20));
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
  const colours = ${JSON.stringify({ male: COLORS.male })};
  const targets = Object.entries(colours).map(([label, hex]) => [label, [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16))]);
  const counts = Object.fromEntries(targets.map(([label]) => [label, 0]));
  for (let i = 0; i < data.length; i += 4) {
    for (const [label, [r, g, b]] of targets) {
      if (Math.abs(data[i] - r) + Math.abs(data[i + 1] - g) + Math.abs(data[i + 2] - b) < 60) counts[label]++;
    }
  }
  return { width: canvas.width, counts };
})()`;

async function audit(browser, state) {
  await browser.evaluate(`(() => { ${axeSource}; return true; })()`);
  const bad = await browser.evaluate(`axe.run(document, { resultTypes: ['violations'] }).then(({ violations }) => violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => v.id + ' (' + v.impact + '): ' + v.nodes.map((n) => n.target.join(' ')).join('; ')))`);
  assert.deepEqual(bad, [], `${browser.name}, ${state}: accessibility violations`);
}

for (const engine of ENGINES) {
  test(`the page in ${engine}: photos boxed and listed, a bad file, a batch, no accessibility violation`, async (t) => {
    await inEngine(engine, t, async (browser) => {
      await browser.goto(`${origin}/`);
      await browser.waitFor('document.querySelector("#status").textContent.startsWith("Ready")', 60_000);
      await audit(browser, 'empty');

      await browser.evaluate(choose(['solvay-1927.jpg']));
      await browser.waitFor(`${cards} === 1 && document.querySelectorAll("#results > article .faces li").length > 0`, 60_000);
      const items = await browser.evaluate('[...document.querySelectorAll("#results > article .faces li")].map((li) => li.textContent)');
      assert.equal(items.length, 29, `${engine}: ${items.length} faces listed`);
      assert.ok(items.every((text) => /^Face \d+: (female|male|uncertain)/.test(text)), items.join(' | '));
      assert.ok(items.filter((text) => /: male/.test(text)).length >= 24, `${engine}: ${items.join(' | ')}`);
      const { width, counts } = await browser.evaluate(colouredPixels);
      t.diagnostic(`${engine}: the Solvay card's picture is ${width} px wide; ${counts.male} pixels of the men's boxes' blue`);
      // 28 men's boxes of about 40 px drawn 2-3 px wide: thousands of pixels of their blue,
      // which the photo itself (a black-and-white print) has none of.
      assert.ok(counts.male > 3000, `${engine}: the men's boxes do not show (${counts.male} px)`);
      await audit(browser, 'a result');

      await browser.evaluate(choose(['README.md']));
      await browser.waitFor(`${cards} === 2`, 30_000);
      const error = await browser.evaluate('document.querySelector("#results > article.error-card .error")?.textContent ?? ""');
      assert.match(error, /^Could not read this file: not a supported image/, engine);
      await audit(browser, 'an error card');

      const batch = Array.from({ length: 24 }, (_, i) => `faces/${['collins', 'einstein', 'planck'][i % 3]}.jpg#${i}`);
      await browser.evaluate(choose(batch));
      await browser.waitFor(`${cards} === 26 && document.querySelector("#batch").hidden`, 120_000);
      const labels = await browser.evaluate('[...document.querySelectorAll("#results > article:not(.error-card)")].slice(0, 24).map((c) => [c.querySelector(".name").textContent, c.querySelector(".faces li")?.textContent])');
      for (const [name, face] of labels) assert.match(face ?? '', new RegExp(`^Face 1: (uncertain \\()?${name.startsWith('collins') ? 'female' : 'male'}`), `${engine}: ${name}`);
      assert.match(await browser.evaluate('document.querySelector("#status").textContent'), /^Processed 24 of 24/);
      await audit(browser, 'after a batch');
      t.diagnostic(`${engine}: the camera is not tested here (no fake capture device outside Chromium)`);
    });
  });
}
