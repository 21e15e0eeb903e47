// Conversation templates for mlc-chat-config.json's `conv_template`, kept as data: one JSON file per MLC
// template in data/conv_templates/<name>.json, transcribed from MLC-LLM's registry (each file's "_source"
// names the Python file and commit). Keys starting with "_" are slm's annotations — the source, and the
// token strings behind stop_token_ids / system_prefix_token_ids, so that the ids can be checked against the
// model's own tokenizer — and are removed when the template is written. Not a renderer (WebLLM renders).
// Reference: mlc-ai/mlc-llm @ 79d603f python/mlc_llm/protocol/conversation_protocol.py (Conversation),
// conversation_template/*.py; mlc-ai/web-llm @ c51c9c0 src/config.ts (ConvTemplateConfig).
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "codegen/config_normalize.h"
#include "models/config.h"
#include "models/tokenizer/tokenizer.h"

namespace slm::codegen {

// slm's data directory (holding conv_templates/): $SLM_DATA_DIR when set, else the source tree's data/
// (compile definition SLM_DATA_DIR), else data/, ../data or ../share/slm/data beside the running
// executable. Throws naming every place it looked.
std::string data_dir();

// data/conv_templates/<name>.json, checked with check_conv_template. Throws naming the file.
nlohmann::json load_conv_template(const std::string& name);
std::vector<std::string> conv_template_names();  // sorted

// The schema WebLLM's ConvTemplateConfig and MLC's Conversation share: required system_template,
// system_message, roles {user, assistant[, tool]}, seps (1 or 2), stop_str, stop_token_ids; optional
// role_templates, role_content_sep, role_empty_sep, system_prefix_token_ids, add_role_after_system_message,
// name, messages, strip_reasoning_in_history, function_string, use_function_calling. Other keys (not
// starting with "_") are errors naming `origin`.
void check_conv_template(const nlohmann::json& t, const std::string& origin);

// The model's chat template text (chat_template.jinja, tokenizer_config.json "chat_template", or
// chat_template.json); "" when it has none.
std::string read_chat_template_source(const std::string& model_dir);

struct ConvTemplateChoice {
  std::string name;
  std::string reason;
};
// MLC's template for the model: recognised from its chat template's markers (<|start_header_id|>,
// <|im_start|>, <start_of_turn>, <|user|>…<|end|>, [INST]) and model_type, else the family's default.
ConvTemplateChoice choose_conv_template(const ModelConfig& cfg, const std::string& chat_template_source,
                                        const Tokenizer* tok);

// The template as mlc-chat-config.json holds it (MLC's Conversation dumped: every key, null prefix when
// none). With a tokenizer, each stop / prefix id is re-derived from its token string: an id that differs
// is rewritten, a token the vocabulary lacks is dropped, and `eos_ids` missing from stop_token_ids are
// added (WebLLM stops only on stop_token_ids) — each recorded in `report`. Without one, MLC's ids are
// kept verbatim (and that is recorded). Throws when none of the template's stop tokens is in the tokenizer.
nlohmann::json finalize_conv_template(const nlohmann::json& t, const Tokenizer* tok,
                                      const std::vector<int64_t>& eos_ids, std::vector<ConfigChange>* report);

}  // namespace slm::codegen
