// What the GPU-vs-native tests (tests/web/test_model_gpu.mjs on lavapipe, tests/browser/test_families.mjs in
// chromium) compare against: the prompt they both feed, the logits file `slm logits` writes, and the bound.

// Max |gpu − native| / max |native| for a row of logits (f32, another summation order; measured ≤ 1.1e-6).
export const LOGIT_BOUND = 2e-5;

// 11 pseudo-random ids in [3, V): with a prefill chunk of 4 they exercise chunking and a partial chunk.
export function testPrompt(V) {
  let s = 12345;
  return Array.from({ length: 11 }, () => { s = (s * 1103515245 + 12345) % 2147483648; return 3 + (s % (V - 3)); });
}

// The safetensors file `slm logits` writes: one F32 tensor 'logits' [T, V], from `bytes` (a Node Buffer).
export function parseLogits(bytes) {
  const n = Number(bytes.readBigUInt64LE(0));
  const t = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')).logits;
  const data = bytes.subarray(8 + n + t.data_offsets[0], 8 + n + t.data_offsets[1]);
  return { shape: t.shape, data: new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length)) };
}
