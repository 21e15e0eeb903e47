// mlc-chat-config.json for an export: what MLC-LLM's `mlc_llm gen_config` writes, built in C++ from the
// Hugging Face directory. Fields (dumped by MLC in this order; nlohmann::json sorts keys, which no reader
// minds): version "0.1.0", model_type, quantization, model_config (config_normalize.h), vocab_size,
// context_window_size, sliding_window_size, prefill_chunk_size, attention_sink_size, tensor_parallel_shards,
// pipeline_parallel_stages, active_vocab_size, temperature, presence_penalty, frequency_penalty,
// repetition_penalty, top_p, tokenizer_files, tokenizer_info, conv_template (conv_template.h), pad/bos/eos
// token ids, model_task "chat", embedding_metadata null.
// Sampling defaults and token ids follow gen_config: generation_config.json, then config.json, each only
// when still unset; then (slm's addition, reported) the tokenizer's special tokens for bos/eos/pad; then
// MLC's system defaults (pad 0, bos 1, eos 2, temperature 1, penalties 0 / 1, top_p 1).
// Deliberate differences from MLC, each reported: the per-layer sliding window of Gemma-3 is not written at
// the top level (WebLLM accepts only one of context_window_size / sliding_window_size), a context window past
// max_position_embeddings is clamped, and conv_template ids are checked against the model's tokenizer.
// Not here: copying the tokenizer files (the export does that, from tokenizer_files).
// Reference: mlc-ai/mlc-llm @ 79d603f python/mlc_llm/interface/gen_config.py, protocol/mlc_chat_config.py,
// cpp/tokenizers/tokenizers.cc (DetectTokenizerInfo); mlc-ai/web-llm @ c51c9c0 src/config.ts, src/llm_chat.ts.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "codegen/config_normalize.h"
#include "models/config.h"

namespace slm::codegen {

struct ChatConfigOptions {
  MlcOverrides overrides;      // context window, prefill chunk, max batch (MLC's gen_config flags)
  std::string conv_template;   // MLC template name; "" = chosen from the chat template / family
};

// MLC's tokenizer files, in gen_config's order: those of them present in hf_dir go into tokenizer_files.
extern const std::vector<std::string> kTokenizerFiles;

// `quant`: q4f16_1 | q4f32_1 | q0f16 | q0f32. `report` (may be null) receives every field dropped,
// rewritten or added relative to the model's files, with the reason.
nlohmann::json make_mlc_chat_config(const std::string& hf_dir, const ModelConfig& cfg, const std::string& quant,
                                    std::vector<ConfigChange>* report, const ChatConfigOptions& options = {});

// MLC's tokenizer_info for a tokenizer.json: token_postproc_method (byte_level | byte_fallback),
// prepend_space_in_encode, strip_space_in_decode; MLC's defaults when the file is absent.
nlohmann::json detect_tokenizer_info(const std::string& hf_dir);
nlohmann::json tokenizer_info_of(const nlohmann::json& tokenizer_json);  // null = no tokenizer.json

}  // namespace slm::codegen
