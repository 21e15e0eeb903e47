// The model forward on WebGPU: runs the export's generated kernels (DIST/kernels/*.wgsl) in the order its
// dispatch program says (kernels.json "program", written by codegen/wgsl_program.cpp). Nothing here knows a
// model family: buffers, weight bindings, uniforms and the per-layer KV cache all come from the program, so
// the browser computes what `slm logits` computes natively on the same export (tests/web/test_model_gpu.mjs).
//
// Contract with the engine (web/runtime/engine.mjs):
//   export async function createModel(ctx) → Model
//   ctx: {device, shaderF16, adapterInfo, config (mlc-chat-config.json), tensors (Map name → {dtype, data, bytes}),
//         files {text(name), bytes(name)}, baseUrl, onProgress, maxContext?, returnLogits?}
//   Model: {vocabSize, contextWindow, prefill(ids, sampling), decode(id, sampling), truncateKV(n), resetKV(),
//           dispose(), stats()} — prefill/decode resolve to {token} (one 16-byte read-back), plus {logits} with
//           ctx.returnLogits (tests). sampling: {temperature, top_p, top_k, repetition_penalty, seed,
//           context: Int32Array of every id in the KV cache plus the new ones}; temperature 0 = greedy.
//           Optional: canChain(sampling) and decodeChained(sampling) — decode the token the last forward chose
//           without the host reading it first, so one forward can be queued ahead (the engine does).
// Errors name the kernel, buffer or tensor and the remedy.
import { dispatchSize, evalExpr, packUniform } from '../kernels/manifest.mjs';
import { f16bits, f16value } from './f16.mjs';
import { makeRng } from './sampler.mjs';

export const implemented = true;

const U = { MAP_READ: 1, COPY_SRC: 4, COPY_DST: 8, UNIFORM: 64, STORAGE: 128 };
const DEFAULT_MAX_CONTEXT = 4096;  // KV-cache positions when the page asks for no other
const MAX_PREFILL_CHUNK = 1024;    // tokens per prefill forward at most (MLC configs say up to 8192)

export class ModelError extends Error {
  constructor(message) { super(message); this.name = 'ModelError'; }
}

const align = (n, a) => Math.ceil(n / a) * a;

// The bytes a weight binding wants: its WGSL element type decides f32 vs f16; u32 words pass through.
export function weightBytes(t, wgslType, name) {
  const want = /f16/.test(wgslType) ? 'f16' : /f32/.test(wgslType) ? 'f32' : 'u32';
  let out;
  if (want === 'u32') {
    if (t.dtype !== 'uint32') throw new ModelError(`[model_gpu] ${name}: the kernel reads u32 words, the export stores ${t.dtype}`);
    out = t.bytes;
  } else if (want === 'f32') {
    if (t.data instanceof Float32Array) out = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    else if (t.dtype === 'float16') out = new Uint8Array(Float32Array.from(t.data, f16value).buffer);
    else if (t.dtype === 'bfloat16') out = new Uint8Array(Uint32Array.from(t.data, (b) => b << 16).buffer);
    else throw new ModelError(`[model_gpu] ${name}: cannot feed ${t.dtype} to an f32 binding`);
  } else {
    if (t.dtype === 'float16') out = t.bytes;
    else if (t.data instanceof Float32Array) out = new Uint8Array(Uint16Array.from(t.data, f16bits).buffer);
    else throw new ModelError(`[model_gpu] ${name}: cannot feed ${t.dtype} to an f16 binding`);
  }
  return out;
}

// cos|sin rows for positions [0, P) of one rope range, as tensor/rope.cpp rope_table(): the angle is the f32
// product f32(pos)·inv_freq, cos/sin in double, rounded once, times the attention scaling.
export function ropeTable(range, rot, P) {
  const half = rot / 2, out = new Float32Array(P * rot);
  const inv = Float32Array.from(range.inv_freq), scale = Math.fround(range.attention_scaling);
  for (let p = 0; p < P; ++p)
    for (let i = 0; i < half; ++i) {
      const a = Math.fround(inv[i] * p);
      out[p * rot + i] = Math.fround(Math.fround(Math.cos(a)) * scale);
      out[p * rot + half + i] = Math.fround(Math.fround(Math.sin(a)) * scale);
    }
  return out;
}

