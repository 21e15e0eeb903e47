// JS references of the WGSL kernels (the semantics of tensor/ops.h, models/sampling.cpp and MLC's q4
// dequantisation), in double precision over the same f32/f16-rounded inputs, and one or more random cases per
// template. A case returns [{what, rel, tol}] from relErr (max |gpu - ref| / max |ref| over an output).
import { f16bits, f16round, fr, relErr, runKernel, runSequence } from './wgsl_harness.mjs';

// ---- inputs -----------------------------------------------------------------------------------------
const uni = (r, lo, hi) => lo + (hi - lo) * r();
function f32s(r, n, lo = -1, hi = 1) {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = uni(r, lo, hi);
  return a;
}
// Scale-typed values (f16 or f32): {vals: numbers as the GPU sees them, data: the upload}.
function stArray(r, n, f16, lo, hi, signed = false) {
  const vals = new Float64Array(n);
  const data = f16 ? new Uint16Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let v = uni(r, lo, hi) * (signed && r() < 0.5 ? -1 : 1);
    if (f16) { data[i] = f16bits(v); vals[i] = f16round(v); } else { data[i] = v; vals[i] = fr(v); }
  }
  return { vals, data };
}
function words(r, n) {
  const a = new Uint32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.floor(r() * 4294967296) >>> 0;
  return a;
}
// A q4 weight (rows, K) in MLC's layout: value(n, k) as MLC's _dequantize gives it.
function q4(r, rows, K, f16) {
  const G = K / 32;
  const qw = words(r, rows * G * 4);
  const qs = stArray(r, rows * G, f16, 0.005, 0.05, true);
  const value = (n, k) => {
    const code = (qw[n * G * 4 + (k >> 3)] >>> (4 * (k & 7))) & 15;
    const p = (code - 7) * qs.vals[n * G + (k >> 5)];
    return f16 ? f16round(p) : fr(p);
  };
  return { qw, qs: qs.data, value };
}

