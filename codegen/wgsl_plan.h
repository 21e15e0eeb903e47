// The set of WGSL kernels one model needs, as data: for each kernel its template (codegen/wgsl/*.wgsl), the
// values baked into it (shapes, eps, rope frequencies, workgroup sizes and tiles chosen from the adapter's
// limits) and which MLC parameters its weight bindings take. wgsl_emit.h turns these specs into WGSL text
// and the kernels.json manifest.
// Not here: template filling (wgsl_emit); the dispatch sequence, buffers and KV cache (wgsl_program).
// Shapes and semantics follow tensor/ops.h; names follow docs/mlc_params.md.
#pragma once
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/config.h"
#include "quant/block.h"

namespace slm::codegen {

// Device limits the kernels must respect; the defaults are WebGPU's default limits (W3C WebGPU §3.6.2),
// which every adapter supports. The runtime passes its adapter's (or requested device's) values.
struct WgslLimits {
  uint32_t max_compute_invocations_per_workgroup = 256;
  uint32_t max_compute_workgroup_size_x = 256;
  uint32_t max_compute_workgroup_storage_size = 16384;  // bytes
  uint32_t max_storage_buffers_per_shader_stage = 8;
  uint32_t max_compute_workgroups_per_dimension = 65535;
  uint64_t max_storage_buffer_binding_size = uint64_t(128) << 20;  // bytes
};

// How rope_kv gets cos/sin: Table (the default) reads a (P, rotary_dim) buffer the runtime fills from the
// program's inv_freq (exact: cos/sin in double as rope_table()); Inline bakes inv_freq into the shader and
// evaluates cos/sin there — WGSL only bounds their error by 2^-11 absolute, and SwiftShader's approximations
// cost 1e-4 relative on the logits, so it is an option, not the default. Inline is refused for dynamic and
// longrope, whose frequencies depend on the sequence length. (Auto = Table, kept for callers that name it.)
enum class WgslRope { Auto, Inline, Table };

struct WgslOptions {
  WgslLimits limits;
  WgslRope rope = WgslRope::Auto;
  uint32_t gemv_lanes = 0;  // lanes per row of the decode GEMVs; 0 = the planner's choice (a tuning knob)
  // The staged GEMV (gemv_q4_staged.wgsl) as the subgroups stand-in of a q4f32_1 GEMV: Auto where it measured
  // faster, Always wherever it fits the limits, Never (tuning knobs, and the tests' way to reach it).
  enum class Staged { Auto, Always, Never } gemv_staged = Staged::Auto;
};

// One kernel to emit. `values` are the template's placeholders: booleans are section flags ({{#F}}…{{/F}}),
// integers and floats are printed as WGSL literals, arrays of numbers as comma-separated lists, strings
// verbatim. `params` maps a binding name to the MLC parameter it takes ("{L}" = the layer index).
struct WgslKernelSpec {
  std::string name;  // unique within a model: "gemv_qkv", "attention_sliding", …
  std::string tmpl;  // template key in variants.json: "gemv_q4", …
  std::string role;  // what it computes in the model, for the manifest
  nlohmann::ordered_json values = nlohmann::ordered_json::object();
  std::map<std::string, std::string> params;
  uint32_t workgroup_size = 0;  // = values["WG"]
  // A kernel that needs a WebGPU feature beyond the export's (e.g. "subgroups") stands in for `replaces`
  // where the device has it; the program names only the kernel it replaces.
  std::string feature, replaces;
};

struct WgslPlan {
  std::vector<WgslKernelSpec> kernels;
  // Per layer: {"type": "full"|"sliding", "rope_kv": kernel, "attention": kernel}.
  nlohmann::ordered_json layers = nlohmann::ordered_json::array();
  nlohmann::ordered_json constants = nlohmann::ordered_json::object();  // C, F, V, H, HKV, D, L, …
  bool shader_f16 = false;  // the kernels need the shader-f16 feature (q4f16_1)
  // MLC names ({L} = layer) of the RMSNorm weights the prefill's standalone norms bind: "input", "mlp",
  // "final", and for Gemma-2/3's sandwich "post_attention", "post_feedforward" (wgsl_program.h).
  std::map<std::string, std::string> norms;
};

// The kernels of `config` under `scheme` (q4f16_1 or q4f32_1). Throws slm::Error naming the field for what the
// templates cannot express (q0 schemes, K not a multiple of 32, limits too small).
WgslPlan plan_wgsl_kernels(const ModelConfig& config, quant::Scheme scheme, const WgslOptions& options = {});

// Tiling choices, exposed for tests: each respects the limits or throws.
// lanes = 0: the planner's choice of lanes per row (32, fewer for a small K).
nlohmann::ordered_json wgsl_gemv_tiling(int64_t K, int64_t N, bool gated, bool norm_in, const WgslLimits& limits,
                                         uint32_t lanes = 0);
nlohmann::ordered_json wgsl_gemm_tiling(int64_t K, int64_t N, const WgslLimits& limits);
// The largest power of two <= min(want, the limits' invocations and workgroup size x).
uint32_t wgsl_workgroup_size(uint32_t want, const WgslLimits& limits);

}  // namespace slm::codegen