function checkManifest(m, ctx) {
  if (m?.format !== 'slm-wgsl/1' || !m.program || m.program.format !== 'slm-program/1')
    throw new ModelError('[model_gpu] kernels/kernels.json has no dispatch program (format slm-wgsl/1 + slm-program/1): ' +
                         're-export the model with this version of slm');
  if (m.features.includes('shader-f16') && !ctx.shaderF16)
    throw new ModelError(`[model_gpu] the kernels of this ${m.quantization} export need the GPU feature shader-f16, which ` +
                         'this device was created without — use the q4f32_1 export');
  const lim = ctx.device.limits;
  for (const [k, v] of Object.entries(m.limits)) {
    const have = lim[k];
    if (have === undefined) continue;
    if (k === 'maxStorageBufferBindingSize') continue;  // checked per buffer below
    if (have < v) throw new ModelError(`[model_gpu] the kernels were sized for ${k} = ${v}, this device allows ${have}`);
  }
}

export async function createModel(ctx) {
  const owned = [];  // every GPU buffer made; freed here when loading fails half-way
  try {
    return await buildModel(ctx, owned);
  } catch (e) {
    for (const b of owned) b.destroy?.();
    throw e;
  }
}

async function buildModel(ctx, owned) {
  const { device, config } = ctx;
  let manifest;
  try {
    manifest = JSON.parse(await ctx.files.text('kernels/kernels.json'));
  } catch (e) {
    throw new ModelError(`[model_gpu] this export has no browser kernels (kernels/kernels.json: ${e.message}) — ` +
                         'export with --quant q4f32_1 or q4f16_1 using this version of slm');
  }
  checkManifest(manifest, ctx);
  const prog = manifest.program;
  // A kernel with `requires` (a WebGPU feature, e.g. subgroups) stands in for the one it `replaces` where the
  // device has every feature it needs; otherwise it is not compiled at all.
  const usable = (k) => (k.requires ?? []).every((f) => device.features.has(f));
  const kernels = new Map(manifest.kernels.filter(usable).map((k) => [k.name, k]));
  const standIn = new Map(manifest.kernels.filter((k) => k.replaces && usable(k)).map((k) => [k.replaces, k.name]));
  const kernelFor = (name) => standIn.get(name) ?? name;
  const V = manifest.constants.V;
  const chunk = Math.max(1, config.prefill_chunk_size || 512);
  // KV-cache positions: the model's own limit (the program's context_window: every layer keeps its whole
  // cache, so Gemma-2's global layers see past the window WebLLM's config caps it to), at most maxContext.
  const S = Math.min(prog.context_window > 0 ? prog.context_window : DEFAULT_MAX_CONTEXT, ctx.maxContext ?? DEFAULT_MAX_CONTEXT);
  const maxBinding = device.limits.maxStorageBufferBindingSize, maxPerDim = device.limits.maxComputeWorkgroupsPerDimension;
  // Tokens per prefill forward: the config's chunk, at most MAX_PREFILL_CHUNK (activation memory grows with it,
  // speed hardly does past a few hundred) and at most what lets every per-token buffer fit one binding.
  const perToken = Math.max(...prog.buffers.filter((b) => /\bT\b/.test(b.bytes))
    .map((b) => evalExpr(b.bytes, { T: 1, S, P: S, M: S })));  // M: penalty-id capacity (older exports)
  const T = Math.max(1, Math.min(chunk, S, MAX_PREFILL_CHUNK, Math.floor(maxBinding / perToken)));
  const vars = { T, S, P: S, M: S };

  const makeBuffer = (label, size, usage) => {
    if (size > maxBinding)
      throw new ModelError(`[model_gpu] ${label} needs ${size} bytes, above this device's maxStorageBufferBindingSize ` +
                           `(${maxBinding}) — use a smaller context (KV cache) or a smaller model`);
    const b = device.createBuffer({ label, size: align(Math.max(size, 16), 16), usage });
    owned.push(b);
    return b;
  };

  // Pipelines, one per kernel file (not for kernels a stand-in replaces).
  const pipelines = new Map();
  let done = 0;
  const names = [...kernels.keys()].filter((n) => !standIn.has(n));
  ctx.onProgress?.({ phase: 'compile', done, total: names.length });
  await Promise.all(names.map(async (name) => {
    const k = kernels.get(name);
    const code = await ctx.files.text(`kernels/${k.file}`);
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ code, label: name });
    let pipeline;
    try {
      pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: k.entry_point }, label: name });
    } catch (e) {
      await device.popErrorScope();
      throw new ModelError(`[model_gpu] kernel ${name} does not compile on this device: ${e.message}`);
    }
    const err = await device.popErrorScope();
    if (err) throw new ModelError(`[model_gpu] kernel ${name}: ${err.message}`);
    pipelines.set(name, pipeline);
    ctx.onProgress?.({ phase: 'compile', done: ++done, total: names.length });
  }));

  // Activation buffers, KV cache, rope tables.
  const buffers = new Map();
  for (const b of prog.buffers)
    buffers.set(b.name, makeBuffer(b.name, evalExpr(b.bytes, vars), U.STORAGE | U.COPY_DST | U.COPY_SRC));
  // Two 16-byte read-back buffers: a chained decode (decodeChained) is submitted while the previous token's
  // read-back is still pending, and a buffer cannot be copied into while it waits to be mapped.
  const readbacks = [makeBuffer('readback', 16, U.MAP_READ | U.COPY_DST), makeBuffer('readback-2', 16, U.MAP_READ | U.COPY_DST)];
  let nextReadback = 0, inFlight = 0;
  const logitsReadback = ctx.returnLogits ? makeBuffer('logits-readback', V * 4, U.MAP_READ | U.COPY_DST) : null;
  let ropeRange = -1;  // which range of the rope tables is loaded
  const fillRope = (r) => {
    for (const t of prog.rope_tables) {
      const range = t.ranges[Math.min(r, t.ranges.length - 1)];
      device.queue.writeBuffer(buffers.get(t.buffer), 0, ropeTable(range, t.rotary_dim, S));
    }
    ropeRange = r;
  };
  const rangeFor = (seqLen) => {
    if (!prog.recompute_at || seqLen <= prog.recompute_at) return 0;
    return 1;
  };
  // Whether a sequence of seqLen positions needs other rope tables than those loaded (Phi-3 longrope's switch).
  const ropeSwitchAt = (seqLen) => prog.rope_tables.length > 0 && rangeFor(seqLen) !== ropeRange;
  if (prog.rope_tables.length) fillRope(0);

  // Weights, uploaded once per MLC parameter.
  const weights = new Map();
  const weightBuffer = (name, type) => {
    if (weights.has(name)) return weights.get(name);
    const t = ctx.tensors.get(name);
    if (!t) throw new ModelError(`[model_gpu] the kernels bind ${name}, which tensor-cache.json does not have — ` +
                                 'the export and its kernels/ come from different runs; export again');
    const bytes = weightBytes(t, type, name);
    const buf = makeBuffer(name, bytes.byteLength, U.STORAGE | U.COPY_DST);
    const padded = bytes.byteLength % 4 ? (() => { const p = new Uint8Array(align(bytes.byteLength, 4)); p.set(bytes); return p; })() : bytes;
    device.queue.writeBuffer(buf, 0, padded);
    weights.set(name, buf);
    return buf;
  };

  // Uniform buffers are shared by every step with the same fields and value expressions (most steps of a
  // forward: {x_row: 0}, {T, pos0}, {rows: T}), so a token costs a handful of small writes, not one per
  // dispatch; a buffer is rewritten only when its values change.
  const uniformSets = { prefill: new Map(), decode: new Map(), head: new Map() };
  const sharedUniform = (k, exprs, section) => {
    const uniforms = uniformSets[section];
    const layout = k.uniform.fields.map((f) => `${f.name}:${f.type}@${f.offset}`).join(',');
    const key = `${k.uniform.bytes}|${layout}|${JSON.stringify(exprs)}`;
    if (!uniforms.has(key)) {
      const compiled = k.uniform.fields.map((f) => {
        if (!(f.name in exprs)) throw new ModelError(`[model_gpu] ${k.name}: uniform field ${f.name} has no value in the program`);
        return [f.name, exprs[f.name]];
      });
      uniforms.set(key, { buffer: makeBuffer(`uniform ${JSON.stringify(exprs)}`, k.uniform.bytes, U.UNIFORM | U.COPY_DST),
                          kernel: k, compiled, last: '' });
    }
    return uniforms.get(key);
  };
  const writeUniforms = (section, v) => {
    for (const u of uniformSets[section].values()) {
      const vals = {};
      for (const [f, e] of u.compiled) vals[f] = evalExpr(e, v);
      const sig = JSON.stringify(vals);
      if (sig === u.last) continue;
      device.queue.writeBuffer(u.buffer, 0, packUniform(u.kernel, vals));
      u.last = sig;
    }
  };

  // Steps: pipeline, bind group, uniform buffer.
  // hostUniform: a uniform buffer the runtime packs itself (the sampling stages' temperature, u, …), shared.
  const compile = (s, section, hostUniform = null) => {
    const k = kernels.get(kernelFor(s.kernel));
    if (!k) throw new ModelError(`[model_gpu] the program names kernel ${s.kernel}, which kernels.json lacks`);
    const entries = k.bindings.map((b, i) => {
      const src = s.bind[b.name];
      if (!src) throw new ModelError(`[model_gpu] ${s.kernel}: binding ${b.name} is not bound by the program`);
      let buf;
      if (src.buffer !== undefined) {
        buf = buffers.get(src.buffer);
        if (!buf) throw new ModelError(`[model_gpu] ${s.kernel}: no buffer ${src.buffer}`);
      } else {
        buf = weightBuffer(src.param, b.type);
      }
      return { binding: b.binding ?? i, resource: { buffer: buf } };
    });
    let uniform = null;
    if (k.uniform) {
      uniform = hostUniform ?? sharedUniform(k, s.uniform ?? {}, section);
      entries.push({ binding: k.uniform.binding, resource: { buffer: uniform.buffer } });
    }
    const pipeline = pipelines.get(k.name);
    const bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries, label: s.kernel });
    return { kernel: k, pipeline, bindGroup, uniform, hostUniform, section, gridT: -1, gridN: 0 };
  };
  const prefillSteps = prog.prefill.map((s) => compile(s, 'prefill')), decodeSteps = prog.decode.map((s) => compile(s, 'decode'));
  // The sampling head: the stages of sample.wgsl (an older export's kernels.json has one sample step).
  const sampleProg = Array.isArray(prog.sample) ? prog.sample : [prog.sample];
  const sampleKernel = kernels.get(sampleProg[0].kernel);
  if (!sampleKernel?.uniform) throw new ModelError(`[model_gpu] the sampling kernel ${sampleProg[0].kernel} is missing or has no uniform`);
  const sampleUniform = { buffer: makeBuffer('sample.uniform', sampleKernel.uniform.bytes, U.UNIFORM | U.COPY_DST) };
  const greedySteps = [compile(prog.greedy, 'head')];
  const sampleSteps = sampleProg.map((s) => compile(s, 'head', sampleUniform));
  let rng = null, rngSeed = null, pos = 0, lastChainedDone = 0;
  // Counters for benches/web/bench_model_gpu.mjs: dispatches, queue submits and read-back bytes so far.
  const stats = { prefillTokens: 0, prefillSeconds: 0, decodeTokens: 0, decodeSeconds: 0, dispatches: 0, submits: 0,
                  readbackBytes: 0 };

  const encodeSteps = (pass, steps, v) => {
    for (const st of steps) {
      pass.setPipeline(st.pipeline);
      pass.setBindGroup(0, st.bindGroup);
      if (st.gridT !== v.T) {  // grids depend on T only (S, P are fixed): evaluated once per T
        st.gridN = typeof st.kernel.grid === 'number' ? st.kernel.grid : evalExpr(st.kernel.grid, v);
        st.gridT = v.T;
      }
      const n = st.gridN;
      if (n > 0) { pass.dispatchWorkgroups(...dispatchSize(n, maxPerDim)); stats.dispatches++; }
    }
  };

  // ctx.profile (needs the timestamp-query feature): every step in its own compute pass with begin/end
  // timestamps, summed per kernel in stats().profile {kernel: {calls, us}} — for benches; the passes add
  // their own small cost, so whole-token timings are taken without it.
  if (ctx.profile && ctx.returnLogits) throw new ModelError('[model_gpu] profile and returnLogits do not go together');
  const maxSteps = Math.max(prog.prefill.length, prog.decode.length) + sampleProg.length;
  const prof = ctx.profile ? {
    set: device.createQuerySet({ type: 'timestamp', count: 2 * maxSteps }),
    resolve: makeBuffer('profile-resolve', 16 * maxSteps, U.COPY_SRC | 0x200 /* QUERY_RESOLVE */),
    read: makeBuffer('profile-read', 16 * maxSteps, U.MAP_READ | U.COPY_DST),
  } : null;
  if (prof) stats.profile = {};
  const encodeProfiled = (enc, steps, v) => {
    steps.forEach((st, i) => {
      const pass = enc.beginComputePass({ timestampWrites: { querySet: prof.set, beginningOfPassWriteIndex: 2 * i,
                                                             endOfPassWriteIndex: 2 * i + 1 } });
      encodeSteps(pass, [st], v);
      pass.end();
    });
    enc.resolveQuerySet(prof.set, 0, 2 * steps.length, prof.resolve, 0);
    enc.copyBufferToBuffer(prof.resolve, 0, prof.read, 0, 16 * steps.length);
  };
  const collectProfile = async (steps) => {
    await prof.read.mapAsync(1);
    const t = new BigUint64Array(prof.read.getMappedRange().slice(0));
    prof.read.unmap();
    steps.forEach((st, i) => {
      const e = (stats.profile[st.kernel.name] ??= { calls: 0, us: 0 });
      e.calls++;
      e.us += Number(t[2 * i + 1] - t[2 * i]) / 1000;
    });
  };

  // The repetition penalty's ids: a bit mask (penalty_mask) the host writes from sampling.context and the
  // pick extends with each chosen token, so a chained forward needs no write; exports made before the mask
  // have a list of distinct ids (penalty_ids) the host must write every token, and cannot chain with a penalty.
  const listPenalty = sampleKernel.bindings.some((b) => b.name === 'penalty_ids');
  const writePenalty = (sampling) => {
    const ctxIds = Array.from(sampling.context ?? []);
    if (listPenalty) {
      const seen = [...new Set(ctxIds)].slice(-vars.M);
      if (seen.length) device.queue.writeBuffer(buffers.get('penalty_ids'), 0, Uint32Array.from(seen));
      return seen.length;
    }
    const mask = new Uint32Array(Math.ceil(V / 32));
    for (const id of ctxIds) if (id >= 0 && id < V) mask[id >>> 5] |= 1 << (id & 31);
    device.queue.writeBuffer(buffers.get('penalty_mask'), 0, mask);
    return 0;
  };

  // Chooses the head's steps: argmax without sampling or penalty, else the sampling stages with a host-drawn u.
  // chained: the penalty mask is already up to date (the previous forward's pick added its token).
  const headSteps = (sampling, chained) => {
    const temp = sampling?.temperature ?? 0, pen = sampling?.repetition_penalty ?? 1;
    if (temp <= 0 && pen === 1) return greedySteps;
    const nPenalty = pen !== 1 && !chained ? writePenalty(sampling) : 0;
    if (rng === null || rngSeed !== (sampling.seed ?? 0)) { rngSeed = sampling.seed ?? 0; rng = makeRng(rngSeed); }
    const topK = sampling.top_k > 0 ? Math.min(sampling.top_k, V) : V;
    const topP = sampling.top_p > 0 && sampling.top_p <= 1 ? sampling.top_p : 1;
    device.queue.writeBuffer(sampleUniform.buffer, 0, packUniform(sampleKernel, {
      temperature: temp, top_k: topK, top_p: topP, penalty: pen, n_penalty: nPenalty, u: temp > 0 ? rng() : 0,
    }));
    // Steps of a filter this request does not use are left out (they would find nothing to do).
    const used = { top_k: temp > 0 && topK < V, top_p: temp > 0 && Math.fround(topP) < 1 };
    return sampleSteps.filter((st, i) => !sampleProg[i].when || used[sampleProg[i].when]);
  };

  // One forward of ids at position pos, then the head; resolves to {token[, logits]}. ids === null (a chained
  // decode): the one input id is the token the previous forward's head wrote to `out`, copied on the GPU, so
  // this forward can be queued before the host has read that token back. Everything up to the submit runs
  // synchronously (pos advances there), so forwards queue in call order.
  const forward = async (ids, steps, sampling) => {
    const T = ids ? ids.length : 1;
    if (pos + T > S)
      throw new ModelError(`[model_gpu] the conversation needs ${pos + T} positions, the KV cache holds ${S} — start a new chat`);
    if (inFlight >= readbacks.length)
      throw new ModelError(`[model_gpu] ${inFlight} forwards already wait for their read-back; await one first`);
    if (ids) {
      device.queue.writeBuffer(buffers.get('ids'), 0, Uint32Array.from(ids, (x) => {
        if (!(x >= 0 && x < V)) throw new ModelError(`[model_gpu] token id ${x} is outside the vocabulary (${V})`);
        return x;
      }));
    }
    const v = { ...vars, T, pos0: pos };
    writeUniforms(steps === prefillSteps ? 'prefill' : 'decode', v);
    writeUniforms('head', v);
    const enc = device.createCommandEncoder();
    if (!ids) enc.copyBufferToBuffer(buffers.get('out'), 0, buffers.get('ids'), 0, 4);
    const head = headSteps(sampling, !ids);
    if (prof) {
      encodeProfiled(enc, [...steps, ...head], v);
      if (logitsReadback) enc.copyBufferToBuffer(buffers.get('logits'), 0, logitsReadback, 0, V * 4);
    } else if (logitsReadback) {
      const pass = enc.beginComputePass();
      encodeSteps(pass, steps, v);
      pass.end();
      enc.copyBufferToBuffer(buffers.get('logits'), 0, logitsReadback, 0, V * 4);
      const pass2 = enc.beginComputePass();
      encodeSteps(pass2, head, v);
      pass2.end();
    } else {
      const pass = enc.beginComputePass();
      encodeSteps(pass, [...steps, ...head], v);
      pass.end();
    }
    const readback = readbacks[nextReadback];
    nextReadback = (nextReadback + 1) % readbacks.length;
    enc.copyBufferToBuffer(buffers.get('out'), 0, readback, 0, 16);
    device.queue.submit([enc.finish()]);
    stats.submits++;
    stats.readbackBytes += 16 + (logitsReadback ? V * 4 : 0);
    pos += T;
    inFlight++;
    let token;
    try {
      await readback.mapAsync(1);
      token = new Uint32Array(readback.getMappedRange().slice(0))[0];
      readback.unmap();
    } finally {
      inFlight--;
    }
    let logits;
    if (logitsReadback) {
      await logitsReadback.mapAsync(1);
      logits = new Float32Array(logitsReadback.getMappedRange().slice(0));
      logitsReadback.unmap();
    }
    if (prof) await collectProfile([...steps, ...head]);
    return logits ? { token, logits } : { token };
  };

  // Prefill in chunks of the program's T; a rope range switch (Phi-3 longrope) recomputes the whole cache.
  const prefillAll = async (ids, sampling) => {
    const r = rangeFor(pos + ids.length);
    if (prog.rope_tables.length && r !== ropeRange) {
      if (pos > 0) {
        const ctxIds = Array.from(sampling?.context ?? []);
        if (ctxIds.length !== pos + ids.length)
          throw new ModelError('[model_gpu] the rope switches to its long factors here and the cache must be recomputed, ' +
                               'but sampling.context does not hold every id of the conversation');
        pos = 0;
        ids = ctxIds;
      }
      fillRope(r);
    }
    let res = null;
    for (let i = 0; i < ids.length; i += vars.T) res = await forward(ids.slice(i, i + vars.T), prefillSteps, sampling);
    return res;
  };

  return {
    vocabSize: V,
    contextWindow: S,
    async prefill(ids, sampling) {
      if (!ids.length) throw new ModelError('[model_gpu] prefill needs at least one token');
      rng = null;  // a request starts here: a seed gives the same draws (u) every time it is used
      const t0 = performance.now();
      const res = await prefillAll(Array.from(ids), sampling);
      stats.prefillSeconds += (performance.now() - t0) / 1000;
      stats.prefillTokens += ids.length;
      return res;
    },
    async decode(id, sampling) {
      const t0 = performance.now();
      const res = ropeSwitchAt(pos + 1) ? await prefillAll([id], sampling) : await forward([id], decodeSteps, sampling);
      stats.decodeSeconds += (performance.now() - t0) / 1000;
      stats.decodeTokens += 1;
      return res;
    },
    // Whether decodeChained(sampling) can run now: not with logits read-back or profiling, at a Phi-3
    // longrope switch (the cache is recomputed from host-known ids), at the end of the cache, with two
    // forwards already waiting, or with a repetition penalty on an export whose penalty is an id list.
    canChain(sampling) {
      return pos > 0 && !(listPenalty && (sampling?.repetition_penalty ?? 1) !== 1) && !logitsReadback && !prof && pos + 1 <= S &&
             !ropeSwitchAt(pos + 1) && inFlight < readbacks.length;
    },
    // Decodes the token the last submitted forward chose, without waiting for the host to read it: the GPU
    // copies it into the input, so the next token's forward is queued while this one runs (the engine keeps
    // one forward ahead and drops it with truncateKV when the token it waited for ends the answer). The
    // submit happens before this returns; resolves to {token}. Same tokens as decode(token, sampling).
    decodeChained(sampling) {
      if (!this.canChain(sampling)) throw new ModelError('[model_gpu] decodeChained is not possible here (see canChain)');
      const t0 = performance.now();
      const res = forward(null, decodeSteps, sampling);
      return res.then((r) => {
        const t1 = performance.now();  // wall time not already counted for the token before (they overlap)
        stats.decodeSeconds += (t1 - Math.max(t0, lastChainedDone)) / 1000;
        lastChainedDone = t1;
        stats.decodeTokens += 1;
        return r;
      });
    },
    // Keeps the first n positions (the engine reuses a conversation's shared prefix); later writes overwrite.
    truncateKV(n) {
      if (!(n >= 0 && n <= pos)) throw new ModelError(`[model_gpu] truncateKV(${n}) with ${pos} positions cached`);
      pos = n;
    },
    resetKV() {
      pos = 0;
      if (prog.rope_tables.length && ropeRange !== 0) fillRope(0);
    },
    stats: () => ({ ...stats, positions: pos }),
    dispose() {
      for (const b of owned) b.destroy();
      owned.length = 0;
    },
  };
}