// ---- scalar semantics -------------------------------------------------------------------------------
function erf(x) {  // series for |x| < 4 (double-accurate there), ±1 beyond (erfc(4) = 1.5e-8)
  if (Math.abs(x) >= 4) return Math.sign(x);
  let sum = 0, term = x;
  for (let n = 0; n < 200; n++) {
    const t = term / (2 * n + 1);
    sum += t;
    if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
    term *= -x * x / (n + 1);
  }
  return 2 / Math.sqrt(Math.PI) * sum;
}
function actFn(v) {
  if (v.ACT_SILU) return (x) => x / (1 + Math.exp(-x));
  if (v.ACT_GELU_TANH) return (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
  if (v.ACT_GELU_ERF) return (x) => x * 0.5 * (1 + erf(x / Math.SQRT2));
  throw new Error('no activation flag');
}
// rmsnorm_ref: r = 1 / sqrt(f32(sum x²) / C + eps), h = x * r, out = w * h (or h * (1 + w)).
function rmsnormRow(x, w, eps, unit) {
  let ss = 0;
  for (const v of x) ss += fr(v * v);
  const r = fr(1 / Math.sqrt(fr(fr(fr(ss) / x.length) + fr(eps))));
  return Array.from(x, (v, c) => { const h = fr(v * r); return unit ? fr(h * fr(1 + w[c])) : fr(w[c] * h); });
}

// ---- cases per template -------------------------------------------------------------------------------
async function gemv(ctx) {
  const { kernel: k, r, f16 } = ctx, v = k.values;
  const { K, N, W_ROWS, OUT_OFFSET, Y_ELEMS } = v;
  const T = 3, x_row = 2;
  const x = f32s(r, T * K, -2, 2);
  const nw = stArray(r, K, f16, 0.5, 1.5);
  const w = q4(r, W_ROWS, K, f16);
  const bias = stArray(r, N, f16, -0.5, 0.5);
  const y0 = f32s(r, Y_ELEMS);
  const inputs = { x, qw: w.qw, qs: w.qs, y: y0 };
  if (v.NORM_IN) inputs.norm_w = nw.data;
  if (v.BIAS) inputs.bias = bias.data;
  const out = new Float32Array((await runKernel(ctx.dev, k, ctx.code, { inputs, vars: { T }, uniforms: { x_row } })).y);
  let xn = Array.from(x.subarray(x_row * K, (x_row + 1) * K));
  if (v.NORM_IN) xn = rmsnormRow(xn, nw.vals, v.EPS, v.UNIT_OFFSET);
  const dot = (n) => { let s = 0; for (let c = 0; c < K; c++) s += w.value(n, c) * xn[c]; return s; };
  const act = v.GATED ? actFn(v) : null;
  const want = Float64Array.from(y0);
  for (let n = 0; n < N; n++) {
    let val = dot(n);
    if (v.BIAS) val += bias.vals[n];
    if (v.GATED) val = act(val) * dot(N + n);
    if (v.SOFTCAP) val = v.CAP * Math.tanh(val / v.CAP);
    want[OUT_OFFSET + n] = v.ACCUMULATE ? y0[OUT_OFFSET + n] + val : val;
  }
  return [{ what: `y (N=${N}, K=${K})`, ...relErr(out, want), tol: 1e-5 }];
}

async function gemm(ctx) {
  const { kernel: k, r, f16 } = ctx, v = k.values;
  const { K, N, OUT_STRIDE, OUT_OFFSET, TM } = v;
  const T = TM + 5;  // a partial tile of rows
  const x = f32s(r, T * K, -2, 2);
  const w = q4(r, N, K, f16);
  const bias = stArray(r, N, f16, -0.5, 0.5);
  const y0 = f32s(r, T * OUT_STRIDE);
  const inputs = { x, qw: w.qw, qs: w.qs, y: y0 };
  if (v.BIAS) inputs.bias = bias.data;
  const out = new Float32Array((await runKernel(ctx.dev, k, ctx.code, { inputs, vars: { T }, uniforms: { T } })).y);
  const want = Float64Array.from(y0);
  for (let t = 0; t < T; t++)
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let c = 0; c < K; c++) s += x[t * K + c] * w.value(n, c);
      if (v.BIAS) s += bias.vals[n];
      const o = t * OUT_STRIDE + OUT_OFFSET + n;
      want[o] = v.ACCUMULATE ? y0[o] + s : s;
    }
  return [{ what: `y (T=${T}, N=${N}, K=${K})`, ...relErr(out, want), tol: 1e-5 }];
}

async function embedQ4(ctx) {
  const { kernel: k, r, f16 } = ctx, { V, C } = k.values;
  const T = 6;
  const ids = Uint32Array.from({ length: T }, (_, i) => (i === 0 ? V - 1 : Math.floor(r() * V)));
  const w = q4(r, V, C, f16);
  const out = new Float32Array((await runKernel(ctx.dev, k, ctx.code, { inputs: { ids, qw: w.qw, qs: w.qs }, vars: { T }, uniforms: { T } })).y);
  const sc = k.values.EMBED_SCALE ? fr(k.values.EMBED_SCALE_VALUE) : 1;
  const want = new Float64Array(T * C);
  for (let t = 0; t < T; t++) for (let c = 0; c < C; c++) want[t * C + c] = fr(w.value(ids[t], c) * sc);
  return [{ what: `rows (T=${T}, C=${C})`, ...relErr(out, want), tol: 1e-7 }];
}

async function embedDense(ctx) {
  const { kernel: k, r, f16 } = ctx, { V, C } = k.values;
  const T = 6;
  const ids = Uint32Array.from({ length: T }, (_, i) => (i === 0 ? V - 1 : Math.floor(r() * V)));
  const table = stArray(r, V * C, f16, -1, 1);
  const out = new Float32Array((await runKernel(ctx.dev, k, ctx.code, { inputs: { ids, table: table.data }, vars: { T }, uniforms: { T } })).y);
  const sc = k.values.EMBED_SCALE ? fr(k.values.EMBED_SCALE_VALUE) : 1;
  const want = new Float64Array(T * C);
  for (let t = 0; t < T; t++) for (let c = 0; c < C; c++) want[t * C + c] = fr(table.vals[ids[t] * C + c] * sc);
  return [{ what: `rows (T=${T}, C=${C})`, ...relErr(out, want), tol: 1e-7 }];
}

