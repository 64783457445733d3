// What the page tests and the page benchmark share: the repository's paths and fixtures, a
// static server for www/ on a free loopback port, Debian's Chromium, headless, and memory.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const www = path.join(root, 'www');

/** A committed test image (tests/fixtures/…), as bytes. */
export const fixture = (name) => fs.readFileSync(path.join(root, 'tests/fixtures', name));

const TYPES = {
  '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm',
  '.json': 'application/json', '.png': 'image/png', '.jpg': 'image/jpeg', '.mjs': 'text/javascript',
};

/** Serves www/ (or the `mounts`: `[urlPrefix, folder]`, the first whose prefix matches)
 *  on a free loopback port; resolves to `{ server, origin, hits }`. `replaced` maps a path
 *  to `{ status, body, type? }` served instead of the file (a later deploy, a failure, a page
 *  of the harness's own), or to `{ until }`: the file served once that promise resolves;
 *  `hits` counts the requests per path; `onFile({ file, bytes, disk })`
 *  hears of every file sent. */
export function startServer({ replaced = new Map(), onFile = () => {}, mounts = [['/', www]] } = {}) {
  const hits = new Map();
  return new Promise((resolve) => {
    const sendFile = (url, res) => {
      const [prefix, folder] = mounts.find(([prefix]) => url.pathname.startsWith(prefix)) ?? [];
      const rest = decodeURIComponent(url.pathname.slice(prefix?.length ?? 0));
      const file = folder && path.join(folder, rest === '' ? 'index.html' : rest);
      if (!file || !file.startsWith(folder) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
        res.writeHead(404).end('not found');
        return;
      }
      res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
      onFile({ file: url.pathname, bytes: fs.statSync(file).size, disk: file });
      fs.createReadStream(file).pipe(res);
    };
    const server = http.createServer((req, res) => {
      const url = new URL(req.url, 'http://x');
      hits.set(url.pathname, (hits.get(url.pathname) ?? 0) + 1);
      const replacement = replaced.get(url.pathname);
      if (replacement?.until) {
        replacement.until.then(() => sendFile(url, res)); // a slow download
      } else if (replacement) {
        const type = replacement.type ?? TYPES[path.extname(url.pathname)] ?? 'text/plain';
        res.writeHead(replacement.status, { 'Content-Type': type }).end(replacement.body);
      } else {
        sendFile(url, res);
      }
    });
    server.listen(0, '127.0.0.1', () => resolve({ server, origin: `http://127.0.0.1:${server.address().port}`, hits }));
  });
}

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-quic'];

/** Debian's Chromium (playwright-core never downloads a browser). */
export function launch(extraArgs = []) {
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: [...CHROMIUM_ARGS, ...extraArgs] });
}

/** The page's memory after a garbage collection: the main thread's JS heap and the
 *  workers' wasm memories (which hold the decoded photos and the model), in bytes; and, as
 *  the browser's task manager counts a tab, its renderer process's private memory (DOM,
 *  images, every thread's heaps: `process_bytes`; Linux only, 0 elsewhere). */
export async function memoryOf(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  await cdp.send('HeapProfiler.collectGarbage');
  const { metrics } = await cdp.send('Performance.getMetrics');
  await cdp.detach();
  const jsHeap = metrics.find((m) => m.name === 'JSHeapUsedSize').value;
  let wasm = 0;
  for (const worker of page.workers()) {
    wasm += await worker.evaluate(() => globalThis.genderlensWasmBytes?.() ?? 0);
  }
  return { js_heap_bytes: jsHeap, wasm_bytes: wasm, total_bytes: jsHeap + wasm, process_bytes: await rendererBytes(page) };
}

/** The private memory (resident and swapped) of the largest renderer process: the page's,
 *  with its workers' threads (a spare renderer the browser keeps ready is far smaller). */
async function rendererBytes(page) {
  const cdp = await page.context().browser().newBrowserCDPSession();
  const { processInfo } = await cdp.send('SystemInfo.getProcessInfo');
  await cdp.detach();
  let largest = 0;
  for (const { type, id } of processInfo) {
    if (type !== 'renderer') continue;
    let rollup;
    try {
      rollup = fs.readFileSync(`/proc/${id}/smaps_rollup`, 'utf8');
    } catch {
      continue;
    }
    const kb = (field) => Number(rollup.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'))?.[1] ?? 0);
    largest = Math.max(largest, 1024 * (kb('Private_Clean') + kb('Private_Dirty') + kb('Swap')));
  }
  return largest;
}
