// What a visitor does on the page, in any engine (a driver from engines.mjs): open it, drop
// or choose files, click a download and read the file, and what axe-core finds. Files reach
// the page from the test server (the fixtures, the hostile corpus, or bytes a test hands it),
// fetched by the page itself: nothing large crosses the WebDriver connection.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { root, startServer, www } from './harness.mjs';

const axeSource = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** The page's server, with `/__fixtures/` (tests/fixtures), `/__corpus/` (target/corpus)
 *  and `/__drop/NAME` (what `offer(name, bytes)` handed it); `{ server, origin, hits,
 *  replaced, offer, close }`. */
export async function pageServer({ replaced = new Map() } = {}) {
  assert.ok(fs.existsSync(path.join(www, 'genderlens/wasm/genderlens_bg.wasm')), 'www/genderlens is not built');
  const mounts = [['/__fixtures/', path.join(root, 'tests/fixtures')], ['/__corpus/', path.join(root, 'target/corpus')], ['/', www]];
  const { server, origin, hits } = await startServer({ replaced, mounts });
  const offer = (name, bytes, type = 'application/octet-stream') => {
    replaced.set(`/__drop/${name}`, { status: 200, body: bytes, type });
    return `/__drop/${name}`;
  };
  const close = () => new Promise((resolve) => {
    server.closeAllConnections();
    server.close(resolve);
  });
  return { server, origin, hits, replaced, offer, close };
}

export const isReady = () => document.querySelector('#status').textContent.startsWith('Ready');

/** Navigates to `origin`, waits until the model is ready and records downloads. */
export async function openPage(browser, origin) {
  await browser.goto(`${origin}/`);
  await browser.waitFor(isReady, 60_000);
  await browser.evaluate(captureDownloads);
}

/** Downloads made by the page (a link with `download`, clicked) are read in the page instead
 *  of saved: `window.downloads` holds a promise of `{ name, b64 }` for each. The blob behind
 *  a link is kept as the page makes its URL (the page's CSP does not let it fetch blob: URLs). */
function captureDownloads() {
  window.downloads = [];
  const blobs = new Map();
  const createObjectURL = URL.createObjectURL;
  URL.createObjectURL = (blob) => {
    const url = createObjectURL(blob);
    blobs.set(url, blob);
    return url;
  };
  const click = HTMLAnchorElement.prototype.click;
  HTMLAnchorElement.prototype.click = function () {
    if (!this.download) return click.call(this);
    const name = this.download;
    window.downloads.push(blobs.get(this.href).arrayBuffer().then((buffer) => {
      let text = '';
      for (const b of new Uint8Array(buffer)) text += String.fromCharCode(b);
      return { name, b64: btoa(text) };
    }));
  };
  return true;
}

/** Clicks `selector` (a download button) and resolves to the file's bytes; the page keeps
 *  them too, as `window.lastDownload` (base 64). */
export async function downloaded(browser, selector) {
  const before = await browser.evaluate(() => window.downloads.length);
  await browser.evaluate((s) => { document.querySelector(s).click(); return true; }, selector);
  await browser.waitFor((n) => window.downloads.length > n, 30_000, before);
  const b64 = await browser.evaluate(async () => {
    window.lastDownload = (await window.downloads[window.downloads.length - 1]).b64;
    return window.lastDownload;
  });
  return Buffer.from(b64, 'base64');
}

/** Drops files on the page in one `drop` event: `[name, url, type?]` each, fetched by the
 *  page from its server. */
export function drop(browser, files) {
  return browser.evaluate(async (files) => {
    const transfer = new DataTransfer();
    for (const [name, url, type] of files) {
      const blob = await (await fetch(url)).blob();
      transfer.items.add(new File([blob], name, { type: type ?? blob.type }));
    }
    document.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
    return true;
  }, files);
}

/** Drops one file whose bytes travel with the command: for a page whose server is gone. */
export function dropBytes(browser, name, type, bytes) {
  return browser.evaluate(([name, type, b64]) => {
    const transfer = new DataTransfer();
    transfer.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name, { type }));
    document.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
    return true;
  }, [name, type, Buffer.from(bytes).toString('base64')]);
}

/** Chooses files through the page's file input, as a visitor would: `[name, url]` each. */
export function choose(browser, files) {
  return browser.evaluate(async (files) => {
    const transfer = new DataTransfer();
    for (const [name, url] of files) {
      const blob = await (await fetch(url)).blob();
      transfer.items.add(new File([blob], name, { type: blob.type || 'application/octet-stream' }));
    }
    const input = document.querySelector('#file-input');
    input.files = transfer.files;
    input.dispatchEvent(new Event('change', { bubbles: true }));
    return true;
  }, files);
}

/** How many result cards the page shows. */
export const cardCount = (browser) => browser.evaluate(() => document.querySelectorAll('#results > article').length);

/** Waits until the page shows `n` result cards. */
export const cardsShown = (browser, n, ms = 60_000) =>
  browser.waitFor((n) => document.querySelectorAll('#results > article').length === n, ms, n);

/** The face list of the newest card (empty while it has none). */
export const faceList = (browser) =>
  browser.evaluate(() => [...document.querySelectorAll('#results > article:first-child .faces li')].map((li) => li.textContent));

/** Fails on any serious or critical violation axe-core finds on the page as it is now. It is
 *  evaluated into the page by the driver, which the page's own CSP does not govern. */
export async function audit(browser, state) {
  await browser.evaluate(`(() => { ${axeSource}; return true; })()`);
  const bad = await browser.evaluate(() => axe.run(document, { resultTypes: ['violations'] }).then(({ violations }) => violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join('; ')}`)));
  assert.deepEqual(bad, [], `${browser.name}, ${state}: accessibility violations`);
}

/** Fails if the page or its workers asked anything of another origin (where the engine's
 *  driver reports requests). */
export function assertSameOrigin(browser, origin) {
  if (!browser.requests) return;
  const foreign = browser.requests.filter((u) => !u.startsWith(origin) && !u.startsWith('blob:') && !u.startsWith('data:'));
  assert.deepEqual(foreign, [], `${browser.name}: requests left the origin`);
}
