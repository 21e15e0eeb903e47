// Next-token selection from one row of logits, with HF generate's processors in HF's order:
// repetition penalty -> temperature -> top-k -> top-p -> sample (or argmax when greedy).
// Semantics follow transformers' RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper,
// TopKLogitsWarper and TopPLogitsWarper (min_tokens_to_keep = 1). The random stream is slm's own
// (seeded mt19937_64), so sampled tokens do not reproduce torch's, only its distribution.
#pragma once
#include <cstdint>
#include <random>
#include <vector>

namespace slm {

struct SamplingParams {
  float temperature = 0.0f;         // 0: greedy
  int64_t top_k = 0;                // 0: off
  float top_p = 1.0f;               // 1: off
  float repetition_penalty = 1.0f;  // 1: off
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& p) : p_(p), rng_(p.seed) {}
  // logits (V) of the next position; `context` = every id so far (prompt + generated).
  int32_t next(std::vector<float> logits, const std::vector<int32_t>& context);

 private:
  SamplingParams p_;
  std::mt19937_64 rng_;
};

// Index of the largest value; the first one on ties (torch.argmax's choice).
int32_t argmax(const std::vector<float>& v);
// The processors alone, exposed for tests: returns the processed scores (-inf for removed tokens).
std::vector<float> process_logits(std::vector<float> logits, const std::vector<int32_t>& context,
                                  const SamplingParams& p);

}  // namespace slm
