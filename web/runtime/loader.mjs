// Loads an export directory (`slm export --out`, served over HTTP) into memory: mlc-chat-config.json,
// tensor-cache.json, the tokenizer files and every params_shard_N.bin, keeping them in the Cache API so the
// second load needs no network. Returns each tensor record as a typed array. Runs in the worker or a page.
// Not here: GPU upload (the model module does it), tokenisation (web/text/slm_text.mjs).
// Follows WebLLM's fetchTensorCache (../shared/docs/webllm-format.md §1, §3.5), with two differences:
//   * integrity: a downloaded shard must have exactly its `nbytes` and, when tensor-cache.json lists one,
//     its `md5sum` (WebLLM checks neither); a cached shard is used only when the MD5 recorded when it was
//     stored equals the manifest's (so a re-export at the same URL is downloaded again) and its size matches;
//     `rehashCached: true` re-hashes cached shards as well;
//   * small files (JSON, tokenizer) are network-first (`cache: 'no-cache'`, cheap 304s), falling back to the
//     cache only when the server cannot be reached — WebLLM never refreshes them once cached.
// One cache per model URL: `slm-model:<absolute base URL>`.

import { Md5, md5Hex } from './md5.mjs';

export class LoaderError extends Error {
  // code: 'offline' | 'http' | 'integrity' | 'format' | 'quota' | 'aborted'
  constructor(message, code) {
    super(message);
    this.name = 'LoaderError';
    this.code = code;
  }
}

const DTYPES = {  // TVM dtype string -> [bytes per element, typed array of the decoded data]
  float32: [4, Float32Array], float16: [2, Uint16Array], bfloat16: [2, Uint16Array],
  uint32: [4, Uint32Array], int32: [4, Int32Array], uint8: [1, Uint8Array], int8: [1, Int8Array],
};

export const mb = (n) => `${(n / 1e6).toFixed(n < 1e7 ? 2 : 1)} MB`;

export function modelBaseUrl(url, relativeTo = globalThis.location?.href) {
  const u = new URL(url, relativeTo);
  if (!u.pathname.endsWith('/')) u.pathname += '/';
  u.search = '';
  u.hash = '';
  return u.href;
}

export const modelCacheName = (url) => `slm-model:${modelBaseUrl(url)}`;

export async function deleteModelCache(url, cacheStorage = globalThis.caches) {
  return cacheStorage.delete(modelCacheName(url));
}

// True when every shard listed by the cached tensor-cache.json is in the cache.
export async function hasModelInCache(url, cacheStorage = globalThis.caches) {
  const base = modelBaseUrl(url);
  const cache = await cacheStorage.open(modelCacheName(base));
  const manifest = await cache.match(new URL('tensor-cache.json', base).href);
  if (!manifest) return false;
  const shards = (await manifest.json()).records ?? [];
  for (const s of shards) if (!(await cache.match(new URL(s.dataPath, base).href))) return false;
  return true;
}

