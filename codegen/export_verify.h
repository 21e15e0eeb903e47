// Checks an export before it ships: an f16-range calibration scan (the NaN-in-the-browser failure of
// q4f16_1 on models whose activations pass 65504; run on the reloaded export it also catches inf/NaN there),
// the prompts it uses, per-tensor weight error, and verify_export: reload the written shards and compare
// them with the original (models/evaluate.h compare_models). Verification holds two copies of the model, so
// plan_verification picks the compute mode from the memory available: F32, else BF16 (half the resident
// bytes), else a refusal naming what it would need. The browser computes q4f16_1 in f16, which the scan
// guards. Not here: the CLI report (cli/export.cpp).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "models/evaluate.h"
#include "models/model.h"
#include "quant/block.h"

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

struct WeightError {  // per HF tensor, exported vs original, both exact in f32
  std::string name;    // HF name
  double max_abs = 0;  // max |w_export - w_hf|
  double mean_abs = 0;
  double max_ref = 0;  // max |w_hf|
};

// ---- memory plan ----------------------------------------------------------------------------------------------
// Bytes verification holds at its peak in `mode`, estimated from the config: `models` copies resident (the
// original and the reloaded export; f32, or bf16 matmul weights in BF16), the largest record being loaded
// (int4: codes, scales and a 4 MiB f32 block; else the record and its f32 copy), the logits of a prompt of
// `prompt_tokens` tokens for both models, and 256 MiB for activations and the runtime.
uint64_t verify_memory_bytes(const ModelConfig& config, quant::Scheme scheme, ComputeMode mode, int64_t prompt_tokens,
                             int models = 2);

struct VerifyPlan {
  bool fits = true;                  // false: not even BF16 fits; `mode` is then BF16
  ComputeMode mode = ComputeMode::F32;
  uint64_t need_f32 = 0, need_bf16 = 0, available = 0;
  std::string describe() const;  // "f32 (needs ~5.4 GB of 20.1 GB available)", or why not
};
// F32 when it fits `available` (0 = unknown: F32), else BF16 when that fits, else fits = false.
VerifyPlan plan_verification(const ModelConfig& config, quant::Scheme scheme, int64_t prompt_tokens,
                             uint64_t available, int models = 2);

// ---- the check ------------------------------------------------------------------------------------------------
struct VerifyReport {
  ComputeMode mode = ComputeMode::F32;       // of both models
  std::vector<WeightError> weight_errors;    // on the exact dequantised values, whatever the mode
  CompareResult compare;                     // original vs reloaded export on the prompts
  bool has_eval = false;                     // an eval file was given: eval_compare holds its comparison
  CompareResult eval_compare;                // original vs reloaded export on the eval file's targets
  Calibration scan;                          // the reloaded export's activations
  double seconds = 0;
};

// Reloads the export in `export_dir` in original.compute_mode(), measures per-tensor weight error against
// `hf_dir` as the shards are decoded (one ~4 MiB block at a time), compares next-token distributions on
// `prompts` (and on `eval`'s sequences when given: perplexity of both on a user's eval text or chat JSONL) and
// scans the export's activations for inf/NaN.
VerifyReport verify_export(const std::string& hf_dir, const std::string& export_dir, Model& original,
                           const std::vector<std::vector<int32_t>>& prompts, const EvalData* eval = nullptr);

// "" when the export may ship, else why not: inf/NaN in the export's forward, or a q0f32 export whose logits
// differ from the original's by more than 1e-3 (in BF16 mode both sides round the same weights the same way,
// so the bound holds there too).
std::string verify_failure(const VerifyReport& report, quant::Scheme scheme);

}  // namespace slm::codegen
