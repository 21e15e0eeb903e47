// The model library in a real browser, per family: Debian's chromium, headless, WebGPU through
// --enable-unsafe-webgpu (SwiftShader: no shader-f16, so the q4f32_1 build), everything served by
// `slm serve` on 127.0.0.1. For a tiny export of each family's fixture (tests/fixtures/models/<family>):
//   - the first step's logits (prefill of an 11-token prompt in chunks of 4) match `slm logits` on the same
//     export within LOGIT_BOUND (max |browser − native| / max |native|);
//   - 32 greedy tokens equal `slm generate --ignore-eos` on the export (fewer where the fixture's context is
//     shorter: llama_dynamic's 16 positions).
// The page code is web/runtime/model_gpu.mjs as the chat page imports it; weights come from tensor-cache.json
// and the shards over HTTP, decoded by runtime/loader.mjs (the loader's Cache API layer is the page test's).
//   node tests/browser/test_families.mjs SLM_EXE
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { LOGIT_BOUND, parseLogits, testPrompt } from '../web/native_ref.mjs';
import { relErr } from '../web/wgsl_harness.mjs';
import { makeTmp, root, serve } from './site.mjs';

const GEN_TOKENS = 32;
const FAMILIES = ['llama', 'qwen2', 'qwen2_swa', 'qwen3', 'phi3', 'phi3_longrope', 'gemma', 'gemma2', 'gemma3_text'];

const [slm] = process.argv.slice(2);
if (!slm || !fs.existsSync(slm)) {
  console.error(`FAIL: slm not found at ${slm} — usage: node tests/browser/test_families.mjs SLM_EXE`);
  process.exit(1);
}
const browserPath = process.env.SLM_CHROMIUM ?? '/usr/bin/chromium';
if (!fs.existsSync(browserPath)) {
  console.error(`FAIL: no browser at ${browserPath} — tools/install_deps installs Debian's chromium (or set SLM_CHROMIUM)`);
  process.exit(1);
}
const { chromium } = await import('playwright-core').catch((e) => {
  console.error(`FAIL: playwright-core is not installed (${e.message}) — run tools/install_deps (npm ci)`);
  process.exit(1);
});

const run = (args) => execFileSync(slm, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
let tmp, site, server, browser, page;
const native = {};

before(async () => {
  tmp = makeTmp('slm-families-');
  site = path.join(tmp, 'site');
  for (const dir of ['runtime', 'kernels']) fs.cpSync(path.join(root, 'web', dir), path.join(site, dir), { recursive: true });
  for (const f of FAMILIES) {
    const dist = path.join(site, f);
    run(['export', '--model', path.join(root, 'tests/fixtures/models', f), '--quant', 'q4f32_1', '--out', dist, '--no-verify']);
    const V = JSON.parse(fs.readFileSync(path.join(dist, 'kernels/kernels.json'), 'utf8')).constants.V;
    const prompt = testPrompt(V);
    const lf = path.join(tmp, `${f}.logits.safetensors`);
    run(['logits', dist, '--ids', prompt.join(','), '--out', lf]);
    native[f] = { V, prompt, logits: parseLogits(fs.readFileSync(lf)), dist };
  }
  server = await serve(slm, site);
  browser = await chromium.launch({ executablePath: browserPath, args: ['--enable-unsafe-webgpu'] });
  page = await browser.newPage();
  await page.goto(`${server.url}runtime/model_gpu.mjs`);  // any page of the server's origin: imports resolve there
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

// In the page: load the export over HTTP, run model_gpu.mjs, return the first step's logits and greedy ids.
async function runInBrowser(family, prompt, maxTokens) {
  return page.evaluate(async ({ family, prompt, maxTokens }) => {
    const { createModel } = await import('/runtime/model_gpu.mjs');
    const { recordView, validateTensorCache } = await import('/runtime/loader.mjs');
    const base = `/${family}/`;
    const json = async (n) => (await fetch(base + n)).json();
    const config = await json('mlc-chat-config.json');
    const tensors = new Map();
    for (const s of validateTensorCache(await json('tensor-cache.json'), base)) {
      const bytes = new Uint8Array(await (await fetch(base + s.dataPath)).arrayBuffer());
      for (const r of s.records) tensors.set(r.name, { ...r, shard: s.dataPath, ...recordView(bytes, r) });
    }
    const adapter = await navigator.gpu.requestAdapter();
    const device = await adapter.requestDevice();
    const model = await createModel({ device, shaderF16: false, config: { ...config, prefill_chunk_size: 4 }, tensors,
                                      files: { text: async (n) => (await fetch(base + n)).text() }, returnLogits: true });
    const greedy = (ids) => ({ temperature: 0, context: Int32Array.from(ids) });
    let res = await model.prefill(Int32Array.from(prompt), greedy(prompt));
    const logits = Array.from(res.logits);
    const n = Math.min(maxTokens, model.contextWindow - prompt.length + 1);
    const ids = [res.token];
    while (ids.length < n) {
      res = await model.decode(ids[ids.length - 1], greedy([...prompt, ...ids]));
      ids.push(res.token);
    }
    model.dispose();
    device.destroy();
    return { logits, ids, adapter: adapter.info?.description || adapter.info?.vendor || 'webgpu' };
  }, { family, prompt, maxTokens });
}

for (const family of FAMILIES) {
  test(`${family}: first-step logits and ${GEN_TOKENS} greedy tokens in the browser = native slm on the export`, async () => {
    const { V, prompt, logits, dist } = native[family];
    const got = await runInBrowser(family, prompt, GEN_TOKENS);
    const T = logits.shape[0];
    const want = logits.data.subarray((T - 1) * V, T * V);
    const rel = relErr(got.logits, want).rel;
    const nativeIds = run(['generate', dist, '--ids', prompt.join(','), '--max-tokens', String(got.ids.length), '--ignore-eos'])
      .trim().split(/\s+/).map(Number);
    console.log(`[families] ${family} on ${got.adapter}: logits max rel err ${rel.toExponential(2)} (bound ${LOGIT_BOUND}); ` +
                `${got.ids.length} greedy ids ${got.ids.join() === nativeIds.join() ? 'equal' : 'DIFFER'}`);
    assert.ok(rel <= LOGIT_BOUND, `${family}: first-step logits differ by ${rel} (relative)`);
    assert.ok(got.ids.length >= Math.min(GEN_TOKENS, 4));
    assert.deepEqual(got.ids, nativeIds);
  });
}
