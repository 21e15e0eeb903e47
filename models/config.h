// ModelConfig: one normalised view of a Hugging Face config.json, read from either form —
// the legacy hub form (rope_theta, rope_scaling, torch_dtype, use_sliding_window, sliding_window_pattern…)
// or the transformers-5 form (rope_parameters, per-layer-type rope for Gemma-3, dtype, layer_types).
// Field names are HF's verbatim. Anything that changes the math and is not implemented is an error
// naming the field and value; never silently ignored.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/ops.h"

namespace slm {

enum class LayerType { FullAttention, SlidingAttention };

struct ModelConfig {
  std::string model_type;      // llama | qwen2 | qwen3 | phi3 | gemma | gemma2 | gemma3_text
  std::string architecture;    // architectures[0] when present
  int64_t vocab_size = 0;      // V
  int64_t hidden_size = 0;     // C
  int64_t intermediate_size = 0;  // F
  int64_t num_hidden_layers = 0;  // L
  int64_t num_attention_heads = 0;   // H
  int64_t num_key_value_heads = 0;   // Hkv
  int64_t head_dim = 0;              // D
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  std::string hidden_act = "silu";
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v (and o for llama) bias
  bool mlp_bias = false;        // llama only
  DType dtype = DType::F32;     // checkpoint dtype (dtype / torch_dtype)

  std::vector<LayerType> layer_types;  // per layer, length L
  int64_t sliding_window = 0;          // 0 = none
  // Rope per layer type; families without per-type rope have the same params for both.
  RopeParams rope_full, rope_sliding;

  double query_pre_attn_scalar = 0;   // gemma2/3: scaling = query_pre_attn_scalar^-0.5
  float attn_logit_softcapping = 0;   // 0 = none
  float final_logit_softcapping = 0;  // 0 = none

  std::vector<int64_t> eos_token_ids;  // from config.json (generation_config.json may override)
  int64_t bos_token_id = -1, pad_token_id = -1;

  // Fields read from the file and what we did with them, for `slm info` and the export report.
  std::vector<std::string> notes;

  const RopeParams& rope_for_layer(int64_t layer) const {
    return layer_types[size_t(layer)] == LayerType::SlidingAttention ? rope_sliding : rope_full;
  }
};

// Parses config.json text. `origin` names the file in error messages.
ModelConfig parse_config(const std::string& json_text, const std::string& origin = "config.json");
ModelConfig load_config(const std::string& model_dir);  // reads MODEL_DIR/config.json

// generation_config.json eos ids when present (overrides config.json's), else the config's.
std::vector<int64_t> load_eos_ids(const std::string& model_dir, const ModelConfig& cfg);

}  // namespace slm
