// ChatTemplate: loads a model's chat template and renders conversations with the variables
// transformers passes (render_jinja_template in transformers/utils/chat_template_utils.py:
// messages, tools=None, documents=None, add_generation_prompt, the special tokens, then the
// caller's extra kwargs).
#include "models/chat/template.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "models/chat/jinja_ast.h"
#include "models/chat/jinja_eval.h"
#include "models/chat/jinja_json.h"
#include "tensor/error.h"

namespace slm {

namespace fs = std::filesystem;

namespace {

// The tokens transformers 5 passes to templates (tokenizer.special_tokens_map: the set ones of
// these; additional_special_tokens are not among them).
const char* const kSpecialTokenKeys[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                         "pad_token", "cls_token", "mask_token"};

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  SLM_CHECK(in, "[chat_template] " + p.string() + ": cannot open the file — check the path and permissions");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

nlohmann::ordered_json read_json(const fs::path& p) {
  try {
    return nlohmann::ordered_json::parse(read_file(p));
  } catch (const nlohmann::json::exception& e) {
    throw Error("[chat_template] " + p.string() + ": not valid JSON (" + e.what() + ") — the file is damaged");
  }
}

// A token is a string or an AddedToken dict {"content": ...}; null means unset.
nlohmann::ordered_json token_string(const nlohmann::ordered_json& t, const std::string& key) {
  if (t.is_string() || t.is_null()) return t;
  if (t.is_object() && t.contains("content") && t["content"].is_string()) return t["content"];
  if (t.is_array()) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const auto& x : t) out.push_back(token_string(x, key));
    return out;
  }
  throw Error("[chat_template] special token '" + key + "' is " + t.dump() +
              " — expected a string or {\"content\": ...}");
}

std::string pick_template(const nlohmann::ordered_json& ct, const fs::path& where, const std::string& name) {
  if (ct.is_string()) {
    SLM_CHECK(name.empty() || name == "default",
              "[chat_template] " + where.string() + " has a single chat template; there is none named '" + name + "'");
    return ct.get<std::string>();
  }
  SLM_CHECK(ct.is_array(), "[chat_template] " + where.string() + ": 'chat_template' is " + std::string(ct.type_name()) +
                               " — expected a string or a list of {name, template}");
  const std::string want = name.empty() ? "default" : name;
  std::string names;
  for (const auto& t : ct) {
    SLM_CHECK(t.is_object() && t.contains("name") && t.contains("template") && t["template"].is_string(),
              "[chat_template] " + where.string() + ": a 'chat_template' entry lacks name/template: " + t.dump());
    if (t["name"] == want) return t["template"].get<std::string>();
    names += (names.empty() ? "" : ", ") + t["name"].dump();
  }
  throw Error("[chat_template] " + where.string() + " has no chat template named '" + want + "' (available: " + names +
              ") — pass the name of one of them");
}

}  // namespace

ChatTemplate ChatTemplate::from_model_dir(const std::string& dir, const std::string& name) {
  const fs::path d(dir);
  const fs::path cfg_path = d / "tokenizer_config.json";
  nlohmann::ordered_json cfg = nlohmann::ordered_json::object();
  if (fs::exists(cfg_path)) cfg = read_json(cfg_path);
  nlohmann::json specials = nlohmann::json::object();
  for (const char* k : kSpecialTokenKeys)
    if (cfg.is_object() && cfg.contains(k)) specials[k] = token_string(cfg[k], k);

  std::string source;
  const fs::path jinja_path = d / "chat_template.jinja";
  const fs::path named_path = d / "additional_chat_templates" / (name + ".jinja");
  if (!name.empty() && name != "default" && fs::exists(named_path)) {
    source = read_file(named_path);
  } else if ((name.empty() || name == "default") && fs::exists(jinja_path)) {
    source = read_file(jinja_path);
  } else if (cfg.is_object() && cfg.contains("chat_template") && !cfg["chat_template"].is_null()) {
    source = pick_template(cfg["chat_template"], cfg_path, name);
  } else if (fs::exists(d / "chat_template.json")) {
    const auto j = read_json(d / "chat_template.json");
    SLM_CHECK(j.is_object() && j.contains("chat_template"),
              "[chat_template] " + (d / "chat_template.json").string() + " has no 'chat_template' key");
    source = pick_template(j["chat_template"], d / "chat_template.json", name);
  } else {
    throw Error("[chat_template] " + dir +
                ": no chat template (looked for chat_template.jinja, 'chat_template' in tokenizer_config.json, "
                "chat_template.json) — a base model has none; pass a template to ChatTemplate(source, tokens)");
  }
  return ChatTemplate(std::move(source), std::move(specials));
}

ChatTemplate::ChatTemplate(std::string source, nlohmann::json special_tokens) : source_(std::move(source)) {
  SLM_CHECK(special_tokens.is_object(),
            "[chat_template] special tokens must be a JSON object, got " + std::string(special_tokens.type_name()));
  special_tokens_ = nlohmann::ordered_json::object();
  for (auto it = special_tokens.begin(); it != special_tokens.end(); ++it) {
    const auto v = token_string(nlohmann::ordered_json(it.value()), it.key());
    if (!v.is_null()) special_tokens_[it.key()] = v;
  }
  tpl_ = jinja::parse_template(source_);
}

std::string ChatTemplate::render(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                                 const nlohmann::ordered_json& extra) const {
  nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
  for (const auto& m : messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
  return render_json(msgs, add_generation_prompt, extra);
}

std::string ChatTemplate::render_json(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                      const nlohmann::ordered_json& extra) const {
  SLM_CHECK(messages.is_array(),
            "[chat_template] messages must be a JSON array, got " + std::string(messages.type_name()));
  // apply_chat_template refuses an empty conversation before rendering; so do we.
  SLM_CHECK(!messages.empty(),
            "[chat_template] cannot apply a chat template to an empty conversation — "
            "provide at least one message");
  SLM_CHECK(extra.is_object() || extra.is_null(),
            "[chat_template] extra template variables must be a JSON object, got " + std::string(extra.type_name()));
  jinja::Dict ctx;
  try {
    ctx.set(jinja::Value("messages"), jinja::from_json(messages));
    ctx.set(jinja::Value("tools"), jinja::Value::none());
    ctx.set(jinja::Value("documents"), jinja::Value::none());
    ctx.set(jinja::Value("add_generation_prompt"), jinja::Value(add_generation_prompt));
    for (auto it = special_tokens_.begin(); it != special_tokens_.end(); ++it)
      ctx.set(jinja::Value(it.key()), jinja::from_json(it.value()));
    if (extra.is_object())
      for (auto it = extra.begin(); it != extra.end(); ++it)
        ctx.set(jinja::Value(it.key()), jinja::from_json(it.value()));
  } catch (const jinja::OpError& e) {
    throw jinja::TemplateError(e.kind, 0, 0, std::string("template variables: ") + e.what());
  }
  jinja::RenderOptions opt;
  opt.now = now_;
  try {
    return jinja::render(*tpl_, ctx, opt);
  } catch (const jinja::OpError& e) {  // raised outside any expression (should not happen)
    throw jinja::TemplateError(e.kind, 0, 0, e.what());
  }
}

}  // namespace slm
