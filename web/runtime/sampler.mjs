// Next-token choice on the CPU from a logits vector, with the semantics of the native sampler
// (models/sampling.cpp: repetition penalty over the context, temperature, top-k keeping ties, HF's top-p
// keeping the most likely token; temperature 0 = greedy argmax). The engine uses it only when the model
// module returns logits instead of a token sampled on the GPU.

export class SamplerError extends Error {
  constructor(message) { super(message); this.name = 'SamplerError'; }
}

export function argmax(v) {
  let best = 0;
  for (let i = 1; i < v.length; ++i) if (v[i] > v[best]) best = i;
  return best;
}

// Mulberry32: a small seeded generator (not the native mt19937: only greedy output is comparable).
export function makeRng(seed) {
  let s = (seed >>> 0) || 0x9e3779b9;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// p: {temperature, top_k, top_p, repetition_penalty}; context: ids so far. Returns a new Float32Array.
export function processLogits(logits, context, p) {
  const s = Float32Array.from(logits);
  const rp = p.repetition_penalty ?? 1;
  if (rp !== 1)
    for (const id of new Set(context)) if (id >= 0 && id < s.length) s[id] = s[id] < 0 ? s[id] * rp : s[id] / rp;
  const temp = p.temperature ?? 0;
  if (temp > 0 && temp !== 1) for (let i = 0; i < s.length; ++i) s[i] /= temp;
  const k = p.top_k ?? 0;
  if (k > 0 && k < s.length) {
    const kth = Float32Array.from(s).sort().reverse()[k - 1];
    for (let i = 0; i < s.length; ++i) if (s[i] < kth) s[i] = -Infinity;
  }
  const topP = p.top_p ?? 1;
  if (topP < 1) {
    const idx = Array.from(s.keys()).sort((a, b) => s[a] - s[b]);  // stable, ascending
    const mx = s[idx[idx.length - 1]];
    let z = 0;
    for (const x of s) z += x === -Infinity ? 0 : Math.exp(x - mx);
    let cum = 0;
    for (let r = 0; r + 1 < idx.length; ++r) {
      const x = s[idx[r]];
      cum += x === -Infinity ? 0 : Math.exp(x - mx) / z;
      if (cum <= 1 - topP) s[idx[r]] = -Infinity;
    }
  }
  return s;
}

export function sampleToken(logits, context, p, rng) {
  for (const x of logits)
    if (Number.isNaN(x)) throw new SamplerError('[sampling] the model produced NaN logits — with a q4f16_1 build ' +
                                                'this is usually f16 overflow: use the q4f32_1 build');
  if (!((p.temperature ?? 0) > 0)) return argmax(processLogits(logits, context, { ...p, temperature: 0, top_k: 0, top_p: 1 }));
  const s = processLogits(logits, context, p);
  const mx = s[argmax(s)];
  let z = 0;
  const w = new Float64Array(s.length);
  for (let i = 0; i < s.length; ++i) z += (w[i] = Math.exp(s[i] - mx));
  let u = rng() * z;
  for (let i = 0; i < w.length; ++i) if ((u -= w[i]) < 0) return i;
  return argmax(s);
}
