// Merging a LoRA adapter into its base model: W' = W + scaling · B A, as PEFT's merge_and_unload().
// Reference: peft tuners/lora/layer.py Linear.merge(safe_merge=False) and get_delta_weight, with the
// adapter in f32 (PeftModel.from_pretrained's default autocast_adapter_dtype=True upcasts F16/BF16
// adapter weights):
//   delta = (B @ A) * float(scaling)          f32 (N, K); each element a sequential f32 FMA chain over r
//   W.data += delta                            computed in f32, rounded once to W's dtype (f32/bf16/f16)
// so an f32 merge equals PEFT's to f32 rounding and a bf16/f16 merge to the bit, except where torch's GEMM
// sums the r products in another order and that flips a rounding (not seen in the fixtures).
// Not a converter: every tensor keeps its dtype, shard and name; nothing but targeted weights changes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "lora/adapter.h"
#include "tensor/tensor.h"

namespace slm {

// `w` (N, K) F32/BF16/F16, any storage (e.g. mmap'd, read-only) → a new contiguous tensor of w's dtype.
// `max_abs_delta`, when given, is raised to max |delta| of this module (f32, before rounding to w's dtype).
Tensor adapter_merge_weight(const Tensor& w, const LoraModule& m, float* max_abs_delta = nullptr);

struct MergeSummary {
  int64_t modules_merged = 0;
  int64_t tensors_written = 0;
  float max_abs_delta = 0;                // over all merged modules
  DType dtype = DType::F32;               // the base checkpoint's dtype (Checkpoint::dtype)
  std::vector<std::string> weight_files;  // written, named as the base's (shards keep their names)
  std::vector<std::string> copied_files;  // config.json, generation_config.json, tokenizer files, templates, ...
};

// MODEL_DIR + ADAPTER_DIR → OUT_DIR, a complete HF checkpoint directory: every tensor of the base in its
// dtype, the same safetensors files (model.safetensors or the shards with model.safetensors.index.json
// copied verbatim, each file's __metadata__ kept), and every other top-level file of the base copied
// (config, generation config, tokenizer, chat template, README, ...) except other weight formats
// (.bin, .pt, .pth, .gguf, ...) and adapter files. Written to OUT_DIR.tmp-PID, then renamed to OUT_DIR,
// which must not exist or be an empty directory. Errors: adapter and base mismatched (adapter_load's
// checks), targeted weight missing from the checkpoint, unsupported tensor dtypes.
MergeSummary adapter_merge(const std::string& model_dir, const std::string& adapter_dir, const std::string& out_dir);

}  // namespace slm
