// Test helpers for the browser runtime: a tiny export made by the real `slm export` (the qwen2 fixture
// model with the tiny chat tokenizer), the chat page's files laid beside it as `slm pipeline` lays them, and
// `slm serve --port 0` on 127.0.0.1 serving it. Used by test_runtime.mjs (node) and test_page.mjs (chromium).

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const fixtures = path.join(root, 'tests/fixtures');

function haveEmscripten() {
  try {
    execFileSync('em++', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// Exits with the remedy when slm or the wasm is missing; 77 (ctest: skipped) only for a wasm that cannot be
// built here (no emscripten) outside CI, as tests/web/test_text_wasm.mjs does.
export function preflight(script, slm, wasm) {
  if (!slm || !fs.existsSync(slm)) {
    console.error(`FAIL: slm not found at ${slm} — usage: node ${script} SLM_EXE SLM_TEXT_WASM …; build it with tools/build`);
    process.exit(1);
  }
  if (!wasm || !fs.existsSync(wasm)) {
    if (!haveEmscripten() && !process.env.CI) {
      console.log(`SKIP: ${wasm} is absent and emscripten is not installed — tools/install_deps, then tools/build`);
      process.exit(77);
    }
    console.error(`FAIL: ${wasm} is missing — build it with tools/build_wasm ${path.dirname(wasm ?? 'build/wasm')} ` +
                  '(tools/build does this)');
    process.exit(1);
  }
}

// The HF model folder the export reads: config + weights of tests/fixtures/models/qwen2 (V = 320) with
// tests/fixtures/chat/tiny_tokenizer (267 tokens + 3 added, Qwen's ChatML template).
function modelDir(tmp) {
  const dir = path.join(tmp, 'hf');
  fs.mkdirSync(dir, { recursive: true });
  for (const f of ['config.json', 'generation_config.json', 'model.safetensors'])
    fs.copyFileSync(path.join(fixtures, 'models/qwen2', f), path.join(dir, f));
  for (const f of ['tokenizer.json', 'tokenizer_config.json'])
    fs.copyFileSync(path.join(fixtures, 'chat/tiny_tokenizer', f), path.join(dir, f));
  return dir;
}

export function exportModel(slm, tmp, quant, out) {
  execFileSync(slm, ['export', '--model', modelDir(tmp), '--quant', quant, '--out', out, '--no-verify'],
               { stdio: ['ignore', 'ignore', 'pipe'] });
  return out;
}

// Copies the page's files (web/app_files.json) into `dir`; slm_text.wasm comes from the build.
export function copyPage(dir, wasm) {
  const files = JSON.parse(fs.readFileSync(path.join(root, 'web/app_files.json'), 'utf8'));
  for (const f of files) {
    const src = f === 'text/slm_text.wasm' ? wasm : path.join(root, 'web', f);
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.copyFileSync(src, path.join(dir, f));
  }
}

export function makeTmp(prefix) { return fs.mkdtempSync(path.join(os.tmpdir(), prefix)); }

// Starts `slm serve DIR --port 0`; resolves to {url, stop()} once it prints its address. stop() kills it
// outright: a SIGTERM'd server finishes its open keep-alive connections first (up to seconds), and the
// offline tests need every connection gone at once.
export function serve(slm, dir) {
  return new Promise((resolve, reject) => {
    const p = spawn(slm, ['serve', dir, '--port', '0', '--host', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    const timer = setTimeout(() => { p.kill(); reject(new Error(`slm serve did not start: ${out}${err}`)); }, 10000);
    p.stderr.on('data', (d) => { err += d; });
    p.stdout.on('data', (d) => {
      out += d;
      const m = /Open (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({
          url: m[1], log: () => err, process: p,
          stop: () => new Promise((r) => { if (p.exitCode !== null || p.signalCode !== null) return r(); p.once('exit', r); p.kill('SIGKILL'); }),
        });
      }
    });
    p.on('exit', (code, sig) => { clearTimeout(timer); reject(new Error(`slm serve exited (${code ?? sig}): ${err}`)); });
  });
}

// The Cache API for node: enough of CacheStorage/Cache for runtime/loader.mjs. `failPut(url)` may throw.
export class MemoryCaches {
  constructor({ failPut = null } = {}) {
    this.stores = new Map();
    this.failPut = failPut;
  }

  async open(name) {
    if (!this.stores.has(name)) this.stores.set(name, new Map());
    const store = this.stores.get(name);
    const failPut = this.failPut;
    return {
      async match(url) {
        const e = store.get(String(url));
        return e ? new Response(e.body.slice(0), { status: 200, headers: e.headers }) : undefined;
      },
      async put(url, res) {
        if (failPut) failPut(String(url));
        store.set(String(url), { body: await res.arrayBuffer(), headers: [...res.headers] });
      },
      async delete(url) { return store.delete(String(url)); },
      keys: async () => [...store.keys()],
    };
  }

  async delete(name) { return this.stores.delete(name); }
}

// Tensor `name` of a safetensors file as a Float32Array (the reference for exported f32 records).
export function readSafetensorF32(file, name) {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const t = header[name];
  if (!t || t.dtype !== 'F32') throw new Error(`${file}: no F32 tensor ${name}`);
  const [a, b] = t.data_offsets;
  return new Float32Array(buf.buffer.slice(buf.byteOffset + 8 + n + a, buf.byteOffset + 8 + n + b));
}
