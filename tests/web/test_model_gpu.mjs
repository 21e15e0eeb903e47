// The browser model library against native slm on the same export: web/runtime/model_gpu.mjs runs the
// export's kernels (its dispatch program) on Dawn for Node — Mesa's lavapipe, a real Vulkan driver — and must
// reproduce `slm logits` (every position: a short chunked prefill, then one decode step per token) and the
// token ids of `slm generate` (greedy, 32 tokens) on the same export directory.
//   node tests/web/test_model_gpu.mjs SLM_BINARY MODEL_DIR SCHEME
// MODEL_DIR: an HF fixture (tests/fixtures/models/<family>); it is exported to a temp dir with SCHEME.
// Exit 77 (skipped, reason printed) without the npm `webgpu` package or a Vulkan adapter.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { recordView, validateTensorCache } from '../../web/runtime/loader.mjs';
import { createModel } from '../../web/runtime/model_gpu.mjs';
import { LOGIT_BOUND, parseLogits, testPrompt } from './native_ref.mjs';
import { SKIP, loadWebgpu, openDevice, relErr } from './wgsl_harness.mjs';

const GEN_TOKENS = 32;

const [slm, modelDir, scheme] = process.argv.slice(2);
if (!slm || !modelDir || !scheme) {
  console.error('usage: node tests/web/test_model_gpu.mjs SLM_BINARY MODEL_DIR SCHEME');
  process.exit(2);
}
const family = path.basename(modelDir);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `slm-model-gpu-${family}-`));
const dist = path.join(tmp, 'dist');
const run = (args) => execFileSync(slm, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

function loadExport(dir) {
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'mlc-chat-config.json'), 'utf8'));
  const tc = JSON.parse(fs.readFileSync(path.join(dir, 'tensor-cache.json'), 'utf8'));
  const tensors = new Map();
  for (const s of validateTensorCache(tc, 'tensor-cache.json')) {
    const bytes = new Uint8Array(fs.readFileSync(path.join(dir, s.dataPath)));
    for (const r of s.records) tensors.set(r.name, { ...r, shard: s.dataPath, ...recordView(bytes, r) });
  }
  const files = { text: async (n) => fs.readFileSync(path.join(dir, n), 'utf8'), bytes: async (n) => new Uint8Array(fs.readFileSync(path.join(dir, n))) };
  return { config, tensors, files };
}

