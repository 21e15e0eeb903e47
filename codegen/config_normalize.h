// The `model_config` section of mlc-chat-config.json: MLC-LLM's config dataclass for the model's family
// (LlamaConfig, QWen2Config, Qwen3Config, Phi3Config, GemmaConfig, Gemma2Config, Gemma3Config), filled the
// way MLC's gen_config fills it — ConfigBase.from_dict, __post_init__, ModelConfigOverride.apply (which runs
// __post_init__ a second time), asdict — but from slm's ModelConfig, so that the legacy config.json form and
// the transformers-5 form (rope_parameters, per-layer-type rope, layer_types, dtype) give the same section.
// MLC v0.19 reads only the legacy form; this is what the seed's normalize_config.py patched, done properly.
// Every HF field that does not land verbatim in an MLC field is reported: dropped (MLC has no such field,
// with what that means for a library MLC compiles), rewritten (renamed or moved, e.g. rope_parameters →
// position_embedding_base), added (MLC computes it) or kept (written, but MLC cannot honour it). Null HF
// values carry nothing and are not reported. Not here: the rest of the chat config (chat_config.h).
// Reference: mlc-ai/mlc-llm @ 79d603f (field sets; v0.19.0 reads the same fields, extra ones go to its
// kwargs) python/mlc_llm/model/{llama,qwen2,qwen3,phi3,gemma,gemma2,gemma3}/*_model.py,
// support/config.py (ConfigBase, ConfigOverrideBase), interface/gen_config.py, cli/gen_config.py.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/config.h"

namespace slm::codegen {

// One change between the model's files and mlc-chat-config.json.
struct ConfigChange {
  std::string field;      // the HF key ("rope_parameters", "torch_dtype"), or the written key for additions
                          // ("model_config.prefill_chunk_size", "temperature", "conv_template.stop_token_ids")
  std::string action;     // "dropped" | "rewritten" | "added" | "kept"
  std::string old_value;  // compact JSON as read; "" when there was none
  std::string new_value;  // compact JSON as written ("model_config.X = v" when the key changed); "" when dropped
  std::string reason;
};

// MLC's gen_config overrides (ModelConfigOverride); 0 = MLC's default for the family.
struct MlcOverrides {
  int64_t context_window_size = 0;
  int64_t prefill_chunk_size = 0;
  int64_t max_batch_size = 128;  // `mlc_llm gen_config --max-batch-size` default
};

struct MlcModelConfig {
  nlohmann::json model_config;  // the dataclass as a dict (asdict minus kwargs)
  // The chat config's top-level copies: getattr(model_config, name, default) as gen_config reads them.
  int64_t context_window_size = -1;
  int64_t sliding_window_size = -1;
  int64_t prefill_chunk_size = 0;
  int64_t attention_sink_size = -1;
  int64_t tensor_parallel_shards = 1;
  int64_t pipeline_parallel_stages = 1;
};

// `hf_config` is the config.json object `cfg` was parsed from (either form).
MlcModelConfig normalize_model_config(const nlohmann::json& hf_config, const ModelConfig& cfg,
                                      const MlcOverrides& overrides, std::vector<ConfigChange>* report);

// The changes as an aligned text table (field | action | old | new | reason); values longer than
// `value_width` characters are shortened with "…".
std::string format_config_changes(const std::vector<ConfigChange>& changes, size_t value_width = 40);

}  // namespace slm::codegen
