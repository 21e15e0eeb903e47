// Conversation templates as data (see conv_template.h).
#include "codegen/conv_template.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "tensor/error.h"

namespace slm::codegen {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw Error("[conv-template] cannot read " + p.string());
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

json read_json(const fs::path& p) {
  try {
    return json::parse(read_file(p));
  } catch (const json::exception& e) {
    throw Error("[conv-template] " + p.string() + ": not valid JSON (" + e.what() + ")");
  }
}

fs::path exe_dir() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : p.parent_path();
}

bool is_int_list(const json& v) {
  return v.is_array() && std::all_of(v.begin(), v.end(), [](const json& e) { return e.is_number_integer(); });
}
bool is_string_list(const json& v) {
  return v.is_array() && std::all_of(v.begin(), v.end(), [](const json& e) { return e.is_string(); });
}
bool is_string_map(const json& v) {
  if (!v.is_object()) return false;
  for (auto it = v.begin(); it != v.end(); ++it)
    if (!it.value().is_string()) return false;
  return true;
}

std::string dump(const json& v) { return v.dump(); }

bool has_token(const Tokenizer* tok, const std::string& s) { return tok && tok->token_to_id(s).has_value(); }

// Re-derives `ids` (MLC's) from `names` (the token strings) with the model's tokenizer.
json resolve_ids(const json& ids, const json& names, const Tokenizer& tok, const std::string& field,
                 std::vector<ConfigChange>& rows) {
  json out = json::array();
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string name = names[i].get<std::string>();
    const int64_t mlc = ids[i].get<int64_t>();
    std::optional<int32_t> id = tok.token_to_id(name);
    if (!id) {
      rows.push_back({field, "dropped", std::to_string(mlc), "",
                      "this tokenizer has no '" + name + "' (MLC's id " + std::to_string(mlc) + " is that token in "
                      "the vocabulary the template was written for)"});
      continue;
    }
    if (*id != mlc)
      rows.push_back({field, "rewritten", std::to_string(mlc), std::to_string(*id),
                      "'" + name + "' is id " + std::to_string(*id) + " in this tokenizer"});
    if (std::find(out.begin(), out.end(), json(*id)) == out.end()) out.push_back(*id);
  }
  return out;
}

}  // namespace

std::string data_dir() {
  std::vector<fs::path> tried;
  auto ok = [](const fs::path& p) { return !p.empty() && fs::is_directory(p / "conv_templates"); };
  if (const char* env = std::getenv("SLM_DATA_DIR"); env && *env) {
    if (ok(env)) return env;
    throw Error(std::string("[data] SLM_DATA_DIR=") + env + " has no conv_templates/ folder — point it at slm's "
                "data/ directory or unset it");
  }
#ifdef SLM_DATA_DIR
  tried.push_back(SLM_DATA_DIR);
#endif
  const fs::path exe = exe_dir();
  if (!exe.empty()) {
    tried.push_back(exe / "data");
    tried.push_back(exe / ".." / "data");
    tried.push_back(exe / ".." / "share" / "slm" / "data");
  }
  std::string list;
  for (const auto& p : tried) {
    if (ok(p)) return p.lexically_normal().string();
    list += (list.empty() ? "" : ", ") + p.string();
  }
  throw Error("[data] slm's data directory (with conv_templates/) was not found (looked in " + list +
              ") — set SLM_DATA_DIR to the data/ folder of the slm source tree");
}

