// Where an int4 GEMV's time goes on a real GPU (Dawn for Node): for one decode shape (K, N), the same bytes read
// several ways, each timed back to back in one compute pass (R dispatches, as a decode step issues them):
//   stream   a linear streaming read of the weight bytes (the peer: what this GPU reads at that size),
//   pattern  a lane per 16-byte group of codes (TPR lanes a row, 4 rows a lane, q_weight + q_scale), XOR only,
//   pattern+x  the same plus each lane's group of x (8 vec4, a 128-byte stride across lanes) — no dequantisation
//            (the layout gemv_q4.wgsl had before it took a u32 word a lane, docs/performance.md),
//   staged   a candidate GEMV (q4f32_1, plain y = W x) with that lane-per-group pattern made cheap: x staged once
//            per workgroup in workgroup memory, transposed so the lanes' reads are contiguous, one subgroup per
//            --rows rows (sums by subgroupAdd alone, no barrier after the staging); needs `subgroups`,
//   gemv     the generated kernel from DIR/kernels (when DIR is given).
//   node benches/web/bench_gemv_probe.mjs [--K 3072] [--N 9216] [--tpr 32] [--wg 256] [--rows 4]
//                                         [--dir DIR --kernel gemv_qkv] [--check]
// Prints one JSON line per way: us per call and GB/s of the weight bytes. --check fills the buffers with random
// codes, scales and x and prints the staged kernel's largest relative error on a few rows against a JS reference.
import fs from 'node:fs';
import path from 'node:path';

import { bindManifestKernel, perCall, pipeline, streamSeconds } from './gpu_timing.mjs';

const args = process.argv.slice(2);
const opt = (name, def) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : def; };
const K = Number(opt('--K', 3072)), N = Number(opt('--N', 9216)), TPR = Number(opt('--tpr', 32)), WG = Number(opt('--wg', 256));
const dir = opt('--dir', ''), kname = opt('--kernel', 'gemv_qkv'), R = Number(opt('--reps', 200));
const ROWS = Number(opt('--rows', 4)), check = args.includes('--check');
const GROUPS = K / 32;

