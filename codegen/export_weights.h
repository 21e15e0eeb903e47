// HF checkpoint -> MLC parameters -> params_shard_N.bin + tensor-cache.json, as MLC's convert_weight does:
// tensors visited in HuggingFaceLoader's order, fused (mlc_layout.h), cast to the model dtype, group-quantised
// for q4 schemes (quant/group_quant.h, bit-exact with MLC), written by TensorCacheWriter. The checkpoint
// stays memory-mapped; a fused parameter is quantised (or cast) part by part, never concatenated. Two cores:
// this thread reads and quantises, the writer's thread encodes, hashes and writes (at most 256 MiB queued).
// Not here: mlc-chat-config.json, tokenizer files, verification, the atomic rename (cli/export.cpp).
// Reference: mlc-ai/mlc-llm @ 79d603f python/mlc_llm/interface/convert_weight.py (_convert_args).
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "codegen/mlc_layout.h"
#include "codegen/tensor_cache.h"
#include "quant/group_quant.h"

namespace slm::codegen {

// MLC writes every record "f32-to-bf16" (f32 tensors stored as bf16). slm keeps that for the f16 schemes,
// where it changes no byte, and stores f32 schemes raw so q0f32 / q4f32_1 keep f32 precision
// (WebLLM reads both; docs/mlc_params.md §Encoding).
CacheEncoding export_encoding(quant::Scheme scheme);

struct ExportOptions {
  quant::Scheme scheme = quant::Scheme::Q4F16_1;
  quant::QuantizeOptions quantize;  // tie rule (MLC HEAD: ties to even)
  // Called after each stored tensor: bytes written so far, total, the tensor's name.
  std::function<void(uint64_t done, uint64_t total, const std::string& name)> progress;
};

struct ExportStats {
  int64_t param_count = 0;     // stored tensors (ParamSize)
  uint64_t param_bytes = 0;    // Σ numel × itemsize, un-encoded (ParamBytes)
  int64_t source_params = 0;   // numel of the HF tensors used (BitsPerParam's denominator)
  uint64_t bytes_read = 0;     // HF tensor bytes read
  uint64_t bytes_written = 0;  // shard bytes
  int shards = 0;
  double seconds = 0;
};

// Total shard bytes an export will write (for progress bars), from the layout alone.
uint64_t planned_bytes(const MlcLayout& layout, CacheEncoding enc);

// Writes the shards and tensor-cache.json of `hf_dir` (whose config is `config`) into the existing
// directory `out_dir`. Checks the checkpoint against the family's tensor table first (names, shapes,
// floating dtypes) and that no tensor would be dropped.
ExportStats export_weights(const std::string& hf_dir, const ModelConfig& config, const std::string& out_dir,
                           const ExportOptions& opt);

// The value of one MLC source before the model-dtype cast (fused / +1 applied, in the HF dtype), from any
// lookup of HF tensors by name. Shared by export and by tests that rebuild what MLC would store.
Tensor build_source(const MlcSource& s, const std::function<Tensor(const std::string&)>& hf_tensor);

}  // namespace slm::codegen