void check_conv_template(const json& t, const std::string& origin) {
  auto fail = [&](const std::string& what) { throw Error("[conv-template] " + origin + ": " + what); };
  if (!t.is_object()) fail("must be a JSON object");
  static const std::set<std::string> kKnown = {
      "name", "system_template", "system_message", "system_prefix_token_ids", "add_role_after_system_message",
      "roles", "role_templates", "messages", "seps", "role_content_sep", "role_empty_sep", "stop_str",
      "stop_token_ids", "strip_reasoning_in_history", "function_string", "use_function_calling"};
  for (auto it = t.begin(); it != t.end(); ++it)
    if (!kKnown.count(it.key()) && it.key().rfind('_', 0) != 0)
      fail("'" + it.key() + "' is not a field of WebLLM's ConvTemplateConfig or MLC's Conversation");
  for (const char* k : {"system_template", "system_message"})
    if (!t.contains(k) || !t[k].is_string()) fail(std::string("'") + k + "' must be a string");
  if (!t.contains("roles") || !is_string_map(t["roles"]) || !t["roles"].contains("user") ||
      !t["roles"].contains("assistant"))
    fail("'roles' must map 'user' and 'assistant' (and optionally 'tool') to strings");
  for (auto it = t["roles"].begin(); it != t["roles"].end(); ++it)
    if (it.key() != "user" && it.key() != "assistant" && it.key() != "tool") fail("role '" + it.key() + "' is unknown");
  if (!t.contains("seps") || !is_string_list(t["seps"]) || t["seps"].empty() || t["seps"].size() > 2)
    fail("'seps' must be a list of 1 or 2 strings");
  if (!t.contains("stop_str") || !is_string_list(t["stop_str"])) fail("'stop_str' must be a list of strings");
  if (!t.contains("stop_token_ids") || !is_int_list(t["stop_token_ids"])) fail("'stop_token_ids' must be a list of ints");
  if (t.contains("role_templates") && !is_string_map(t["role_templates"])) fail("'role_templates' must map roles to strings");
  for (const char* k : {"role_content_sep", "role_empty_sep", "function_string", "name"})
    if (t.contains(k) && !t[k].is_string()) fail(std::string("'") + k + "' must be a string");
  for (const char* k : {"add_role_after_system_message", "strip_reasoning_in_history", "use_function_calling"})
    if (t.contains(k) && !t[k].is_boolean()) fail(std::string("'") + k + "' must be true or false");
  if (t.contains("system_prefix_token_ids") && !t["system_prefix_token_ids"].is_null() &&
      !is_int_list(t["system_prefix_token_ids"]))
    fail("'system_prefix_token_ids' must be a list of ints or null");
  if (t.contains("messages") && !(t["messages"].is_array() && t["messages"].empty()))
    fail("'messages' must be [] in a template");
  auto parallel = [&](const char* names, const char* ids) {
    if (!t.contains(names)) return;
    if (!is_string_list(t[names]) || !t.contains(ids) || !t[ids].is_array() || t[names].size() != t[ids].size())
      fail(std::string("'") + names + "' must list one token string per entry of '" + ids + "'");
  };
  parallel("_stop_token_names", "stop_token_ids");
  parallel("_system_prefix_token_names", "system_prefix_token_ids");
}

json load_conv_template(const std::string& name) {
  const fs::path p = fs::path(data_dir()) / "conv_templates" / (name + ".json");
  if (name.empty() || name.find('/') != std::string::npos || !fs::exists(p)) {
    std::string known;
    for (const auto& n : conv_template_names()) known += (known.empty() ? "" : ", ") + n;
    throw Error("[conv-template] no template '" + name + "' in " + p.parent_path().string() + " (known: " + known + ")");
  }
  json t = read_json(p);
  check_conv_template(t, p.string());
  if (t.value("name", name) != name) throw Error("[conv-template] " + p.string() + ": 'name' differs from the file name");
  return t;
}

std::vector<std::string> conv_template_names() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(fs::path(data_dir()) / "conv_templates"))
    if (e.path().extension() == ".json") out.push_back(e.path().stem().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string read_chat_template_source(const std::string& model_dir) {
  const fs::path d(model_dir);
  if (fs::exists(d / "chat_template.jinja")) return read_file(d / "chat_template.jinja");
  auto pick = [](const json& v) -> std::string {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_array())
      for (const auto& e : v)
        if (e.is_object() && e.value("name", "") == "default" && e.contains("template") && e["template"].is_string())
          return e["template"].get<std::string>();
    return "";
  };
  if (fs::exists(d / "tokenizer_config.json")) {
    json cfg = read_json(d / "tokenizer_config.json");
    if (cfg.is_object() && cfg.contains("chat_template")) return pick(cfg["chat_template"]);
  }
  if (fs::exists(d / "chat_template.json")) {
    json j = read_json(d / "chat_template.json");
    if (j.is_object() && j.contains("chat_template")) return pick(j["chat_template"]);
  }
  return "";
}

