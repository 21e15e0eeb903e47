// Where an int4 GEMV's time goes on a real GPU (Dawn for Node): for one decode shape (K, N), the same bytes read
// four ways, each timed back to back in one compute pass (R dispatches, as a decode step issues them):
//   stream   a linear streaming read of the weight bytes (the peer: what this GPU reads at that size),
//   pattern  a lane per 16-byte group of codes (TPR lanes a row, 4 rows a lane, q_weight + q_scale), XOR only,
//   pattern+x  the same plus each lane's group of x (8 vec4, a 128-byte stride across lanes) — no dequantisation
//            (the layout gemv_q4.wgsl had before it took a u32 word a lane, docs/performance.md),
//   gemv     the generated kernel from DIR/kernels (when DIR is given).
//   node benches/web/bench_gemv_probe.mjs [--K 3072] [--N 9216] [--tpr 32] [--wg 256] [--dir DIR --kernel gemv_qkv]
// Prints one JSON line per way: us per call and GB/s of the weight bytes.
import fs from 'node:fs';
import path from 'node:path';

import { bindManifestKernel, perCall, pipeline, streamSeconds } from './gpu_timing.mjs';

const args = process.argv.slice(2);
const opt = (name, def) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : def; };
const K = Number(opt('--K', 3072)), N = Number(opt('--N', 9216)), TPR = Number(opt('--tpr', 32)), WG = Number(opt('--wg', 256));
const dir = opt('--dir', ''), kname = opt('--kernel', 'gemv_qkv'), R = Number(opt('--reps', 200));
const GROUPS = K / 32;

const { create, globals } = await import('webgpu');
Object.assign(globalThis, globals);
const gpu = create([]);  // kept alive: the adapter and device hang off it
const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
const L = adapter.limits;
const device = await adapter.requestDevice({
  requiredLimits: { maxStorageBufferBindingSize: L.maxStorageBufferBindingSize, maxBufferSize: L.maxBufferSize },
});
const buf = (bytes) => device.createBuffer({ size: Math.max(16, Math.ceil(bytes / 16) * 16), usage: GPUBufferUsage.STORAGE });
// `code` with `buffers` bound at 0, 1, …: seconds per call.
async function time(code, buffers, grid) {
  const pipe = await pipeline(device, code);
  const entries = buffers.map((b, i) => ({ binding: i, resource: { buffer: b } }));
  return perCall(device, pipe, device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries }), grid, { reps: R });
}

const wBytes = N * GROUPS * 16, sBytes = N * GROUPS * 4, bytes = wBytes + sBytes;
const emit = (what, us) => console.log(JSON.stringify({ what, K, N, TPR, WG, MB: bytes / 1e6, us_per_call: +us.toFixed(2),
                                                        GBps: +(bytes / (us / 1e6) / 1e9).toFixed(0) }));
const qw = buf(wBytes), qs = buf(sBytes), x = buf(K * 4), y = buf(N * 4);

emit('stream', (await streamSeconds(device, bytes, { reps: R })) * 1e6);

// The GEMV's pattern: lane l of a row set takes groups l, l+TPR, … of 4 rows.
const RPW = 4 * (WG / TPR), nwg = Math.ceil(N / RPW);
const pattern = (withX) => `
@group(0) @binding(0) var<storage, read> qw: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> qs: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(${WG}) fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let lane = lid % ${TPR}u;
  let row0 = wid.x * ${RPW}u + (lid / ${TPR}u) * 4u;
  let r0 = min(row0, ${N - 1}u) * ${GROUPS}u;
  let r1 = min(row0 + 1u, ${N - 1}u) * ${GROUPS}u;
  let r2 = min(row0 + 2u, ${N - 1}u) * ${GROUPS}u;
  let r3 = min(row0 + 3u, ${N - 1}u) * ${GROUPS}u;
  var acc = vec4<u32>(0u);
  var xa = x[0];  // binds x in both variants
  for (var g = lane; g < ${GROUPS}u; g += ${TPR}u) {
    acc ^= qw[r0 + g] ^ qw[r1 + g] ^ qw[r2 + g] ^ qw[r3 + g];
    acc.x ^= bitcast<u32>(qs[r0 + g] + qs[r1 + g] + qs[r2 + g] + qs[r3 + g]);
    ${withX ? 'for (var j = 0u; j < 8u; j++) { xa += x[g * 8u + j]; }' : ''}
  }
  if (acc.x == 12345u || xa.x == 1.5) { y[row0] = f32(acc.y); }
}`;
emit('pattern', (await time(pattern(false), [qw, qs, x, y], nwg)) * 1e6);
emit('pattern+x', (await time(pattern(true), [qw, qs, x, y], nwg)) * 1e6);

if (dir) {
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'kernels', 'kernels.json'), 'utf8'));
  const k = manifest.kernels.find((e) => e.name === kname);
  const code = fs.readFileSync(path.join(dir, 'kernels', k.file), 'utf8');
  const { pipe, bg, grid } = await bindManifestKernel(device, k, code);
  const us = (await perCall(device, pipe, bg, grid, { reps: R })) * 1e6;
  console.log(JSON.stringify({ what: 'gemv', kernel: kname, K: k.values.K, N: k.values.N, TPR: k.values.TPR, WG: k.values.WG,
                               us_per_call: +us.toFixed(2) }));
}
device.destroy();
process.exit(0);