async function rmsnorm(ctx) {
  const { kernel: k, r, f16 } = ctx, v = k.values, C = v.C;
  const T = 5;
  const x = f32s(r, T * C, -3, 3);
  const w = stArray(r, C, f16, -1.5, 1.5);
  const y0 = f32s(r, T * C);
  const out = new Float32Array((await runKernel(ctx.dev, k, ctx.code, { inputs: { x, w: w.data, y: y0 }, vars: { T }, uniforms: { rows: T } })).y);
  const want = new Float64Array(T * C);
  for (let t = 0; t < T; t++) {
    const row = rmsnormRow(x.subarray(t * C, (t + 1) * C), w.vals, v.EPS, v.UNIT_OFFSET);
    for (let c = 0; c < C; c++) want[t * C + c] = v.ACCUMULATE ? y0[t * C + c] + row[c] : row[c];
  }
  return [{ what: `y (rows=${T}, C=${C})`, ...relErr(out, want), tol: 1e-5 }];
}

// rope_kv's reference: tokens t < T of qkv at positions pos0 + t — q/k RMSNorm (QK_NORM), RoPE on the first ROT
// features (rotate_half), k and v appended to copies of the caches. cos/sin baked (ROPE_INLINE) or from `table`.
function ropeRef(v, qkv, T, pos0, qn, kn, table, kc0, vc0) {
  const { H, HKV, D, ROT, HALF, QKV_N } = v;
  const cs = (pos, i) => {
    if (!v.ROPE_INLINE) return [table[pos * ROT + i], table[pos * ROT + HALF + i]];
    const a = fr(pos * fr(v.INV_FREQ[i]));
    return [fr(fr(Math.cos(a)) * fr(v.ATTN_SCALING)), fr(fr(Math.sin(a)) * fr(v.ATTN_SCALING))];
  };
  const wantQ = new Float64Array(T * H * D), wantK = Float64Array.from(kc0), wantV = Float64Array.from(vc0);
  for (let t = 0; t < T; t++) {
    const pos = pos0 + t;
    for (let j = 0; j < H + HKV; j++) {
      let vals = Array.from(qkv.subarray(t * QKV_N + j * D, t * QKV_N + (j + 1) * D));
      if (v.QK_NORM) vals = rmsnormRow(vals, j < H ? qn.vals : kn.vals, v.EPS, v.UNIT_OFFSET);
      const rot = vals.map((x, d) => {
        if (d >= ROT) return x;
        const [c, s] = cs(pos, d % HALF);
        const rh = d < HALF ? -vals[d + HALF] : vals[d - HALF];
        return x * c + rh * s;
      });
      for (let d = 0; d < D; d++) {
        if (j < H) wantQ[t * H * D + j * D + d] = rot[d];
        else {
          const kh = j - H;
          wantK[pos * HKV * D + kh * D + d] = rot[d];
          wantV[pos * HKV * D + kh * D + d] = qkv[t * QKV_N + (H + HKV) * D + kh * D + d];
        }
      }
    }
  }
  return { wantQ, wantK, wantV };
}

// Random q/k norm weights, rope table and caches for a rope_kv-shaped kernel, as its inputs.
function ropeInputs(r, v, f16, T, S, P, QKV_N) {
  const qkv = f32s(r, T * QKV_N, -2, 2);
  const qn = stArray(r, v.D, f16, 0.5, 1.5), kn = stArray(r, v.D, f16, 0.5, 1.5);
  const table = f32s(r, P * v.ROT, -1, 1);
  const kc0 = f32s(r, S * v.HKV * v.D), vc0 = f32s(r, S * v.HKV * v.D);
  const inputs = { qkv, k_cache: kc0, v_cache: vc0 };
  if (v.QK_NORM) Object.assign(inputs, { q_norm: qn.data, k_norm: kn.data });
  if (!v.ROPE_INLINE) inputs.rope = table;
  return { qkv, qn, kn, table, kc0, vc0, inputs };
}

