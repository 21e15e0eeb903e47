// slm kernels MODEL_DIR --quant {q4f32_1,q4f16_1} --out DIR [--workgroup-size N] [--workgroup-memory BYTES]
//                                                   [--gemv-lanes N] [--gemv-staged auto|on|off]
// Writes DIR/kernels/ — the WGSL kernels of a model and kernels.json with their dispatch program, exactly what
// `slm export` puts beside the weights — from config.json alone, for researchers profiling the kernels
// (benches/web/bench_model_gpu.mjs) and for adapters whose limits differ from WebGPU's defaults.
#include <cstdio>

#include "cli/common.h"
#include "cli/verbs.h"
#include "codegen/wgsl_emit.h"
#include "models/config.h"

namespace slm::cli {

static int run_kernels(const Args& a) {
  for (const char* req : {"--quant", "--out"})
    if (!a.has(req)) throw UsageError{std::string(req) + " is required"};
  quant::Scheme scheme{};
  const std::string q = a.str("--quant");
  if (!quant::scheme_from_name(q, &scheme) || !quant::scheme_info(scheme).quantized)
    throw UsageError{"--quant expects q4f32_1 or q4f16_1 (the WGSL kernels cover the q4 schemes), got '" + q + "'"};
  const ModelConfig config = load_config(a.positional[0]);
  codegen::WgslOptions opt;
  const int64_t wg = a.integer("--workgroup-size"), mem = a.integer("--workgroup-memory");
  if (wg < 1 || wg > 1024) throw UsageError{"--workgroup-size must be in [1, 1024]"};
  if (mem < 4096) throw UsageError{"--workgroup-memory must be at least 4096 bytes"};
  opt.limits.max_compute_invocations_per_workgroup = uint32_t(wg);
  opt.limits.max_compute_workgroup_size_x = uint32_t(wg);
  opt.limits.max_compute_workgroup_storage_size = uint32_t(mem);
  if (a.has("--gemv-lanes")) {
    const int64_t n = a.integer("--gemv-lanes");
    if (n < 1 || n > wg || (n & (n - 1)) != 0) throw UsageError{"--gemv-lanes must be a power of two <= --workgroup-size"};
    opt.gemv_lanes = uint32_t(n);
  }
  if (a.has("--gemv-staged")) {
    const std::string v = a.str("--gemv-staged");
    using S = codegen::WgslOptions::Staged;
    if (v == "auto") opt.gemv_staged = S::Auto;
    else if (v == "on") opt.gemv_staged = S::Always;
    else if (v == "off") opt.gemv_staged = S::Never;
    else throw UsageError{"--gemv-staged expects auto, on or off, got '" + v + "'"};
  }
  codegen::write_wgsl_kernels(a.str("--out"), config, scheme, opt);
  std::printf("wrote %s/kernels (%s, %s)\n", a.str("--out").c_str(), config.model_type.c_str(), q.c_str());
  return 0;
}

Verb make_kernels_verb() {
  return {"kernels",
          "MODEL_DIR --quant {q4f32_1,q4f16_1} --out DIR [--workgroup-size N] [--workgroup-memory BYTES] "
          "[--gemv-lanes N] [--gemv-staged auto|on|off]",
          "Write a model's WGSL kernels and their dispatch program (DIR/kernels/) from config.json alone, as slm "
          "export does beside the weights.",
          {"MODEL_DIR"},
          {{"--quant", "SCHEME", "q4f32_1 or q4f16_1 (q4f16_1 kernels need the shader-f16 feature)", ""},
           {"--out", "DIR", "output directory; DIR/kernels/ is replaced atomically", ""},
           {"--workgroup-size", "N", "the adapter's maxComputeInvocationsPerWorkgroup (WebGPU default 256)", "256"},
           {"--workgroup-memory", "BYTES", "the adapter's maxComputeWorkgroupStorageSize (WebGPU default 16384)",
            "16384"},
           {"--gemv-lanes", "N", "lanes sharing a row in the decode GEMVs, a power of two (a tuning knob; default: the "
            "planner's, the fewest of 32-256 that cover a row in one run)", ""},
           {"--gemv-staged", "MODE", "q4f32_1 GEMVs with x staged in workgroup memory, the subgroups stand-in: auto "
            "(the shapes where it measured faster), on (wherever it fits), off (a tuning knob)", ""}},
          run_kernels};
}

}  // namespace slm::cli