ConvTemplateChoice choose_conv_template(const ModelConfig& cfg, const std::string& src, const Tokenizer* tok) {
  const std::string& mt = cfg.model_type;
  auto has = [&](const char* s) { return src.find(s) != std::string::npos; };
  const bool phi4 = cfg.vocab_size >= 200000;  // Phi-4-mini's o200k vocabulary (<|end|> = 200020)
  if (!src.empty()) {
    if (has("<|start_header_id|>")) {
      const bool v31 = tok ? has_token(tok, "<|eom_id|>") : (has("<|eom_id|>") || has("ipython"));
      return {v31 ? "llama-3_1" : "llama-3",
              v31 ? "chat template uses <|start_header_id|> and the vocabulary has <|eom_id|> (Llama 3.1+)"
                  : "chat template uses <|start_header_id|> (Llama 3)"};
    }
    if (has("<start_of_turn>"))
      return {mt == "gemma3_text" ? "gemma3_instruction" : "gemma_instruction",
              "chat template uses <start_of_turn> (model_type " + mt + ")"};
    if (has("<|im_start|>")) {
      std::string n = mt == "qwen3" ? "qwen3" : mt == "qwen2" ? "qwen2" : "chatml";
      return {n, "chat template uses <|im_start|> (ChatML; model_type " + mt + ")"};
    }
    if (has("<|user|>") && has("<|assistant|>") && has("<|end|>"))
      return {phi4 ? "phi-4" : "phi-3", std::string("chat template uses <|user|>/<|assistant|>/<|end|>") +
                                            (phi4 ? " with a 200k vocabulary (Phi-4-mini)" : " (Phi-3)")};
    if (has("[INST]")) return {"llama-2", "chat template uses [INST] (Llama 2)"};
  }
  std::string why = src.empty() ? "the model has no chat template; " : "no MLC template matches its chat template; ";
  if (mt == "llama") return {"llama-3", why + "family default for llama"};
  if (mt == "qwen2") return {"qwen2", why + "family default for qwen2"};
  if (mt == "qwen3") return {"qwen3", why + "family default for qwen3"};
  if (mt == "phi3") return {phi4 ? "phi-4" : "phi-3", why + "family default for phi3"};
  if (mt == "gemma" || mt == "gemma2") return {"gemma_instruction", why + "family default for " + mt};
  if (mt == "gemma3_text") return {"gemma3_instruction", why + "family default for gemma3_text"};
  throw Error("[conv-template] no conversation template for model_type '" + mt + "'");
}

json finalize_conv_template(const json& t, const Tokenizer* tok, const std::vector<int64_t>& eos_ids,
                            std::vector<ConfigChange>* report) {
  check_conv_template(t, "conv_template");
  std::vector<ConfigChange> rows;
  const json kRoleTemplates = {{"user", "{user_message}"}, {"assistant", "{assistant_message}"}, {"tool", "{tool_message}"}};
  json out = json::object();
  out["name"] = t.value("name", json(nullptr));
  out["system_template"] = t["system_template"];
  out["system_message"] = t["system_message"];
  out["system_prefix_token_ids"] = t.value("system_prefix_token_ids", json(nullptr));
  out["add_role_after_system_message"] = t.value("add_role_after_system_message", true);
  out["roles"] = t["roles"];
  json rt = kRoleTemplates;
  if (t.contains("role_templates")) rt.update(t["role_templates"]);
  out["role_templates"] = rt;
  out["messages"] = json::array();
  out["seps"] = t["seps"];
  out["role_content_sep"] = t.value("role_content_sep", "");
  out["role_empty_sep"] = t.value("role_empty_sep", "");
  out["stop_str"] = t["stop_str"];
  out["stop_token_ids"] = t["stop_token_ids"];
  out["strip_reasoning_in_history"] = t.value("strip_reasoning_in_history", false);
  out["function_string"] = t.value("function_string", "");
  out["use_function_calling"] = t.value("use_function_calling", false);
  if (!tok) {
    rows.push_back({"conv_template.stop_token_ids", "kept", "", dump(out["stop_token_ids"]),
                    "no tokenizer.json to check MLC's ids against: written as MLC registers them"});
  } else {
    if (t.contains("_stop_token_names"))
      out["stop_token_ids"] = resolve_ids(t["stop_token_ids"], t["_stop_token_names"], *tok,
                                          "conv_template.stop_token_ids", rows);
    if (t.contains("_system_prefix_token_names") && out["system_prefix_token_ids"].is_array()) {
      json p = resolve_ids(t["system_prefix_token_ids"], t["_system_prefix_token_names"], *tok,
                           "conv_template.system_prefix_token_ids", rows);
      out["system_prefix_token_ids"] = p.empty() ? json(nullptr) : p;
    }
    if (out["stop_token_ids"].empty())
      throw Error("[conv-template] " + out["name"].dump() + ": none of its stop tokens (" +
                  t.value("_stop_token_names", json::array()).dump() + ") is in this tokenizer — the template is "
                  "for another vocabulary; pick one that fits the model's chat format (data/conv_templates/)");
    for (int64_t e : eos_ids) {
      json& s = out["stop_token_ids"];
      if (e < 0 || e >= tok->vocab_size() || std::find(s.begin(), s.end(), json(e)) != s.end()) continue;
      s.push_back(e);
      rows.push_back({"conv_template.stop_token_ids", "added", "", std::to_string(e),
                      "eos id " + std::to_string(e) + " ('" + tok->id_to_token(int32_t(e)) + "') of this model: "
                      "WebLLM stops only on stop_token_ids"});
    }
  }
  if (report) report->insert(report->end(), rows.begin(), rows.end());
  return out;
}

}  // namespace slm::codegen