async function ropeKv(ctx) {
  const { kernel: k, r, f16 } = ctx, v = k.values;
  const results = [];
  for (const [T, pos0] of [[5, 3], [3, 4000]]) {
    const S = pos0 + T + 2, P = S;
    const { qkv, qn, kn, table, kc0, vc0, inputs } = ropeInputs(r, v, f16, T, S, P, v.QKV_N);
    const o = await runKernel(ctx.dev, k, ctx.code, { inputs, vars: { T, S, P }, uniforms: { T, pos0 } });
    const { wantQ, wantK, wantV } = ropeRef(v, qkv, T, pos0, qn, kn, table, kc0, vc0);
    const tol = v.ROPE_INLINE ? 1e-5 : 1e-6;
    results.push({ what: `q_out pos0=${pos0}`, ...relErr(new Float32Array(o.q_out), wantQ), tol });
    results.push({ what: `k_cache pos0=${pos0}`, ...relErr(new Float32Array(o.k_cache), wantK), tol });
    results.push({ what: `v_cache pos0=${pos0}`, ...relErr(new Float32Array(o.v_cache), wantV), tol: 0 });
  }
  return results;
}

// Causal GQA attention (sliding window, soft-cap) of T queries at pos0 + t over the caches, in double.
function attentionRef(v, q, kc, vc, T, pos0) {
  const { H, HKV, D, WINDOW } = v;
  const want = new Float64Array(T * H * D);
  for (let h = 0; h < H; h++) {
    const hk = Math.floor(h / (H / HKV));
    for (let t = 0; t < T; t++) {
      const qpos = pos0 + t;
      const vis = (j) => j <= qpos && (WINDOW === 0 || qpos - j < WINDOW);
      const w = [];
      let mx = -Infinity;
      for (let j = 0; j <= qpos; j++) {
        if (!vis(j)) continue;
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q[(t * H + h) * D + d] * kc[(j * HKV + hk) * D + d];
        dot *= fr(v.SCALE);
        if (v.SOFTCAP) dot = Math.tanh(dot / v.CAP) * v.CAP;
        w[j] = dot;
        mx = Math.max(mx, dot);
      }
      let sum = 0;
      for (let j = 0; j <= qpos; j++) if (vis(j)) sum += (w[j] = Math.exp(w[j] - mx));
      for (let d = 0; d < D; d++) {
        let acc = 0;
        for (let j = 0; j <= qpos; j++) if (vis(j)) acc += w[j] / sum * vc[(j * HKV + hk) * D + d];
        want[(t * H + h) * D + d] = acc;
      }
    }
  }
  return want;
}

async function attention(ctx) {
  const { kernel: k, r } = ctx, v = k.values;
  const { H, HKV, D } = v;
  const results = [];
  for (const [T, pos0] of [[4, 9], [1, 150], [3, 130]]) {
    const S = pos0 + T + 3;
    const q = f32s(r, T * H * D, -1, 1);
    const kc = f32s(r, S * HKV * D, -1, 1), vc = f32s(r, S * HKV * D, -1, 1);
    for (let i = (pos0 + T) * HKV * D; i < S * HKV * D; i++) kc[i] = vc[i] = NaN;  // never read
    const o = new Float32Array((await runKernel(ctx.dev, k, ctx.code, { inputs: { q, k_cache: kc, v_cache: vc }, vars: { T, S }, uniforms: { T, pos0 } })).out);
    results.push({ what: `out T=${T} pos0=${pos0}`, ...relErr(o, attentionRef(v, q, kc, vc, T, pos0)), tol: 1e-5 });
  }
  return results;
}

// Split attention's partials (rows × nsplit chunks of [m, l, acc[D]]) combined, in double:
// out[d] = Σ acc_i[d]·e^(m_i − M) / Σ l_i·e^(m_i − M), M = max m_i.
function mergeRef(part, rows, nsplit, D) {
  const out = new Float64Array(rows * D);
  for (let th = 0; th < rows; th++) {
    let mx = -Infinity, l = 0;
    for (let i = 0; i < nsplit; i++) mx = Math.max(mx, part[(th * nsplit + i) * (D + 2)]);
    for (let i = 0; i < nsplit; i++) { const at = (th * nsplit + i) * (D + 2); l += part[at + 1] * Math.exp(part[at] - mx); }
    for (let d = 0; d < D; d++) {
      let acc = 0;
      for (let i = 0; i < nsplit; i++) { const at = (th * nsplit + i) * (D + 2); acc += part[at + 2 + d] * Math.exp(part[at] - mx); }
      out[th * D + d] = acc / l;
    }
  }
  return out;
}

