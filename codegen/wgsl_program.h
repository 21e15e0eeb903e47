// The dispatch program of a model's WGSL kernels, as data a runtime executes without knowing the family:
// the activation buffers and the per-layer KV cache to allocate (sizes as expressions of T = the prefill chunk,
// S = KV-cache positions), the rope tables to fill (inv_freq + attention scaling per range of sequence length),
// and the steps of a prefill (T tokens at positions pos0…) and of a decode (one token) — each step a kernel of
// the plan, its bindings (an activation buffer or an MLC parameter) and its uniform values as expressions of
// T and pos0 — then the greedy (argmax) and sampling heads. Written into kernels.json as "program"
// (docs/wgsl.md); web/runtime/model_gpu.mjs runs it. The order of steps is the model's forward in
// models/llama.cpp (Gemma-2/3: the sandwich norms), so the browser computes what `slm logits` computes.
// Not here: the kernels themselves (wgsl_plan, wgsl_emit), GPU objects (the runtime).
#pragma once
#include <nlohmann/json.hpp>

#include "codegen/wgsl_plan.h"
#include "models/config.h"

namespace slm::codegen {

// The program of `plan` (plan_wgsl_kernels(config, …)). Throws slm::Error for a rope the runtime cannot
// tabulate (none today: dynamic is exact up to max_position_embeddings, which caps the context).
nlohmann::ordered_json wgsl_program(const ModelConfig& config, const WgslPlan& plan);

}  // namespace slm::codegen