const webgpu = await loadWebgpu();
const dev = await openDevice(webgpu, 'vulkan');
if (!dev) {
  console.log('SKIPPED: no Vulkan adapter for Dawn (Mesa lavapipe: tools/install_deps)');
  process.exit(SKIP);
}
let failures = 0;
const fail = (msg) => { failures++; console.log(`FAIL ${family} ${scheme}: ${msg}`); };
try {
  run(['export', '--model', modelDir, '--quant', scheme, '--out', dist, '--no-verify']);
  const art = loadExport(dist);
  const V = JSON.parse(fs.readFileSync(path.join(dist, 'kernels', 'kernels.json'), 'utf8')).constants.V;
  const prompt = testPrompt(V);
  const extra = [5, 17, 2, 40 % V];
  const all = [...prompt, ...extra];
  const logitsFile = path.join(tmp, 'logits.safetensors');
  run(['logits', dist, '--ids', all.join(','), '--out', logitsFile]);
  const native = parseLogits(fs.readFileSync(logitsFile));

  const config = { ...art.config, prefill_chunk_size: 4 };
  const model = await createModel({ device: dev.device, shaderF16: dev.f16, config, tensors: art.tensors, files: art.files,
                                    baseUrl: '', returnLogits: true });
  // Logits: prefill the prompt, then decode the extra ids; compare each produced row.
  let worst = 0;
  // sampling.context: every id in the cache plus the new ones, as the engine passes it (Phi-3 longrope
  // recomputes the cache from it when the sequence crosses original_max_position_embeddings).
  const greedy = (ids) => ({ temperature: 0, context: Int32Array.from(ids) });
  let res = await model.prefill(Int32Array.from(prompt), greedy(prompt));
  const check = (row, got) => {
    const e = relErr(got, native.data.subarray(row * V, (row + 1) * V)).rel;
    worst = Math.max(worst, e);
    if (!(e <= LOGIT_BOUND)) fail(`logits of position ${row}: relative error ${e.toExponential(2)} > ${LOGIT_BOUND}`);
  };
  check(prompt.length - 1, res.logits);
  for (let i = 0; i < extra.length; ++i) {
    res = await model.decode(extra[i], greedy(all.slice(0, prompt.length + i + 1)));
    check(prompt.length + i, res.logits);
  }
  // Greedy generation from a fresh cache, as far as the context allows (llama_dynamic's fixture: 16 positions).
  const n = Math.min(GEN_TOKENS, model.contextWindow - prompt.length + 1);
  const genOut = run(['generate', dist, '--ids', prompt.join(','), '--max-tokens', String(n), '--ignore-eos']);
  const nativeIds = genOut.trim().split(/\s+/).map(Number);
  // n ids from a fresh cache: decode() one token at a time, or chained as the engine runs it.
  let chainedSteps = 0;
  const generate = async (m, samp, chained) => {
    m.resetKV();
    const ids = [];
    ids.push((await m.prefill(Int32Array.from(prompt), samp(prompt))).token);
    if (!chained) {
      while (ids.length < n) ids.push((await m.decode(ids[ids.length - 1], samp([...prompt, ...ids]))).token);
      return ids;
    }
    // As the engine does: decode(id) where chaining is not possible (Phi-3 longrope's switch recomputes the
    // cache from host-known ids), one chained forward queued ahead elsewhere.
    let ahead = null;
    while (ids.length < n) {
      const sc = samp([...prompt, ...ids]);
      let current = ahead;
      ahead = null;
      if (!current) current = m.canChain(sc) ? (chainedSteps++, m.decodeChained(sc)) : m.decode(ids[ids.length - 1], sc);
      if (ids.length + 1 < n && m.canChain(sc)) { chainedSteps++; ahead = m.decodeChained(sc); }
      ids.push((await current).token);
    }
    return ids;
  };
  const gpuIds = await generate(model, greedy, false);
  const firstDiff = gpuIds.findIndex((t, i) => t !== nativeIds[i]);
  if (n < 4) fail(`context window ${model.contextWindow} leaves only ${n} tokens to generate`);
  if (nativeIds.length !== n) fail(`slm generate printed ${nativeIds.length} ids, expected ${n}: ${genOut}`);
  else if (firstDiff >= 0) fail(`greedy token ${firstDiff} differs: gpu ${gpuIds.slice(0, firstDiff + 1)} vs native ${nativeIds.slice(0, firstDiff + 1)}`);
  // The sampling head: repetition penalty 5 with temperature 0 is deterministic (penalty then argmax), so
  // it must give native `slm generate --repetition-penalty 5`'s ids; top_k = 1 (or top_p = 1e-6) with
  // temperature 0.8 must pick the argmax (the sampling stages' path with a drawn u).
  const penOut = run(['generate', dist, '--ids', prompt.join(','), '--max-tokens', String(n), '--ignore-eos',
                      '--repetition-penalty', '5']);
  const nativePen = penOut.trim().split(/\s+/).map(Number);
  const pen = (ids) => ({ temperature: 0, repetition_penalty: 5, context: Int32Array.from(ids) });
  const penIds = await generate(model, pen, false);
  const penDiff = penIds.findIndex((t, i) => t !== nativePen[i]);
  if (penDiff >= 0) fail(`repetition-penalty token ${penDiff} differs: gpu ${penIds.slice(0, penDiff + 1)} vs native ${nativePen.slice(0, penDiff + 1)}`);
  if (penIds.join() === gpuIds.join()) fail('the repetition penalty changed nothing: the check would not see a broken penalty');
  model.resetKV();
  res = await model.prefill(Int32Array.from(prompt), { temperature: 0.8, top_k: 1, seed: 7, context: Int32Array.from(prompt) });
  if (res.token !== gpuIds[0]) fail(`top_k = 1 sampled ${res.token}, the argmax is ${gpuIds[0]}`);
  // top_p alone (the runtime leaves the top-k stages out): a mass of 1e-6 keeps only the most likely token.
  model.resetKV();
  res = await model.prefill(Int32Array.from(prompt), { temperature: 0.8, top_p: 1e-6, seed: 7, context: Int32Array.from(prompt) });
  if (res.token !== gpuIds[0]) fail(`top_p = 1e-6 sampled ${res.token}, the argmax is ${gpuIds[0]}`);
  // Chained decodes (what the engine runs): each forward takes the token the
  // previous one chose on the GPU and is queued before that token is read back, one forward ahead. Greedy
  // must give the same ids as above; temperature + top-p + penalty with a seed the same ids as decode() one at a
  // time (each prefill restarts the seed's draws, so both runs draw the same u sequence).
  const lean = await createModel({ device: dev.device, shaderF16: dev.f16, config, tensors: art.tensors, files: art.files,
                                   baseUrl: '' });
  const chainedIds = await generate(lean, greedy, true);
  const chainDiff = chainedIds.findIndex((t, i) => t !== gpuIds[i]);
  if (chainDiff >= 0) fail(`chained greedy token ${chainDiff} differs: ${chainedIds.slice(0, chainDiff + 1)} vs ${gpuIds.slice(0, chainDiff + 1)}`);
  const topP = (ids) => ({ temperature: 0.8, top_p: 0.9, repetition_penalty: 1.3, seed: 11, context: Int32Array.from(ids) });
  const syncSampled = await generate(model, topP, false), chainSampled = await generate(lean, topP, true);
  const again = await generate(lean, topP, true);
  if (again.join() !== chainSampled.join()) fail('the same seeded request gave other tokens the second time');
  const sampDiff = chainSampled.findIndex((t, i) => t !== syncSampled[i]);
  if (sampDiff >= 0) fail(`chained sampled token ${sampDiff} differs: ${chainSampled.slice(0, sampDiff + 1)} vs ${syncSampled.slice(0, sampDiff + 1)}`);
  if (chainedSteps < n) fail(`only ${chainedSteps} of ${2 * (n - 1)} decodes were chained`);
  // With a repetition penalty: the pick adds each token to the penalty mask on the GPU, so chained decodes give
  // the same ids as one at a time (checked against native above).
  const chainPen = await generate(lean, pen, true);
  const chainPenDiff = chainPen.findIndex((t, i) => t !== penIds[i]);
  if (chainPenDiff >= 0) fail(`chained repetition-penalty token ${chainPenDiff} differs: ${chainPen.slice(0, chainPenDiff + 1)} vs ${penIds.slice(0, chainPenDiff + 1)}`);
  console.log(`${family} ${scheme} on ${dev.name}: logits of ${1 + extra.length} positions, max relative error ` +
              `${worst.toExponential(2)} (bound ${LOGIT_BOUND}); ${n} greedy ids ${firstDiff < 0 ? 'equal' : 'DIFFER'}, with repetition penalty ${penDiff < 0 ? 'equal' : 'DIFFER'}, ` +
              `chained greedy ${chainDiff < 0 ? 'equal' : 'DIFFER'}, chained sampled ${sampDiff < 0 ? 'equal' : 'DIFFER'}, ` +
              `chained with repetition penalty ${chainPenDiff < 0 ? 'equal' : 'DIFFER'}`);
  lean.dispose();
  model.dispose();
} catch (e) {
  fail(e.stack ?? e.message);
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
dev.device.destroy?.();
process.exit(failures ? 1 : 0);
