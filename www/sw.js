// Offline support: the page, its scripts and the wasm model are cached on first visit, so
// the page works without a network afterwards. Each request is answered from the cache at
// once and refreshed in the background (stale-while-revalidate), so a new deploy is picked
// up on the next visit. Only this origin's files are ever fetched or cached.
const CACHE = 'genderlens-v1';
const SHELL = [
  './',
  './index.html',
  './style.css',
  './app.js',
  './worker.js',
  './pkg/genderlens.js',
  './pkg/genderlens_bg.wasm',
];

self.addEventListener('install', (event) => {
  // The page registers this worker after it has loaded everything: take those files from the
  // browser's HTTP cache ('force-cache') rather than downloading the model a second time.
  const requests = SHELL.map((url) => new Request(url, { cache: 'force-cache' }));
  event.waitUntil(
    caches.open(CACHE)
      .then((cache) => cache.addAll(requests))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names.filter((n) => n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET' || new URL(request.url).origin !== self.location.origin) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    const cached = await cache.match(request, { ignoreSearch: true });
    const fresh = fetch(request)
      .then(async (response) => {
        if (response.ok && response.type === 'basic') await cache.put(request, response.clone());
        return response;
      });
    if (cached) {
      event.waitUntil(fresh.catch(() => {}));
      return cached;
    }
    return fresh;
  })());
});
