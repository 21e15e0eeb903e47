// MLC-LLM's parameter layout of a model: which HF tensors become which MLC parameter, fused how, with
// which stored name, shape and dtype under each quantisation scheme. Derived from the family's tensor
// table (Model::tensor_table) plus one declarative rule row per family (kFamilyRules in mlc_layout.cpp),
// transcribed from MLC's model and loader files; docs/mlc_params.md is the table per family with sources.
// Not here: reading or writing bytes (tensor_cache.h, export_weights.h), the chat config (chat_config.h).
// Reference: mlc-ai/mlc-llm @ 79d603f python/mlc_llm/model/<family>/<family>_{model,loader}.py,
// loader/standard_loader.py, loader/huggingface_loader.py (_loading_order),
// quantization/group_quantization.py (quantize_model).
#pragma once
#include <string>
#include <vector>

#include "models/config.h"
#include "models/tensor_table.h"
#include "quant/block.h"

namespace slm::codegen {

// How an MLC parameter's value is made from its HF tensor(s), before the cast to the model dtype.
enum class MlcTransform {
  Copy,    // x
  Concat,  // concatenate(parts, axis=0) — fused qkv / gate_up
  AddOne,  // x + 1 in the HF tensor's dtype (Gemma norms: MLC's RMSNorm multiplies by w, HF's by 1 + w)
};

// One parameter of MLC's unquantised nn.Module (e.g. "model.layers.0.self_attn.c_attn.weight").
struct MlcSource {
  std::string mlc_name;               // MLC's name before quantisation (ends in .weight / .bias)
  std::vector<std::string> hf_names;  // HF tensors, in concatenation order along dim 0
  std::vector<int64_t> hf_rows;       // rows each HF tensor contributes (dim 0), same order
  Shape shape;                        // (N, K) or (N,) after concatenation
  TensorRole role;                    // of the HF tensor(s)
  bool quantised = false;             // a q4 scheme stores .q_weight + .q_scale instead of .weight
  MlcTransform transform = MlcTransform::Copy;
  std::string rule;  // MLC source of this mapping ("qwen2_loader.py: c_attn = concat(q,k,v)")
};

enum class MlcParamKind { Weight, QWeight, QScale };

// One stored tensor (a record of tensor-cache.json).
struct MlcParam {
  std::string name;   // "model.layers.0.self_attn.c_attn.q_weight"
  Shape shape;        // q_weight (N, 4*ceil(K/32)); q_scale (N, ceil(K/32)); else the source shape
  std::string dtype;  // TVM dtype string: "uint32", "float16", "float32"
  MlcParamKind kind = MlcParamKind::Weight;
  size_t source = 0;  // index into MlcLayout::sources
};

struct MlcLayout {
  std::string family;  // ModelConfig::model_type
  quant::Scheme scheme = quant::Scheme::Q4F16_1;
  std::vector<MlcSource> sources;       // in HF tensor-table order (a fused source sits at its first part)
  std::vector<MlcParam> params;         // per source: .weight, or .q_weight then .q_scale
  std::string model_file, loader_file;  // the MLC files the rules come from (for messages and docs)

  const MlcParam* find(const std::string& name) const;
};

// The layout for `config` under `scheme`. Throws slm::Error when MLC cannot represent the model — an HF
// tensor no MLC parameter consumes (e.g. Llama with attention_bias: MLC's Llama has no biases) — naming
// the tensor and the MLC file, rather than dropping weights silently.
MlcLayout mlc_layout(const ModelConfig& config, quant::Scheme scheme);

// TVM dtype string of a scheme's model dtype ("float16" / "float32").
std::string mlc_model_dtype(quant::Scheme scheme);

// MLC's write order of the sources: HuggingFaceLoader._loading_order visits the checkpoint's tensors
// file by file (`hf_names_in_file_order`) and emits each MLC parameter at the first HF tensor it uses.
// Sources none of whose tensors are listed come last, in table order.
std::vector<size_t> mlc_loading_order(const MlcLayout& layout, const std::vector<std::string>& hf_names_in_file_order);

// The HF tensor names of a checkpoint directory in the order MLC's loader visits them: for a single
// .safetensors file, sorted (safetensors' safe_open.keys() sorts); for model.safetensors.index.json, the
// weight_map's order grouped by file in order of first appearance.
std::vector<std::string> hf_file_order(const std::string& model_dir);

}  // namespace slm::codegen
