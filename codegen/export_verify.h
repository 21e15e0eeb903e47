// Checks an export before it ships: an f16-range calibration scan (the NaN-in-the-browser failure of
// q4f16_1 on models whose activations pass 65504; run on the reloaded export it also catches inf/NaN there),
// the prompts it uses, and per-tensor weight error. Everything runs natively in f32; the browser computes
// q4f16_1 in f16, which the scan guards. Not here: the logit comparison and perplexity (models/evaluate.h
// compare_models), the CLI report (cli/export.cpp).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "models/model.h"

namespace slm::codegen {

constexpr double kF16Max = 65504.0;

// What the calibration forward saw (Model::set_activation_observer: linear outputs, residual streams, logits).
struct Calibration {
  int64_t tokens = 0;
  double max_abs = 0;           // largest finite |activation|
  std::string max_name;         // where ("model.layers.3.mlp.down_proj")
  int64_t nonfinite = 0;        // inf / NaN values
  std::string first_nonfinite;  // where the first one appeared
  double max_abs_weight = 0;    // largest |w| of the checkpoint
  std::string max_weight_name;

  // No inf/NaN, activations and weights within f16's finite range.
  bool f16_safe() const { return nonfinite == 0 && max_abs <= kF16Max && max_abs_weight <= kF16Max; }
  std::string summary() const;  // one line
};

// Runs `prompts` through `model` with an observer; `hf_dir` (may be empty) adds the weight scan.
Calibration calibrate(Model& model, const std::vector<std::vector<int32_t>>& prompts, const std::string& hf_dir);

// Prompts for calibration and comparison: a few fixed texts encoded with DIR/tokenizer.json when present,
// else fixed pseudo-random id sequences; each at most `max_len` ids, all < vocab.
std::vector<std::vector<int32_t>> verify_prompts(const std::string& dir, int64_t vocab, int64_t max_len = 48);

struct WeightError {
  std::string name;    // HF name
  double max_abs = 0;  // max |w_export - w_hf|
  double mean_abs = 0;
  double max_ref = 0;  // max |w_hf|
};
// Per HF tensor of `exported` against the checkpoint in `hf_dir` (both widened to f32), by name.
std::vector<WeightError> weight_errors(const std::string& hf_dir, const WeightMap& exported);

}  // namespace slm::codegen