// The decode split (attention_decode.wgsl): one new token at pos0 straight from qkv — its q/k rotated (and
// normed) as rope_kv does, k and v appended to the caches — then per-chunk partials, combined here
// (attention_merge has its own check). Cache rows from pos0 on start as NaN: the kernel must not read them.
async function attentionSplit(ctx) {
  const { kernel: k, r, f16 } = ctx, v = k.values;
  const { H, HKV, D } = v;
  const results = [];
  for (const pos0 of [0, 9, 150, 130]) {
    const T = 1, S = pos0 + 4, P = S;
    const { qkv, qn, kn, table, kc0, vc0, inputs } = ropeInputs(r, v, f16, T, S, P, v.QKV_N);
    for (let i = pos0 * HKV * D; i < S * HKV * D; i++) kc0[i] = vc0[i] = NaN;
    const nsplit = Math.ceil(S / v.KPC);
    const o = await runKernel(ctx.dev, k, ctx.code, { inputs, vars: { T, S, P }, uniforms: { T, pos0, nsplit } });
    const { wantQ, wantK, wantV } = ropeRef(v, qkv, T, pos0, qn, kn, table, kc0, vc0);
    const rows = [...Array((pos0 + 1) * HKV * D).keys()];  // the cache up to the appended row
    const tolRope = v.ROPE_INLINE ? 1e-5 : 1e-6;
    results.push({ what: `k_cache pos0=${pos0}`, ...relErr(new Float32Array(o.k_cache), wantK, rows), tol: tolRope });
    results.push({ what: `v_cache pos0=${pos0}`, ...relErr(new Float32Array(o.v_cache), wantV, rows), tol: 0 });
    const out = mergeRef(new Float32Array(o.part), H, nsplit, D);
    results.push({ what: `out pos0=${pos0}`, ...relErr(out, attentionRef(v, wantQ, wantK, wantV, T, pos0)), tol: 1e-5 });
  }
  return results;
}

// attention_merge: random partials (m, l, acc) per chunk, some chunks empty (m = -3e38, l = 0, acc = 0).
async function attentionMerge(ctx) {
  const { kernel: k, r } = ctx, { H, D } = k.values;
  const results = [];
  for (const [T, nsplit] of [[1, 5], [2, 1], [1, 9]]) {
    const part = new Float32Array(T * H * nsplit * (D + 2));
    for (let c = 0; c < T * H * nsplit; c++) {
      const at = c * (D + 2);
      const empty = nsplit > 1 && c % nsplit === nsplit - 1;
      part[at] = empty ? -3e38 : (r() * 2 - 1) * 20;
      part[at + 1] = empty ? 0 : 1 + r() * 60;
      for (let d = 0; d < D; d++) part[at + 2 + d] = empty ? 0 : (r() * 2 - 1) * part[at + 1];
    }
    const S = nsplit * k.values.KPC;
    const o = new Float32Array((await runKernel(ctx.dev, k, ctx.code, { inputs: { part }, vars: { T, S }, uniforms: { T, nsplit } })).out);
    results.push({ what: `out T=${T} nsplit=${nsplit}`, ...relErr(o, mergeRef(part, T * H, nsplit, D)), tol: 1e-5 });
  }
  return results;
}

async function gatedAct(ctx) {
  const { kernel: k, r } = ctx, F = k.values.F, T = 7;
  const gu = f32s(r, T * 2 * F, -4, 4);
  const out = new Float32Array((await runKernel(ctx.dev, k, ctx.code, { inputs: { gu }, vars: { T }, uniforms: { T } })).y);
  const act = actFn(k.values), want = new Float64Array(T * F);
  for (let t = 0; t < T; t++) for (let f = 0; f < F; f++) want[t * F + f] = act(gu[t * 2 * F + f]) * gu[t * 2 * F + F + f];
  return [{ what: `y (T=${T}, F=${F})`, ...relErr(out, want), tol: 1e-5 }];
}

