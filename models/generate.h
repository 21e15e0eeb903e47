// Autoregressive generation with the KV cache: prefill the prompt once, then one token per step.
// Stops at any eos id unless ignore_eos; the eos token itself is emitted (as HF generate does).
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "models/model.h"
#include "models/sampling.h"

namespace slm {

struct GenerateOptions {
  int64_t max_tokens = 32;
  SamplingParams sampling;
  std::vector<int64_t> eos_ids;
  bool ignore_eos = false;
  // Called with each new token as it is chosen (streaming); may be empty.
  std::function<void(int32_t)> on_token;
};

struct GenerateResult {
  std::vector<int32_t> tokens;  // generated ids (prompt excluded)
  double prefill_seconds = 0, decode_seconds = 0;
  bool stopped_at_eos = false;
};

GenerateResult generate(Model& model, const std::vector<int32_t>& prompt, const GenerateOptions& opt);

// Greedy decoding that recomputes the whole sequence at every step (no cache reuse): the oracle the
// KV-cache path is tested against.
std::vector<int32_t> generate_greedy_recompute(Model& model, const std::vector<int32_t>& prompt, int64_t n);

}  // namespace slm
