// The emitted WGSL kernels under Dawn for Node (npm `webgpu`), from the committed snapshots
// tests/fixtures/wgsl/*/ (which tests/codegen/test_wgsl_emit.cpp keeps equal to the emitter's output).
//   node tests/web/test_wgsl_kernels.mjs compile   every module through Tint (createShaderModule +
//       getCompilationInfo) and createComputePipeline, on a Vulkan adapter or Dawn's null backend.
//   node tests/web/test_wgsl_kernels.mjs execute-all   every kernel run on a Vulkan adapter (lavapipe in CI)
//       against its JS reference (wgsl_refs.mjs) on random inputs, with the tolerance printed beside the error.
//   node tests/web/test_wgsl_kernels.mjs execute   the same for the kernels of qwen2 (q4f32_1, q4f16_1) and the
//       extra variants, plus each feature the other models add (sliding window, soft-caps, q/k norm, rope tables,
//       partial rotary, GELU, sandwich norms) but not their other GEMV/GEMM shapes: lavapipe compiles every
//       distinct shader with LLVM (about a second each without Mesa's shader cache), and this keeps CI under a
//       minute. execute-all takes ~10 s with a warm cache, ~60 s cold.
// Exit 77 (ctest: skipped) with the reason when the `webgpu` package or (execute) a Vulkan adapter is missing;
// q4f16 kernels are skipped, with the reason logged, when the adapter lacks shader-f16.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { SKIP, compileErrors, loadWebgpu, openDevice, rng } from './wgsl_harness.mjs';
import { CASES } from './wgsl_refs.mjs';

// lavapipe compiles each shader with LLVM at its first dispatch (seconds each, the bulk of this test's time
// without Mesa's shader cache); 128-bit vectors halve that and do not change results. Set before the driver loads.
process.env.LP_NATIVE_VECTOR_WIDTH ??= '128';

const mode = process.argv[2] ?? 'execute';
const only = process.argv[3] ?? '';  // optional substring filter on "set/kernel"
const FEATURES = /^(attention_|rope_kv_|embed$|gemv_lm_head$|gemv_gate_up$|gemv_k$|rmsnorm_add$)/;
const inSubset = (set, name) => mode === 'execute-all' || /^(qwen2_q4f32_1|qwen2_q4f16_1|variants)$/.test(set) || FEATURES.test(name);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/wgsl');

const sets = fs.readdirSync(root).filter((d) => fs.existsSync(path.join(root, d, 'kernels.json'))).sort();
const webgpu = await loadWebgpu();
const vk = await openDevice(webgpu, 'vulkan');
let passed = 0, failed = 0, skipped = 0;

if (mode === 'compile') {
  const nul = await openDevice(webgpu, 'null');
  console.log(`compile: ${vk ? `Vulkan adapter '${vk.name}'${vk.f16 ? ' (shader-f16)' : ''}` : 'no Vulkan adapter'}; null backend for the rest`);
  for (const set of sets) {
    const manifest = JSON.parse(fs.readFileSync(path.join(root, set, 'kernels.json'), 'utf8'));
    for (const k of manifest.kernels) {
      const code = fs.readFileSync(path.join(root, set, k.file), 'utf8');
      const needsF16 = /^enable f16;/m.test(code);
      const dev = vk && (!needsF16 || vk.f16) ? vk : nul;
      if (!dev || (needsF16 && !dev.f16)) { console.log(`SKIP ${set}/${k.name}: no device with shader-f16`); skipped++; continue; }
      const { errs } = await compileErrors(dev.device, code, `${set}/${k.file}`);
      if (errs.length) { failed++; console.log(`FAIL ${set}/${k.name}\n  ${errs.join('\n  ')}`); } else passed++;
    }
  }
} else {
  if (!vk) {
    console.log("SKIPPED: no Vulkan adapter — install Mesa's lavapipe (apt-get install mesa-vulkan-drivers; tools/install_deps)");
    process.exit(SKIP);
  }
  console.log(`execute on '${vk.name}'${vk.f16 ? ' with shader-f16' : ' (no shader-f16: q4f16 kernels skipped)'}`);
  const rows = [];
  let seed = 1;
  for (const set of sets) {
    const manifest = JSON.parse(fs.readFileSync(path.join(root, set, 'kernels.json'), 'utf8'));
    for (const k of manifest.kernels) {
      const id = `${set}/${k.name}`;
      if (!id.includes(only) || !inSubset(set, k.name)) continue;
      const code = fs.readFileSync(path.join(root, set, k.file), 'utf8');
      const f16 = /^enable f16;/m.test(code);
      if (f16 && !vk.f16) { console.log(`SKIP ${id}: the adapter has no shader-f16`); skipped++; continue; }
      const fn = CASES[k.template];
      if (!fn) { console.log(`FAIL ${id}: no JS reference for template ${k.template}`); failed++; continue; }
      const t0 = performance.now();
      try {
        const codeOf = (name) => {
          const e = manifest.kernels.find((x) => x.name === name);
          if (!e) throw new Error(`${set}: kernels.json has no kernel ${name}`);
          return { kernel: e, code: fs.readFileSync(path.join(root, set, e.file), 'utf8') };
        };
        const res = await fn({ kernel: k, code, dev: vk, r: rng(seed++), f16: k.values.F16 === true, codeOf });
        for (const x of res) {
          const ok = x.rel <= x.tol;
          rows.push([id, x.what, x.rel, x.tol, ok]);
          if (!ok) console.log(`FAIL ${id} ${x.what}: rel ${x.rel.toExponential(2)} > ${x.tol} (abs ${x.abs}, at ${x.at}: ${x.got} vs ${x.want})`);
          ok ? passed++ : failed++;
        }
        if (process.env.SLM_WGSL_TIMES) console.log(`${id}: ${(performance.now() - t0).toFixed(0)} ms`);
      } catch (e) {
        failed++;
        console.log(`FAIL ${id}: ${e.stack ?? e}`);
      }
    }
  }
  for (const [id, what, rel, tol, ok] of rows)
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${id.padEnd(44)} ${what.padEnd(58)} max rel err ${rel.toExponential(2)} (tol ${tol})`);
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed ? 1 : 0);
