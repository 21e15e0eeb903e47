// The browser model library's speed on a real GPU, through Dawn for Node: a model's generated kernels
// (`slm kernels MODEL_DIR --quant q4f32_1 --out DIR`, or an export) run by web/runtime/model_gpu.mjs with
// random int4 weights of the model's shapes. Reports, as JSON lines:
//   - the peer measured in the same run: a streaming-read WGSL kernel's bandwidth (GB/s) over a 1 GiB buffer;
//   - prefill tok/s (one chunk of --prefill tokens) and decode tok/s (--decode greedy tokens after it), chained
//     as the engine runs it (the next forward queued before the last token is read back) and one at a time;
//   - dispatches, submits and read-back bytes per decoded token;
//   - weight bytes per decoded token and the bound they imply (bytes ÷ the measured bandwidth), and the
//     fraction of it reached;
//   - per int4 GEMV kernel: GB/s of its weight stream, run alone back to back (R dispatches in one pass);
//   - (part floor) the program's floor: its decode steps as streaming reads of their weight bytes and empty
//     dispatches, the best this dispatch structure allows on this GPU.
//   node benches/web/bench_model_gpu.mjs DIR [--prefill 512] [--decode 128] [--context 2048] [--bw-mb 1024]
//                                            [--label NAME] [--parts model,sampled,profile,sample,gemv,floor]
// Random weights: codes uniform, scales 1/(4·sqrt(K)) so activations stay finite; the speed of these kernels
// does not depend on the values. Needs the npm `webgpu` package (on the GPU machine: .gpukit, docs/performance.md).
import fs from 'node:fs';
import path from 'node:path';

import { evalExpr, packUniform } from '../../web/kernels/manifest.mjs';
import { bindManifestKernel, perCall, perCallSteps, pipeline, streamGrid, streamPipeline, streamSeconds } from './gpu_timing.mjs';
import { createModel } from '../../web/runtime/model_gpu.mjs';

const args = process.argv.slice(2);
const dir = args[0];
const opt = (name, def) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : def; };
const prefillN = Number(opt('--prefill', 512)), decodeN = Number(opt('--decode', 128));
const parts = new Set(opt('--parts', 'model,sampled,profile,sample,gemv').split(','));
const context = Number(opt('--context', 2048)), bwMB = Number(opt('--bw-mb', 1024)), label = opt('--label', path.basename(path.resolve(dir ?? '.')));
if (!dir) { console.error('usage: node benches/web/bench_model_gpu.mjs DIR [--prefill N] [--decode N] [--context N]'); process.exit(2); }

const { create, globals } = await import('webgpu');
Object.assign(globalThis, globals);
const gpu = create([]);
// The Dawn instance must outlive every await: V8 may collect a local no later statement reads, and Dawn then
// crashes in its event processing (seen: a mutex assertion in InstanceBase::ProcessEvents). The exit hook holds it.
process.on('exit', () => gpu);
const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
if (!adapter) { console.error('no WebGPU adapter'); process.exit(1); }
const L = adapter.limits;
const f16 = adapter.features.has('shader-f16'), ts = adapter.features.has('timestamp-query');
const sg = adapter.features.has('subgroups') && !args.includes('--no-subgroups');  // the GEMVs' *_sg stand-ins
const device = await adapter.requestDevice({
  requiredFeatures: [...(f16 ? ['shader-f16'] : []), ...(ts ? ['timestamp-query'] : []), ...(sg ? ['subgroups'] : [])],
  requiredLimits: { maxStorageBufferBindingSize: L.maxStorageBufferBindingSize, maxBufferSize: L.maxBufferSize },
});
device.addEventListener?.('uncapturederror', (e) => console.error('[webgpu]', e.error?.message));
const info = adapter.info ?? {};
const now = () => performance.now();
const emit = (o) => console.log(JSON.stringify({ model: label, ...o }));

// ---- the peer: streaming-read bandwidth -------------------------------------------------------------------
async function readBandwidth() {
  const bytes = Math.min(bwMB * 2 ** 20, L.maxStorageBufferBindingSize, L.maxBufferSize) & ~0xffff;
  return bytes / (await streamSeconds(device, bytes, { reps: 20, rounds: 5, warm: 2 })) / 1e9;
}