// Checks what the runtime relies on before any shard is fetched (codegen/tensor_cache.h's reader does the
// same natively). Returns the shard list.
export function validateTensorCache(tc, where) {
  const bad = (why) => { throw new LoaderError(`[loader] ${where}: ${why} — is this a tensor-cache.json written by ` +
                                                '`slm export` (or MLC)? Export the model again', 'format'); };
  if (!tc || !Array.isArray(tc.records)) bad('no "records" list');
  const names = new Set();
  for (const [i, s] of tc.records.entries()) {
    const at = `records[${i}]`;
    if (typeof s.dataPath !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(s.dataPath) || s.dataPath.startsWith('.'))
      bad(`${at}.dataPath ${JSON.stringify(s.dataPath)} is not a plain file name`);
    if (s.format !== 'raw-shard') bad(`${at}.format is ${JSON.stringify(s.format)}, not "raw-shard"`);
    if (!Number.isSafeInteger(s.nbytes) || s.nbytes < 0) bad(`${at}.nbytes is not a byte count`);
    if (s.md5sum != null && !/^[0-9a-f]{32}$/i.test(s.md5sum)) bad(`${at}.md5sum is not 32 hex digits`);
    for (const r of s.records ?? []) {
      const what = `${s.dataPath}: record '${r.name}'`;
      if (names.has(r.name)) bad(`${what} appears twice`);
      names.add(r.name);
      const dt = DTYPES[r.dtype];
      if (!dt) bad(`${what} has dtype ${JSON.stringify(r.dtype)}, which this runtime does not read`);
      if (!Array.isArray(r.shape) || !r.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
        bad(`${what} has no valid shape`);
      const numel = r.shape.reduce((a, d) => a * d, 1);
      const packed = r.format === 'f32-to-bf16' && r.dtype === 'float32';
      if (r.format !== 'raw' && r.format !== 'f32-to-bf16') bad(`${what} has format ${JSON.stringify(r.format)}`);
      if (r.nbytes !== numel * (packed ? 2 : dt[0]))
        bad(`${what} holds ${r.nbytes} bytes but shape [${r.shape}] of ${r.dtype} (${r.format}) needs ` +
            `${numel * (packed ? 2 : dt[0])}`);
      if (!Number.isSafeInteger(r.byteOffset) || r.byteOffset < 0 || r.byteOffset + r.nbytes > s.nbytes)
        bad(`${what} lies outside its shard ([${r.byteOffset}, ${r.byteOffset + r.nbytes}) of ${s.nbytes} bytes)`);
    }
  }
  return tc.records;
}

// The record's data as a typed array: float32 records stored as bf16 widened to Float32Array; float16 and
// bfloat16 as their raw bits (Uint16Array); others viewed in place (copied when the offset is misaligned,
// since records are packed without padding).
export function recordView(shardBytes, r) {
  const [size, Type] = DTYPES[r.dtype];
  const bytes = shardBytes.subarray(r.byteOffset, r.byteOffset + r.nbytes);
  if (r.format === 'f32-to-bf16' && r.dtype === 'float32') {
    const bf = new Uint16Array(bytes.slice().buffer);
    const f32bits = new Uint32Array(bf.length);
    for (let i = 0; i < bf.length; ++i) f32bits[i] = bf[i] << 16;
    return { bytes, data: new Float32Array(f32bits.buffer) };
  }
  const aligned = (bytes.byteOffset % size) === 0;
  const src = aligned ? bytes : bytes.slice();
  return { bytes, data: new Type(src.buffer, src.byteOffset, r.nbytes / size) };
}

function isNetworkError(e) { return e instanceof TypeError || e?.name === 'NetworkError'; }

function isQuotaError(e) {
  return e?.name === 'QuotaExceededError' || e?.code === 22 || /quota/i.test(String(e?.message));
}

class ArtifactStore {
  constructor(base, cache, opts) {
    this.base = base;
    this.cache = cache;
    this.fetch = opts.fetch ?? globalThis.fetch.bind(globalThis);
    this.signal = opts.signal;
    this.warn = opts.warn;
    this.storeFailed = null;  // the first quota error: later puts are not tried
  }

  url(name) { return new URL(name, this.base).href; }

  // Network first, the cache when the server cannot be reached. Returns a Response, or null when
  // `optional` and the file does not exist (404).
  async small(name, { optional = false } = {}) {
    const url = this.url(name);
    let res;
    try {
      res = await this.fetch(url, { cache: 'no-cache', signal: this.signal });
    } catch (e) {
      if (this.signal?.aborted) throw new LoaderError('[loader] loading was cancelled', 'aborted');
      if (!isNetworkError(e)) throw e;
      const hit = await this.cache.match(url);
      if (hit) return hit;
      if (optional) return null;
      throw new LoaderError(`[loader] cannot reach ${url} (offline, or the server stopped) and it is not in this ` +
                            "browser's cache — load the model once while online", 'offline');
    }
    if (res.status === 404 && optional) return null;
    if (!res.ok) {
      const hit = res.status >= 500 ? await this.cache.match(url) : null;
      if (hit) return hit;
      throw new LoaderError(`[loader] ${url}: HTTP ${res.status} — is ${this.base} the folder \`slm export --out\` ` +
                            'wrote (mlc-chat-config.json, tensor-cache.json, params_shard_*.bin, tokenizer.json)?', 'http');
    }
    await this.put(url, res.clone(), name);
    return res;
  }

  async json(name) {
    const res = await this.small(name);
    try {
      return await res.json();
    } catch (e) {
      throw new LoaderError(`[loader] ${this.url(name)} is not valid JSON (${e.message}) — export the model again`, 'format');
    }
  }

  async put(url, response, name, nbytes = 0) {
    if (this.storeFailed) return false;
    try {
      await this.cache.put(url, response);
      return true;
    } catch (e) {
      if (!isQuotaError(e)) throw e;
      this.storeFailed = e;
      await this.warn({ kind: 'quota', file: name, bytes: nbytes });
      return false;
    }
  }
}

// Downloads one shard into memory, hashing while bytes arrive. `onBytes(n)` reports progress.
async function downloadShard(store, shard, onBytes) {
  const url = store.url(shard.dataPath);
  let res;
  try {
    res = await store.fetch(url, { cache: 'no-store', signal: store.signal });
  } catch (e) {
    if (store.signal?.aborted) throw new LoaderError('[loader] loading was cancelled', 'aborted');
    throw new LoaderError(`[loader] downloading ${url} failed (${e.message}) — check the connection and load again; ` +
                          'shards already stored are kept', isNetworkError(e) ? 'offline' : 'http');
  }
  if (!res.ok) throw new LoaderError(`[loader] ${url}: HTTP ${res.status} — the export folder is incomplete; ` +
                                     'export or upload it again', 'http');
  const out = new Uint8Array(shard.nbytes);
  const md5 = new Md5();
  let at = 0;
  const take = (chunk) => {
    if (at + chunk.length > out.length)
      throw new LoaderError(`[loader] ${url} is longer than the ${shard.nbytes} bytes tensor-cache.json lists — the ` +
                            'shard does not belong to this tensor-cache.json; export the model again', 'integrity');
    out.set(chunk, at);
    md5.update(chunk);
    at += chunk.length;
    onBytes(chunk.length);
  };
  if (res.body?.getReader) {
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      take(value);
    }
  } else {
    take(new Uint8Array(await res.arrayBuffer()));
  }
  if (at !== out.length)
    throw new LoaderError(`[loader] ${url} ended after ${at} of its ${shard.nbytes} bytes — the download was cut ` +
                          'or the file on the server is truncated; load again', 'integrity');
  const got = md5.hex();
  if (shard.md5sum && got !== shard.md5sum.toLowerCase())
    throw new LoaderError(`[loader] ${url}: MD5 ${got}, but tensor-cache.json lists ${shard.md5sum} — the download is ` +
                          'corrupt or the shard is from another export; nothing was cached, load again', 'integrity');
  return { bytes: out, md5: got };
}