async function add(ctx) {
  const { kernel: k, r } = ctx, C = k.values.C, T = 5;
  const x = f32s(r, T * C), y = f32s(r, T * C);
  const out = new Float32Array((await runKernel(ctx.dev, k, ctx.code, { inputs: { x, y }, vars: { T }, uniforms: { T } })).y);
  return [{ what: `y (T=${T}, C=${C})`, ...relErr(out, Float64Array.from(y, (v, i) => fr(v + x[i]))), tol: 0 }];
}

async function argmax(ctx) {
  const { kernel: k, r } = ctx, V = k.values.V;
  const logits = f32s(r, V, -5, 5);
  const WG = k.values.WG, b = V - 2;
  const a = V > WG + 2 ? Math.min(Math.floor(V / 3), V - WG - 3) : Math.floor(V / 3);
  const c = a + WG < b ? a + WG : b;  // the same lane's next load: a tie within one lane too
  logits[a] = logits[b] = logits[c] = 7;  // a tie: the first index wins
  const out = new Uint32Array((await runKernel(ctx.dev, k, ctx.code, { inputs: { logits }, vars: {} })).out);
  return [{ what: `token (V=${V}, tie at ${a}, ${c} and ${b})`, rel: out[0] === a ? 0 : 1, abs: 0, got: out[0], want: a, tol: 0 }];
}

// models/sampling.cpp's processors in double, plus the GPU's sampling rule (first index whose cumulative kept
// weight exceeds u * total). Cases avoid boundaries closer than 1e-4 (in probability) to the thresholds.
function sampleRef(logits, p) {
  const V = logits.length, x = Float64Array.from(logits);
  for (const id of p.ids) x[id] = x[id] < 0 ? fr(x[id] * p.penalty) : fr(x[id] / p.penalty);
  if (p.temperature <= 0) { let b = 0; for (let i = 1; i < V; i++) if (x[i] > x[b]) b = i; return { token: b, kept: 1, x }; }
  const s = x.map((v) => fr(v / p.temperature));
  let keep = new Array(V).fill(true), pMargin = Infinity;
  if (p.top_k > 0 && p.top_k < V) { const kth = [...s].sort((a, b) => b - a)[p.top_k - 1]; keep = keep.map((_, i) => s[i] >= kth); }
  const m = Math.max(...s);
  const e = s.map((v, i) => (keep[i] ? Math.exp(v - m) : 0));
  const Z = e.reduce((a, b) => a + b, 0);
  if (p.top_p < 1) {
    const order = [...Array(V).keys()].filter((i) => keep[i]).sort((a, b) => s[b] - s[a]);
    let above = 0;
    for (const i of order) { keep[i] = above < p.top_p * Z; pMargin = Math.min(pMargin, Math.abs(above / Z - p.top_p)); above += e[i]; }
  }
  const kept = keep.filter(Boolean).length;
  const tot = e.reduce((a, v, i) => a + (keep[i] ? v : 0), 0);
  const target = p.u * tot;
  let acc = 0, token = -1, margin = Infinity;
  for (let i = 0; i < V; i++) {
    if (!keep[i]) continue;
    acc += e[i];
    margin = Math.min(margin, Math.abs(acc - target) / tot);
    if (token < 0 && acc > target) token = i;
  }
  return { token, kept, x, margin: Math.min(margin, pMargin) };
}

// The stages of sample.wgsl in the program's order (codegen/wgsl_program.cpp).
const SAMPLE_STAGES = ['sample_prep', ...Array(4).fill(['sample_topk_hist', 'sample_topk_select']).flat(), 'sample_exp',
                       ...Array(4).fill(['sample_topp_hist', 'sample_topp_select']).flat(), 'sample_sums', 'sample_pick'];