// ---- random weights of the kernels' shapes ----------------------------------------------------------------
const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'kernels', 'kernels.json'), 'utf8'));
const kernels = new Map(manifest.kernels.map((k) => [k.name, k]));
function synthTensors() {
  const tensors = new Map();
  let seed = 1;
  const rnd = () => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return seed; };
  const steps = [...manifest.program.prefill, ...manifest.program.decode];
  for (const st of steps) {
    const k = kernels.get(st.kernel);
    for (const b of k.bindings) {
      const src = st.bind[b.name];
      if (!src?.param || tensors.has(src.param)) continue;
      const bytes = evalExpr(b.bytes, { T: 1, S: 1, P: 1, M: 1 });
      if (/u32/.test(b.type)) {
        const w = new Uint32Array(bytes / 4);
        for (let i = 0; i < w.length; ++i) w[i] = rnd();
        tensors.set(src.param, { dtype: 'uint32', data: w, bytes: new Uint8Array(w.buffer) });
      } else {
        const K = k.values.K ?? manifest.constants.C;
        const isScale = /q_scale/.test(src.param);
        const v = isScale ? 1 / (4 * Math.sqrt(K)) : /bias/.test(src.param) ? 0 : 1;
        const n = bytes / (/f16/.test(b.type) ? 2 : 4);
        const data = new Float32Array(n).fill(v);
        tensors.set(src.param, { dtype: 'float32', data, bytes: new Uint8Array(data.buffer) });
      }
    }
  }
  return tensors;
}

// Weight bytes a decode step reads: every bound parameter once, except the embedding gather (one row).
async function dispatchFloor() {
  const sink = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE });
  const pipe = await streamPipeline(device);
  const buffers = [], steps = [];
  let streamed = 0, streams = 0;
  for (const st of manifest.program.decode) {
    let bytes = 0;
    for (const src of Object.values(st.bind)) if (src.param) bytes += paramBytesRead(tensors, st, src.param);
    const weighty = bytes > 0;
    const size = weighty ? Math.ceil(bytes / 16) * 16 : 16;
    const buf = device.createBuffer({ size, usage: GPUBufferUsage.STORAGE });
    buffers.push(buf);
    if (weighty) { streamed += size; ++streams; }
    const bg = device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries: [
      { binding: 0, resource: { buffer: buf } }, { binding: 1, resource: { buffer: sink } }] });
    steps.push({ pipe, bg, grid: weighty ? streamGrid(size) : 1 });
  }
  const s = await perCallSteps(device, steps, { reps: 20, rounds: 5, warm: 2 });
  for (const b of [...buffers, sink]) b.destroy();
  return { dispatches_per_token: steps.length, streaming_dispatches: streams, streamed_MB: streamed / 1e6,
           floor_ms_per_token: s * 1000, floor_tok_s: 1 / s, bound_tok_s: boundTokS, floor_fraction_of_bound: 1 / s / boundTokS,
           note: 'decode program with weight steps as streaming reads of their bytes and the rest as empty dispatches, one pass' };
}

function decodeWeightBytes(tensors) {
  const seen = new Set();
  let total = 0;
  for (const st of manifest.program.decode) {
    for (const src of Object.values(st.bind)) {
      if (!src.param || seen.has(`${st.kernel}:${src.param}`)) continue;
      seen.add(`${st.kernel}:${src.param}`);
      total += paramBytesRead(tensors, st, src.param);
    }
  }
  return total;
}

// Bytes of a weight a decode step reads: all of it, but one row of the embedding (one token's).
function paramBytesRead(tensors, st, param) {
  const n = tensors.get(param).bytes.byteLength;
  return st.kernel === 'embed' ? n / manifest.constants.V : n;
}

// ---- per-GEMV kernel bandwidth ------------------------------------------------------------------------------
async function gemvBandwidth(name, R = 200) {
  const k = kernels.get(name);
  const code = fs.readFileSync(path.join(dir, 'kernels', k.file), 'utf8');
  const { pipe, bg, grid, weightBytes } = await bindManifestKernel(device, k, code);
  const us = (await perCall(device, pipe, bg, grid, { reps: R })) * 1e6;
  return { kernel: name, K: k.values.K, N: k.values.N, weight_MB: weightBytes / 1e6, us_per_call: us,
           GBps: weightBytes / (us / 1e6) / 1e9 };
}

