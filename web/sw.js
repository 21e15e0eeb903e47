// Service worker of the chat page: keeps the page's own files (app_files.json lists them, plus models.json
// when the folder has one) so the page opens
// with the server stopped or the network gone. Network first — a new export or page version is picked up
// as soon as the server answers — and the cache when it does not. Shards are left alone: the loader
// (runtime/loader.mjs) keeps and verifies the model's files in its own per-model cache.
const SHELL = 'slm-app-shell-v1';

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(SHELL);
    const files = await (await fetch('app_files.json', { cache: 'no-cache' })).json();
    // A file this deployment lacks (say, the wasm before it is built) must not block the rest.
    await Promise.all(['./', 'models.json', ...files].map((f) => cache.add(new Request(f, { cache: 'no-cache' })).catch(() => {})));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('fetch', (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== self.location.origin || req.headers.has('range')) return;
  if (/\/params_shard_\d+\.bin$/.test(url.pathname)) return;
  event.respondWith(networkFirst(req));
});

async function networkFirst(req) {
  const cache = await caches.open(SHELL);
  try {
    const res = await fetch(req);
    // Refresh only what the page itself consists of (already in the cache, or the page).
    if (res.ok && (req.mode === 'navigate' || (await cache.match(req, { ignoreSearch: true }))))
      await cache.put(req.mode === 'navigate' ? new URL(req.url).pathname : req, res.clone());
    return res;
  } catch (err) {
    const hit = await cache.match(req, { ignoreSearch: true });
    if (hit) return hit;
    throw err;
  }
}