// Checked once per kernel set, on its first stage: the whole sequence against the reference.
async function sample(ctx) {
  const { kernel: k, r } = ctx, V = k.values.V;
  if (!k.name.startsWith(SAMPLE_STAGES[0])) return [];
  const suffix = k.name.slice(SAMPLE_STAGES[0].length);  // a variant set's stages share one suffix
  const steps = SAMPLE_STAGES.map((name) => ctx.codeOf(name + suffix));
  const results = [];
  const configs = [
    { temperature: 0, top_k: 0, top_p: 1, penalty: 1.3 },
    { temperature: 0.7, top_k: 0, top_p: 1, penalty: 1 },
    { temperature: 1.0, top_k: 20, top_p: 1, penalty: 1.2 },
    { temperature: 0.8, top_k: 0, top_p: 0.9, penalty: 1 },
    { temperature: 1.3, top_k: 50, top_p: 0.7, penalty: 1.5 },
    // Peaked logits: top-p keeps a handful.
    { temperature: 0.6, top_k: 0, top_p: 0.8, penalty: 1, spread: 16 },
    { temperature: 1.0, top_k: 40, top_p: 0.95, penalty: 1.1, spread: 12 },
    // Greedy with a penalty and a tie between the first and the last block: the first index wins.
    { temperature: 0, top_k: 0, top_p: 1, penalty: 1.2, tie: true },
  ];
  // A k past one block's tokens, where there are several blocks.
  if (V > 1400) configs.push({ temperature: 0.9, top_k: 700, top_p: 0.9, penalty: 1 });
  for (const c of configs) {
    const logits = f32s(r, V, -(c.spread ?? 4), c.spread ?? 4);
    const tie = c.tie ? [Math.floor(V / 7), V - 2] : [];
    for (const i of tie) logits[i] = 9;
    const ids = [];
    while (ids.length < 15) { const id = Math.floor(r() * V); if (!ids.includes(id) && !tie.includes(id)) ids.push(id); }
    const p = { ...c, ids, u: 0 };
    let ref;
    // Choose u (and nudge top_p to the middle of its gap) so no decision sits within 1e-4 of a boundary.
    for (let tries = 0; tries < 50; tries++) {
      p.u = r();
      if (tries % 2 === 1 && p.top_p < 1) p.top_p = fr(p.top_p + 3e-4);
      ref = sampleRef(logits, p);
      if (p.temperature <= 0 || ref.margin > 1e-4) break;
    }
    const uniforms = { temperature: p.temperature, top_k: p.top_k, top_p: p.top_p, penalty: p.penalty, u: p.u };
    const mask = new Uint32Array(Math.ceil(V / 32));
    for (const id of ids) mask[id >> 5] |= (1 << (id & 31)) >>> 0;
    const o = await runSequence(ctx.dev, steps, { inputs: { logits, penalty_mask: mask }, uniforms });
    const out = new Uint32Array(o.out);
    const what = `T=${c.temperature} k=${c.top_k} p=${c.top_p} pen=${c.penalty}`;
    const ok = out[0] === ref.token && (p.temperature <= 0 || out[1] === ref.kept);
    results.push({ what: `${what}: token ${out[0]} (ref ${ref.token}), kept ${out[1]} (ref ${ref.kept})`, rel: ok ? 0 : 1, abs: 0, tol: 0 });
    results.push({ what: `${what}: penalised logits`, ...relErr(new Float32Array(o.logits), ref.x), tol: 1e-6 });
    // With a penalty the pick adds the chosen token to the mask (the next forward's penalty set); else unchanged.
    const want = mask.slice();
    if (p.penalty !== 1) want[ref.token >> 5] |= (1 << (ref.token & 31)) >>> 0;
    const gotMask = new Uint32Array(o.penalty_mask);
    const badWord = want.findIndex((w, i) => w !== gotMask[i]);
    results.push({ what: `${what}: penalty mask after the pick${badWord >= 0 ? ` (word ${badWord}: ${gotMask[badWord]} vs ${want[badWord]})` : ''}`,
                   rel: badWord >= 0 ? 1 : 0, abs: 0, tol: 0 });
  }
  return results;
}

export const CASES = {
  'gemv_q4.wgsl': gemv,
  'gemv_q4_staged.wgsl': gemv,
  'gemm_q4.wgsl': gemm,
  'embed_q4.wgsl': embedQ4,
  'embed_dense.wgsl': embedDense,
  'rmsnorm.wgsl': rmsnorm,
  'rope_kv.wgsl': ropeKv,
  'attention.wgsl': attention,
  'attention_decode.wgsl': attentionSplit,
  'attention_merge.wgsl': attentionMerge,
  'gated_act.wgsl': gatedAct,
  'add.wgsl': add,
  'argmax.wgsl': argmax,
  'sample.wgsl': sample,
};
