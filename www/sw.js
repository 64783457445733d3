// Offline support. The page, its scripts and the wasm model are kept in the browser's cache
// as one *generation*: a complete copy of the site. Pages are served from the newest complete
// generation, chosen when the page is opened; meanwhile a fresh copy is fetched in the
// background and stored as a new generation only if every file arrived. So the JS glue and
// the wasm module it was built for are always served together, even when a visit catches a
// deploy half-way or the network drops, and a new deploy is used from the visit after it.
// Only this origin's files are ever fetched or cached.
const PREFIX = 'genderlens-site-';
const COMPLETE = './.generation-complete';
const SHELL = [
  './',
  './index.html',
  './style.css',
  './app.js',
  './cards.js',
  './marks.js',
  './record.js',
  // The package as npm users get it (its package.json "files").
  './genderlens/index.js',
  './genderlens/pool.js',
  './genderlens/split.js',
  './genderlens/worker.js',
  './genderlens/sources.js',
  './genderlens/decode.js',
  './genderlens/results.js',
  './genderlens/errors.js',
  './genderlens/version.js',
  './genderlens/warm-up.jpg',
  './genderlens/wasm/genderlens.js',
  './genderlens/wasm/genderlens_bg.wasm',
];

/** Name of the generation serving the open pages (kept in memory; recomputed after the
 *  browser stops and restarts this worker). */
let active;

async function generations() {
  return (await caches.keys()).filter((name) => name.startsWith(PREFIX)).sort();
}

async function newestComplete() {
  for (const name of (await generations()).reverse()) {
    if (await (await caches.open(name)).match(COMPLETE)) return name;
  }
  return undefined;
}

/** Every file of the site, fetched with the given HTTP cache mode; fails if any fails. */
function fetchAll(cacheMode) {
  return Promise.all(SHELL.map(async (url) => {
    const response = await fetch(new Request(url, { cache: cacheMode }));
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return response;
  }));
}

/** Stores the responses as a new generation: all of them, or none is kept. */
async function storeGeneration(responses) {
  // Fixed-width timestamps sort in time order.
  const name = PREFIX + String(Date.now()).padStart(16, '0');
  const cache = await caches.open(name);
  try {
    await Promise.all(SHELL.map((url, i) => cache.put(url, responses[i])));
    await cache.put(COMPLETE, new Response('')); // written last: marks the copy as whole
  } catch (error) {
    await caches.delete(name);
    throw error;
  }
}

/** The server's version of a response, when it tells one (ETag, or date and length). */
function version(response) {
  const h = response.headers;
  const tag = h.get('etag') ?? (h.get('last-modified') && `${h.get('last-modified')} ${h.get('content-length')}`);
  return tag || undefined;
}

/** Fetches the site again (revalidating with the server, cheap when nothing changed) and
 *  stores it as a new generation unless every file is the version already active. */
async function refresh() {
  const responses = await fetchAll('no-cache');
  if (active) {
    const current = await caches.open(active);
    const old = await Promise.all(SHELL.map((url) => current.match(url)));
    const unchanged = responses.every((r, i) => old[i] && version(r) && version(r) === version(old[i]));
    if (unchanged) return;
  }
  await storeGeneration(responses);
}

/** Deletes generations older than the active one, and caches of earlier versions of this
 *  worker. */
async function dropOld() {
  const names = await caches.keys();
  const stale = names.filter((n) => !n.startsWith(PREFIX) || (active !== undefined && n < active));
  await Promise.all(stale.map((n) => caches.delete(n)));
}

self.addEventListener('install', (event) => {
  // The page registers this worker after it has loaded everything: take those files from the
  // browser's HTTP cache ('force-cache') rather than downloading the model a second time.
  event.waitUntil(fetchAll('force-cache').then(storeGeneration).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(dropOld().then(() => self.clients.claim()));
});

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET' || new URL(request.url).origin !== self.location.origin) return;
  const opening = request.mode === 'navigate';
  event.respondWith((async () => {
    if (opening || active === undefined) active = await newestComplete();
    if (opening) {
      // The next visit gets whatever complete, newer copy this finds.
      event.waitUntil(dropOld().then(refresh).catch(() => {}));
    }
    const cached = active && await (await caches.open(active)).match(request, { ignoreSearch: true });
    return cached ?? fetch(request);
  })());
});