// The sampling head alone on V logits (temperature 0.7, top-p 0.9, no penalty): flat logits (random weights
// give these: top-p keeps most of the vocabulary) and peaked ones (a Zipf-like tail, as trained models give:
// top-p keeps a few dozen). The program's sampling steps (one kernel in older exports, the stages of
// sample.wgsl now) in one pass, R times per submit, after an upload of the logits.
async function sampleKernel(kind, R = 20) {
  // As the runtime runs them for this request: no top-k, so its stages are left out.
  const steps = (Array.isArray(manifest.program.sample) ? manifest.program.sample : [manifest.program.sample])
    .filter((st) => st.when !== 'top_k');
  const V = manifest.constants.V;
  const logits = new Float32Array(V);
  let seed = 3;
  for (let i = 0; i < V; ++i) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    const u = seed / 4294967296;
    logits[i] = kind === 'flat' ? u * 2 - 1 : 12 - 2 * Math.log(1 + ((i * 2654435761) >>> 0) % V) + u;
  }
  const bufs = new Map();
  const bufFor = (b) => {
    if (!bufs.has(b.name)) {
      const size = Math.max(16, Math.ceil(evalExpr(b.bytes, { M: 1 }) / 16) * 16);
      bufs.set(b.name, device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST }));
    }
    return bufs.get(b.name);
  };
  const k0 = kernels.get(steps[0].kernel);
  const ub = device.createBuffer({ size: k0.uniform.bytes, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(ub, 0, packUniform(k0, { temperature: 0.7, top_k: V, top_p: 0.9, penalty: 1, u: 0.5 }));
  const runs = [];
  for (const st of steps) {
    const k = kernels.get(st.kernel);
    const pipe = await pipeline(device, fs.readFileSync(path.join(dir, 'kernels', k.file), 'utf8'));
    const entries = k.bindings.map((b) => ({ binding: b.binding, resource: { buffer: bufFor(b) } }));
    entries.push({ binding: k.uniform.binding, resource: { buffer: ub } });
    runs.push({ pipe, bg: device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries }), grid: evalExpr(k.grid, { T: 1 }) });
  }
  const s = await perCallSteps(device, runs, { reps: R, rounds: 3, warm: 2,
                                              before: () => device.queue.writeBuffer(bufs.get('logits'), 0, logits) });
  // Each distinct stage alone, back to back (after the sequence above left its state in place).
  const stages = {};
  for (const [i, st] of steps.entries())
    stages[st.kernel] ??= (await perCall(device, runs[i].pipe, runs[i].bg, runs[i].grid, { reps: 50, rounds: 3, warm: 2 })) * 1e6;
  return { kernel: steps.length > 1 ? 'sample stages' : steps[0].kernel, dispatches: steps.length, logits: kind, V,
           ms_per_call: s * 1000, us_per_stage: stages };
}

const bw = await readBandwidth();
emit({ what: 'peer', adapter: info.description || info.device || info.vendor, shader_f16: f16,
       quantization: manifest.quantization, read_GBps: bw });
const tensors = synthTensors();
const config = { prefill_chunk_size: prefillN, context_window_size: context };
const files = { text: async (n) => fs.readFileSync(path.join(dir, n), 'utf8') };
const model = await createModel({ device, shaderF16: f16, config, tensors, files, maxContext: context });
const rng = (() => { let s = 7; return () => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return s % (manifest.constants.V - 3) + 3; }; })();
const prompt = Int32Array.from({ length: prefillN }, rng);
const greedy = { temperature: 0 };
await model.prefill(prompt.slice(0, 16), greedy);  // warm-up: pipelines, first submits
// Decode one token at a time (decode(id): submit, read back, then the next) or chained as the engine runs it
// (decodeChained: the next forward is queued before the last token is read back). samp(ids) = the sampling
// options with the context so far (a repetition penalty needs it where the host knows the ids).
const decodeRun = async (n, samp, chained) => {
  const st0 = model.stats(), t = now();
  const ids = Array.from(prompt, Number);
  ids.push(step.token);
  if (!chained) {
    for (let i = 0; i < n; ++i) {
      step = await model.decode(step.token, samp(ids));
      ids.push(step.token);
    }
  } else {
    let ahead = model.decodeChained(samp(ids));
    for (let i = 0; i < n; ++i) {
      const current = ahead;
      ahead = i + 1 < n ? model.decodeChained(samp(ids)) : null;
      step = await current;
      ids.push(step.token);
    }
  }
  const st1 = model.stats(), sec = (now() - t) / 1000;
  return { tok_s: n / sec, ms: 1000 * sec / n, dispatches: (st1.dispatches - st0.dispatches) / n,
           submits: (st1.submits - st0.submits) / n, readback: (st1.readbackBytes - st0.readbackBytes) / n };
};
const freshPrefill = async () => {
  model.resetKV();
  const t = now();
  step = await model.prefill(prompt, greedy);
  return (now() - t) / 1000;
};
let step;
const greedyOf = () => greedy;
const prefillS = await freshPrefill();
const sync = await decodeRun(decodeN, greedyOf, false);
await freshPrefill();
const chained = await decodeRun(decodeN, greedyOf, true);
const bytes = decodeWeightBytes(tensors);
const boundTokS = bw * 1e9 / bytes;
emit({ what: 'model', prefill_tokens: prefillN, prefill_tok_s: prefillN / prefillS, decode_tokens: decodeN,
       decode_tok_s: chained.tok_s, ms_per_token: chained.ms, decode_tok_s_one_at_a_time: sync.tok_s,
       dispatches_per_token: chained.dispatches, submits_per_token: chained.submits,
       readback_bytes_per_token: chained.readback,
       weight_MB_per_token: bytes / 1e6, bound_tok_s: boundTokS, fraction_of_bound: chained.tok_s / boundTokS,
       note: 'decode_tok_s: chained (one forward queued ahead, as the engine runs greedy); one_at_a_time: decode(id)' });
