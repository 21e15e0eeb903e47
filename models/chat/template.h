// Chat templates: renders a conversation exactly as transformers'
// `tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=...)` does, by
// interpreting the model's Jinja template (tokenizer_config.json `chat_template`, or
// chat_template.jinja) with slm's own Jinja interpreter (models/chat/jinja_*). Not a general
// Jinja engine: no template inheritance, includes or autoescaping; anything unsupported is an
// slm::Error naming the construct and its line/column, never a silently different prompt.
// Supported subset and known differences: docs/chat_templates.md.
#pragma once
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace slm {

namespace jinja {
struct Template;
}

struct ChatMessage {
  std::string role, content;
};

class ChatTemplate {
 public:
  // Reads <dir>/chat_template.jinja if present, else tokenizer_config.json's `chat_template` (a
  // string, or a list of {name, template} of which "default" is used), else chat_template.json;
  // the special tokens (bos_token, eos_token, ... as strings or {"content": ...}) come from
  // tokenizer_config.json. `name` picks a named template instead of "default"
  // (additional_chat_templates/<name>.jinja or the list entry).
  static ChatTemplate from_model_dir(const std::string& dir, const std::string& name = "");

  // `special_tokens`: {"bos_token": "<s>", ...}; null entries are left undefined, as
  // transformers leaves unset tokens out of the template's variables.
  ChatTemplate(std::string source, nlohmann::json special_tokens = nlohmann::json::object());

  // Renders role/content messages. `extra` adds template variables (enable_thinking, tools,
  // date_string, ...) and overrides special tokens, as apply_chat_template's kwargs do. It is an
  // ordered_json so that tool schemas keep their key order (templates print them with tojson);
  // a plain nlohmann::json converts implicitly, with its keys sorted.
  std::string render(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                     const nlohmann::ordered_json& extra = nlohmann::ordered_json::object()) const;
  // Renders messages given as JSON (tool_calls, reasoning_content, multimodal content lists...).
  // ordered_json keeps the caller's key order, which tojson and dict printing show.
  std::string render_json(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                          const nlohmann::ordered_json& extra = nlohmann::ordered_json::object()) const;

  const std::string& source() const { return source_; }
  const nlohmann::ordered_json& special_tokens() const { return special_tokens_; }
  // Fixes the clock that strftime_now() reads (Llama 3.x templates print today's date); the
  // system's local time is used when unset.
  void set_now(const std::tm& now) { now_ = now; }

 private:
  std::string source_;
  nlohmann::ordered_json special_tokens_;
  std::shared_ptr<const jinja::Template> tpl_;
  std::optional<std::tm> now_;
};

}  // namespace slm
