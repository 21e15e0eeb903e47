// Reading a WebLLM/MLC export directory back into a native Model. Config: the HF config.json that slm export
// copies verbatim, else mlc-chat-config.json's model_config (best-effort). Weights: tensor-cache.json + shards
// -> the MLC parameters of the family's layout (mlc_layout.h), int4 dequantised to f32 (quant::dequantize,
// exactly MLC's values), fused tensors split back and Gemma's stored 1 + w turned back into w, under the HF
// names of the family's tensor table -> make_model. So `slm logits/generate/perplexity EXPORT_DIR` run what
// the browser loads, with f32 activations.
// Not here: an int4 matmul on the packed weights (the model runs on dequantised f32 weights), KN layouts.
#pragma once
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "models/model.h"
#include "quant/block.h"

namespace slm::codegen {

// True when `dir` holds mlc-chat-config.json or tensor-cache.json (an export rather than an HF dir).
bool is_export_dir(const std::string& dir);

struct ExportConfig {
  ModelConfig config;
  quant::Scheme scheme = quant::Scheme::Q4F16_1;
};

// model_config of an mlc-chat-config.json -> ModelConfig, through the config.json parser. Keys MLC's
// gen_config adds (context_window_size, prefill_chunk_size, tensor_parallel_shards, max_batch_size, …) are
// dropped, Gemma3Config's text_config is flattened, position_embedding_base stands in for rope_theta and
// context_window_size for max_position_embeddings when those are absent; model_type falls back to the
// top-level one. Best-effort: MLC's dataclasses drop HF fields (sliding windows, rope types MLC lacks, …).
// `origin` names the file in errors.
ModelConfig model_config_from_chat_config(const nlohmann::json& chat_config, const std::string& origin);
// Reads DIR/mlc-chat-config.json (quantization, model_type) and the model config: DIR/config.json when
// present (slm export copies it), else the chat config's model_config.
ExportConfig load_export_config(const std::string& dir);

// Sees the exact f32 value of each HF tensor of an export (dequantised, split, Gemma's +1 undone) before it
// is converted to its resident dtype: rows [row0, row0 + block.size(0)) of tensor `hf_name`, in row order.
// Int4 weights come in row blocks of ~4 MiB (the f32 tensor never exists whole), others whole.
using ExportTensorVisitor = std::function<void(const std::string& hf_name, int64_t row0, const Tensor& block)>;

// The weights of an export under HF names, F32 (BF16 for matmul weights when mode is BF16, as
// load_model keeps them). Every record the layout needs must be present with its shape and dtype, and no
// other record may be: errors name the file and the record. Beyond the result, it holds one int4 record
// and a ~4 MiB f32 block at a time (a non-quantised record: that record and its f32 copy).
WeightMap load_export_weights(const std::string& dir, const ExportConfig& ec, ComputeMode mode = ComputeMode::F32,
                              const ExportTensorVisitor& visit = nullptr);

std::unique_ptr<Model> load_export(const std::string& dir, ComputeMode mode = ComputeMode::F32);

// An HF model directory or an export directory, whichever `dir` is.
std::unique_ptr<Model> load_model_or_export(const std::string& dir, ComputeMode mode = ComputeMode::F32);

}  // namespace slm::codegen