// The same decode with the sampling head, one token at a time and chained: temperature 0.7, top-p 0.9 and
// repetition penalty 1.1 over the context (a chat request with Qwen2.5's generation_config), and without the
// penalty (Phi-3.5 / Llama defaults).
if (parts.has('sampled')) {
  for (const [what, pen] of [['sampled', 1.1], ['sampled_top_p', 1]]) {
    const samp = (ids) => ({ temperature: 0.7, top_p: 0.9, repetition_penalty: pen, seed: 1, context: Int32Array.from(ids) });
    await freshPrefill();
    const one = await decodeRun(decodeN, samp, false);
    await freshPrefill();
    const ch = await decodeRun(decodeN, samp, true);
    emit({ what, decode_tok_s: ch.tok_s, ms_per_token: ch.ms, decode_tok_s_one_at_a_time: one.tok_s,
           note: `temperature 0.7, top_p 0.9, repetition_penalty ${pen}: chained (as the engine runs it) and one at a time` });
  }
}
model.dispose();
// Where a decoded token's GPU time goes: the same decode with a timestamp around every dispatch.
if (ts && parts.has('profile')) {
  const pm = await createModel({ device, shaderF16: f16, config, tensors, files, maxContext: context, profile: true });
  let st = await pm.prefill(prompt, greedy);
  const p0 = structuredClone(pm.stats().profile);  // the prefill's share, subtracted below
  const n = 32;
  for (let i = 0; i < n; ++i) st = await pm.decode(st.token, greedy);
  const rows = Object.entries(pm.stats().profile).map(([k, e]) => [k, (e.us - (p0[k]?.us ?? 0)) / n])
    .filter(([, us]) => us > 0).sort((a, b) => b[1] - a[1]);
  const total = rows.reduce((a, r) => a + r[1], 0);
  emit({ what: 'decode_profile', us_per_token_gpu: total, note: 'GPU us per decoded token by kernel, one pass per dispatch',
         kernels: Object.fromEntries(rows.map(([k, us]) => [k, +us.toFixed(1)])) });
  pm.dispose();
}
// The dispatch program's floor: the decode program with every weight-reading step replaced by the streaming
// peer over the same bytes (fresh buffers per step, so nothing is served from L2) and every other step by an
// empty one-workgroup dispatch, all dependent as the real ones are (each writes the same buffer). What a token
// would cost if every GEMV streamed its weights at the peer's speed and attention, norms and the head's pick
// were free: the best this program structure can do on this GPU.
if (parts.has('floor')) emit({ what: 'floor', ...(await dispatchFloor()) });
if (parts.has('sample')) for (const kind of ['flat', 'peaked']) emit({ what: 'sample', ...(await sampleKernel(kind)) });
for (const base of ['gemv_qkv', 'gemv_o', 'gemv_gate_up', 'gemv_down', 'gemv_lm_head'])
  for (const name of [base, ...(sg ? [`${base}_sg`] : [])])
    if (parts.has('gemv') && kernels.has(name)) emit({ what: 'gemv', ...(await gemvBandwidth(name)) });
device.destroy();
process.exit(0);