const { create, globals } = await import('webgpu');
Object.assign(globalThis, globals);
const gpu = create([]);
// The Dawn instance must outlive every await: V8 may collect a local no later statement reads, and Dawn then
// crashes in its event processing (seen: a mutex assertion in InstanceBase::ProcessEvents). The exit hook holds it.
process.on('exit', () => gpu);
const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
const L = adapter.limits;
const subgroups = adapter.features.has('subgroups');
const device = await adapter.requestDevice({
  requiredFeatures: subgroups ? ['subgroups'] : [],
  requiredLimits: { maxStorageBufferBindingSize: L.maxStorageBufferBindingSize, maxBufferSize: L.maxBufferSize,
                    maxComputeWorkgroupStorageSize: L.maxComputeWorkgroupStorageSize },
});
const buf = (bytes) => device.createBuffer({ size: Math.max(16, Math.ceil(bytes / 16) * 16),
                                             usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
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

// The staged candidate. SG lanes (the adapter's subgroup size, when it has one size) share each row set.
const SG = adapter.info?.subgroupMinSize === adapter.info?.subgroupMaxSize ? adapter.info.subgroupMinSize : 32;
const staged = () => {
  const rows = [...Array(ROWS).keys()], RPWS = (WG / SG) * ROWS;
  return { grid: Math.ceil(N / RPWS), code: `
enable subgroups;
@group(0) @binding(0) var<storage, read> qw: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> qs: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
const GROUPS: u32 = ${GROUPS}u;
const N: u32 = ${N}u;
// gemv_q4.wgsl's shift-free decoding: x pre-scaled by 16^-i for code i of each nibble quartet.
const NIB = vec4<u32>(0xFu, 0xF0u, 0xF00u, 0xF000u);
const BIAS7 = vec4<f32>(8388615.0, 8388720.0, 8390400.0, 8417280.0);
const XSCALE = vec4<f32>(1.0, 0.0625, 0.00390625, 0.000244140625);
var<workgroup> xs: array<vec4<f32>, ${K / 4}>;  // xs[k * GROUPS + g] = x[8g + k] · XSCALE: group g's vec4 k
fn word_dot(w: u32, xa: vec4<f32>, xb: vec4<f32>) -> f32 {
  let lo = bitcast<vec4<f32>>((vec4<u32>(w) & NIB) | vec4<u32>(0x4B000000u)) - BIAS7;
  let hi = bitcast<vec4<f32>>((vec4<u32>(w >> 16u) & NIB) | vec4<u32>(0x4B000000u)) - BIAS7;
  return dot(lo, xa) + dot(hi, xb);
}
@compute @workgroup_size(${WG}) fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  for (var i = lid; i < ${K / 4}u; i += ${WG}u) { xs[(i % 8u) * GROUPS + i / 8u] = x[i] * XSCALE; }
  workgroupBarrier();
  let lane = lid % ${SG}u;
  let row0 = wid.x * ${RPWS}u + (lid / ${SG}u) * ${ROWS}u;
${rows.map((r) => `  let b${r} = min(row0 + ${r}u, N - 1u) * GROUPS;
  var a${r} = 0.0;`).join('\n')}
  for (var it = 0u; it < ${Math.ceil(GROUPS / SG)}u; it++) {
    let g = lane + ${SG}u * it;
    if (g < GROUPS) {
      let x0 = xs[g]; let x1 = xs[GROUPS + g]; let x2 = xs[2u * GROUPS + g]; let x3 = xs[3u * GROUPS + g];
      let x4 = xs[4u * GROUPS + g]; let x5 = xs[5u * GROUPS + g]; let x6 = xs[6u * GROUPS + g]; let x7 = xs[7u * GROUPS + g];
${rows.map((r) => `      let w${r} = qw[b${r} + g];
      a${r} += qs[b${r} + g] * (word_dot(w${r}.x, x0, x1) + word_dot(w${r}.y, x2, x3) +
                             word_dot(w${r}.z, x4, x5) + word_dot(w${r}.w, x6, x7));`).join('\n')}
    }
  }
${rows.map((r) => `  let t${r} = subgroupAdd(a${r});`).join('\n')}
  if (lane == 0u) {
${rows.map((r) => `    if (row0 + ${r}u < N) { y[row0 + ${r}u] = t${r}; }`).join('\n')}
  }
}` };
};
if (subgroups && K * 4 <= L.maxComputeWorkgroupStorageSize) {
  const { grid, code } = staged();
  let hw, hs, hx;
  if (check) {  // random codes, scales and x (a fixed LCG), so the reference below has something to check
    let seed = 12345;
    const rnd = () => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return seed / 2 ** 32; };
    hw = new Uint32Array(wBytes / 4).map(() => Math.floor(rnd() * 2 ** 32));
    hs = new Float32Array(sBytes / 4).map(() => 0.01 + 0.01 * rnd());
    hx = new Float32Array(K).map(() => 2 * rnd() - 1);
    device.queue.writeBuffer(qw, 0, hw);
    device.queue.writeBuffer(qs, 0, hs);
    device.queue.writeBuffer(x, 0, hx);
  }
  emit(`staged(rows=${ROWS},sg=${SG})`, (await time(code, [qw, qs, x, y], grid)) * 1e6);
  if (check) {
    const rb = device.createBuffer({ size: N * 4, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ });
    const enc = device.createCommandEncoder();
    enc.copyBufferToBuffer(y, 0, rb, 0, N * 4);
    device.queue.submit([enc.finish()]);
    await rb.mapAsync(GPUMapMode.READ);
    const got = new Float32Array(rb.getMappedRange().slice(0));
    let worst = 0;
    for (const n of [0, 1, 2, 3, 5, 31, N >> 1, N - 1]) {
      let t = 0;
      for (let g = 0; g < GROUPS; ++g) {
        let a = 0;
        for (let j = 0; j < 4; ++j) {
          const word = hw[(n * GROUPS + g) * 4 + j];
          for (let i = 0; i < 8; ++i) a += (((word >>> (4 * i)) & 15) - 7) * hx[32 * g + 8 * j + i];
        }
        t += a * hs[n * GROUPS + g];
      }
      worst = Math.max(worst, Math.abs(got[n] - t) / (Math.abs(t) + 1e-3));
    }
    console.log(JSON.stringify({ what: 'staged check', rows_checked: 8, max_rel_err: worst }));
  }
}

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
