// Timing helpers shared by the WebGPU benches (bench_model_gpu.mjs, bench_gemv_probe.mjs): one pipeline
// dispatched n times back to back in one compute pass — as a decode step issues its kernels, so each call
// includes the dependent-dispatch cost — and a generated kernel bound to buffers of its manifest's sizes.
import { dispatchSize, evalExpr } from '../../web/kernels/manifest.mjs';

// Median seconds per dispatch of `grid` workgroups: a warm-up submit of `warm` dispatches, then `rounds`
// submits of `reps`, each timed from submit to onSubmittedWorkDone; `before` (e.g. an upload) runs before each.
export async function perCall(device, pipe, bg, grid, opts) {
  return perCallSteps(device, [{ pipe, bg, grid }], opts);
}

// The same for a sequence of dispatches ([{pipe, bg, grid}], in order, as one program step list): median seconds
// per run of the whole sequence.
export async function perCallSteps(device, steps, { reps = 200, rounds = 5, warm = 10, before } = {}) {
  const run = async (n) => {
    before?.();
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (let i = 0; i < n; ++i)
      for (const st of steps) {
        pass.setPipeline(st.pipe);
        pass.setBindGroup(0, st.bg);
        pass.dispatchWorkgroups(...dispatchSize(st.grid));
      }
    pass.end();
    const t0 = performance.now();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    return (performance.now() - t0) / 1000;
  };
  await run(warm);
  const r = [];
  for (let i = 0; i < rounds; ++i) r.push(await run(reps) / reps);
  r.sort((a, b) => a - b);
  return r[rounds >> 1];
}

// A compute pipeline of `code`; compilation errors are thrown with Tint's message.
export async function pipeline(device, code) {
  const module = device.createShaderModule({ code });
  const info = await module.getCompilationInfo();
  for (const m of info.messages) if (m.type === 'error') throw new Error(m.message);
  return device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
}

// A generated kernel (a kernels.json entry and its WGSL) bound to fresh storage buffers sized by its bindings'
// byte expressions at T = S = P = M = 1, plus its uniform buffer: {pipe, bg, grid, weightBytes (qw + qs)}.
export async function bindManifestKernel(device, k, code) {
  const pipe = await pipeline(device, code);
  let weightBytes = 0;
  const entries = k.bindings.map((b) => {
    const bytes = Math.max(16, Math.ceil(evalExpr(b.bytes, { T: 1, S: 1, P: 1, M: 1 }) / 16) * 16);
    if (b.name === 'qw' || b.name === 'qs') weightBytes += bytes;
    return { binding: b.binding, resource: { buffer: device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE }) } };
  });
  if (k.uniform) entries.push({ binding: k.uniform.binding, resource: { buffer: device.createBuffer({ size: k.uniform.bytes, usage: GPUBufferUsage.UNIFORM }) } });
  const bg = device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries });
  return { pipe, bg, grid: evalExpr(k.grid, { T: 1 }), weightBytes };
}

// The streaming-read kernel the peer and the floor use: binding 0 a buffer of vec4<u32> XORed by a grid of
// 256-lane workgroups looping over it, binding 1 a sink written only if a sum hits a sentinel.
export function streamPipeline(device) {
  return pipeline(device, `
@group(0) @binding(0) var<storage, read> a: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> o: array<u32>;
@compute @workgroup_size(256) fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>) {
  var acc = vec4<u32>(0u);
  for (var i = g.x; i < arrayLength(&a); i += n.x * 256u) { acc ^= a[i]; }
  if ((acc.x ^ acc.y ^ acc.z ^ acc.w) == 0x9e3779b9u) { o[0] = acc.x; }
}`);
}

// Workgroups of streamPipeline for a buffer of `bytes`: at most 4096, one vec4 a lane a pass.
export const streamGrid = (bytes) => Math.min(4096, Math.ceil(bytes / 16 / 256));

// The peer: seconds per call of a streaming read of `bytes` (one buffer of that size, streamPipeline).
export async function streamSeconds(device, bytes, opts) {
  const src = device.createBuffer({ size: Math.ceil(bytes / 16) * 16, usage: GPUBufferUsage.STORAGE });
  const sink = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE });
  const pipe = await streamPipeline(device);
  const bg = device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries: [
    { binding: 0, resource: { buffer: src } }, { binding: 1, resource: { buffer: sink } }] });
  const s = await perCall(device, pipe, bg, streamGrid(bytes), opts);
  src.destroy();
  sink.destroy();
  return s;
}