// A cached shard, or null when absent or stale (size or recorded MD5 differ from the manifest).
async function cachedShard(store, shard, rehash) {
  const res = await store.cache.match(store.url(shard.dataPath));
  if (!res) return null;
  const want = shard.md5sum?.toLowerCase() ?? null;
  if (want && res.headers.get('X-Slm-Md5') !== want) return null;
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (bytes.length !== shard.nbytes) return null;
  if (rehash && want && md5Hex(bytes) !== want) return null;
  return bytes;
}

function quotaMessage(w, needed, estimate) {
  const free = estimate ? ` (this site may use ${mb(estimate.quota)}, ${mb(estimate.usage)} of it already)` : '';
  return `[loader] browser storage is full: storing ${w.file}${w.bytes ? ` (${mb(w.bytes)})` : ''} failed. The model ` +
         `needs ${mb(needed)} of storage to work offline${free}. It runs now, but will be downloaded again next ` +
         'time — free space (remove other sites\' data or old models in the browser settings) and reload';
}

// Loads everything. options: onProgress(p), fetch, caches, storage (navigator.storage), parallel (4),
// rehashCached (false), signal. Progress objects:
//   {phase: 'manifest'}  {phase: 'download', loaded, total, cached, rate, shardsDone, shards}
//   {phase: 'warning', message}  {phase: 'ready', ...stats}
export async function loadArtifacts(url, options = {}) {
  const t0 = performance.now();
  const base = modelBaseUrl(url);
  const onProgress = options.onProgress ?? (() => {});
  const cacheStorage = options.caches ?? globalThis.caches;
  if (!cacheStorage) throw new LoaderError('[loader] this browser has no Cache API (a page over plain http from ' +
                                           'another machine is not a secure context) — open it over https or localhost', 'format');
  const storage = options.storage ?? globalThis.navigator?.storage;
  const cache = await cacheStorage.open(`slm-model:${base}`);
  const warnings = [];
  let needed = 0;
  const store = new ArtifactStore(base, cache, {
    fetch: options.fetch, signal: options.signal,
    warn: async (w) => {
      const estimate = await storage?.estimate?.().catch(() => null);
      const message = quotaMessage(w, needed, estimate);
      warnings.push(message);
      onProgress({ phase: 'warning', message });
    },
  });
  onProgress({ phase: 'manifest' });
  const config = await store.json('mlc-chat-config.json');
  const tensorCache = await store.json('tensor-cache.json');
  const shards = validateTensorCache(tensorCache, store.url('tensor-cache.json'));
  const tokFiles = config.tokenizer_files ?? ['tokenizer.json'];
  if (!tokFiles.includes('tokenizer.json'))
    throw new LoaderError(`[loader] ${store.url('mlc-chat-config.json')} lists no tokenizer.json in tokenizer_files ` +
                          `(${JSON.stringify(tokFiles)}); this runtime reads HF tokenizer.json only`, 'format');
  const tokenizerJson = await (await store.small('tokenizer.json')).text();
  const tcRes = tokFiles.includes('tokenizer_config.json') ? await store.small('tokenizer_config.json', { optional: true }) : null;
  const tokenizerConfigJson = tcRes ? await tcRes.text() : null;

  // Shards: cached ones first, then the rest in `parallel` download loops (as WebLLM: 4).
  const total = shards.reduce((a, s) => a + s.nbytes, 0);
  const shardBytes = new Array(shards.length);
  let cachedBytes = 0, loaded = 0, done = 0;
  for (const [i, s] of shards.entries()) {
    shardBytes[i] = await cachedShard(store, s, options.rehashCached ?? false);
    if (shardBytes[i]) { cachedBytes += s.nbytes; done++; }
  }
  loaded = cachedBytes;
  needed = total;
  const todo = shards.map((s, i) => i).filter((i) => !shardBytes[i]);
  const missingBytes = total - cachedBytes;
  if (todo.length) {
    await storage?.persist?.().catch(() => false);
    const est = await storage?.estimate?.().catch(() => null);
    if (est && est.quota - est.usage < missingBytes) {
      const message = `[loader] the model needs ${mb(missingBytes)} more browser storage but only ` +
                      `${mb(Math.max(0, est.quota - est.usage))} are free for this site — it will run, but may not ` +
                      'be kept for offline use; free space in the browser settings';
      warnings.push(message);
      onProgress({ phase: 'warning', message });
    }
  }
  const tDl = performance.now();
  let lastReport = 0;
  const report = (force) => {
    const now = performance.now();
    if (!force && now - lastReport < 100) return;
    lastReport = now;
    const secs = (now - tDl) / 1000;
    onProgress({ phase: 'download', loaded, total, cached: cachedBytes, shardsDone: done, shards: shards.length,
                 rate: secs > 0 ? (loaded - cachedBytes) / secs : 0 });
  };
  report(true);
  const queue = [...todo];
  const worker = async () => {
    while (queue.length) {
      const i = queue.shift();
      const s = shards[i];
      const { bytes, md5 } = await downloadShard(store, s, (n) => { loaded += n; report(false); });
      shardBytes[i] = bytes;
      done++;
      report(true);
      const headers = { 'Content-Type': 'application/octet-stream', 'Content-Length': String(s.nbytes), 'X-Slm-Md5': md5 };
      await store.put(store.url(s.dataPath), new Response(bytes, { headers }), s.dataPath, s.nbytes);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(options.parallel ?? 4, todo.length) }, worker));
  } catch (e) {
    queue.length = 0;  // the other loops stop after their current shard
    if (options.signal?.aborted) throw new LoaderError('[loader] loading was cancelled', 'aborted');
    throw e;
  }

  const tensors = new Map();
  for (const [i, s] of shards.entries())
    for (const r of s.records ?? [])
      tensors.set(r.name, { name: r.name, shape: r.shape, dtype: r.dtype, format: r.format, nbytes: r.nbytes,
                            shard: s.dataPath, ...recordView(shardBytes[i], r) });
  const stats = {
    bytesTotal: total, bytesFromCache: cachedBytes, bytesDownloaded: missingBytes, shards: shards.length,
    shardsFromCache: shards.length - todo.length, seconds: (performance.now() - t0) / 1000,
    verified: shards.every((s) => s.md5sum) ? 'md5+size' : 'size', cached: !store.storeFailed,
  };
  onProgress({ phase: 'ready', ...stats });
  return {
    baseUrl: base, cacheName: `slm-model:${base}`, config, tensorCache, tokenizerJson, tokenizerConfigJson,
    tensors, stats, warnings,
    // Other files of the export (kernels.json, a .wasm …) through the same network-first cache.
    fileText: async (name) => (await store.small(name)).text(),
    fileBytes: async (name) => new Uint8Array(await (await store.small(name)).arrayBuffer()),
  };
}
