// LoraConfig <-> adapter_config.json, and target resolution against a tensor table (see adapter.h).
// Reference: peft src/peft/tuners/lora/config.py (fields, defaults, __post_init__ checks),
// src/peft/config.py (save_pretrained: json.dumps(indent=2, sort_keys=True)), tuners_utils.py
// (check_target_module_exists, _maybe_include_all_linear_layers) and utils/other.py (get_pattern_key).
#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "lora/adapter.h"
#include "tensor/error.h"

namespace slm {
namespace {

using ojson = nlohmann::ordered_json;  // keeps rank_pattern / alpha_pattern in file order (PEFT: first match wins)

[[noreturn]] void cfg_fail(const std::string& origin, const std::string& msg) {
  throw Error("[lora] " + origin + ": " + msg);
}

bool is_null_or_empty(const ojson& v) {
  return v.is_null() || ((v.is_array() || v.is_object() || v.is_string()) && v.empty());
}

LoraTargets parse_targets(const ojson& v, const std::string& field, const std::string& origin) {
  LoraTargets t;
  if (v.is_null()) return t;
  if (v.is_string()) {
    std::string s = v.get<std::string>();
    std::string lower = s;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    if (lower == "all-linear") {
      t.all_linear = true;
    } else {
      t.is_regex = true;
      t.regex = s;
    }
    return t;
  }
  if (!v.is_array()) cfg_fail(origin, "'" + field + "' must be a list of module names, a regex string or null");
  for (const auto& e : v) {
    if (!e.is_string()) cfg_fail(origin, "'" + field + "' must hold strings, found " + e.dump());
    t.names.push_back(e.get<std::string>());
  }
  return t;
}

template <class T>
std::vector<std::pair<std::string, T>> parse_pattern(const ojson& v, const std::string& field,
                                                     const std::string& origin, bool integer) {
  std::vector<std::pair<std::string, T>> out;
  if (v.is_null()) return out;
  if (!v.is_object()) cfg_fail(origin, "'" + field + "' must be an object {module pattern: value}");
  for (auto it = v.begin(); it != v.end(); ++it) {
    const ojson& x = it.value();
    if (!x.is_number() || (integer && !x.is_number_integer()))
      cfg_fail(origin, "'" + field + "' value for '" + it.key() + "' must be " + (integer ? "an integer" : "a number") +
                           ", found " + x.dump());
    out.emplace_back(it.key(), x.get<T>());
  }
  return out;
}

// A field that must be absent, null, false, empty or equal to `allowed` (as JSON) — anything else changes the
// math in a way slm does not implement.
void require_default(const ojson& j, const std::string& field, const std::string& what, const std::string& origin,
                     const ojson& allowed = nullptr) {
  if (!j.contains(field)) return;
  const ojson& v = j.at(field);
  if (is_null_or_empty(v) || v == false || (!allowed.is_null() && v == allowed)) return;
  cfg_fail(origin, "'" + field + "' is " + v.dump() + ": " + what +
                       " is not supported by slm — train a plain LoRA "
                       "adapter (" +
                       field + (allowed.is_null() ? " null/false" : " " + allowed.dump()) + ")");
}

void check_unsupported(const ojson& j, const std::string& origin) {
  require_default(j, "use_dora", "DoRA (weight-decomposed LoRA)", origin);
  require_default(j, "bias", "training base-layer biases (bias != \"none\")", origin, "none");
  require_default(j, "lora_bias", "a bias on LoRA B", origin);
  require_default(j, "fan_in_fan_out", "fan_in_fan_out (Conv1D-style (K, N) weights)", origin);
  require_default(j, "layers_to_transform", "adapting only some layers (layers_to_transform)", origin);
  require_default(j, "layers_pattern", "layers_pattern", origin);
  require_default(j, "modules_to_save", "fully trained extra modules (modules_to_save)", origin);
  require_default(j, "layer_replication", "layer replication", origin);
  require_default(j, "trainable_token_indices", "trainable tokens", origin);
  require_default(j, "target_parameters", "LoRA on nn.Parameter (target_parameters)", origin);
  require_default(j, "use_qalora", "QALoRA", origin);
  require_default(j, "megatron_config", "Megatron parallel layers", origin);
  for (const char* f :
       {"alora_invocation_tokens", "arrow_config", "velora_config", "kasa_config", "monteclora_config", "use_bdlora"})
    require_default(j, f, std::string("the LoRA variant '") + f + "'", origin);
}

std::string parse_init(const ojson& v, const std::string& origin) {
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (!v.is_string()) cfg_fail(origin, "'init_lora_weights' must be a boolean or a string, found " + v.dump());
  const std::string s = v.get<std::string>();
  // These inits rewrite the base weights (the adapter then only fits the residual model PEFT made) or
  // turn on a variant; PEFT converts them to plain LoRA with path_initial_model_for_weight_conversion,
  // which also writes init_lora_weights = true.
  for (const char* p : {"pissa", "olora", "corda", "loftq", "lora_ga", "mica"})
    if (s.rfind(p, 0) == 0)
      cfg_fail(origin, "'init_lora_weights' is \"" + s + "\": this init modifies the base model (or is a LoRA " +
                           "variant), so the adapter does not apply to the original base — save it with PEFT's " +
                           "path_initial_model_for_weight_conversion to get a plain LoRA adapter");
  return s;
}

std::string opt_string(const ojson& j, const std::string& field, const std::string& origin) {
  if (!j.contains(field) || j.at(field).is_null()) return "";
  if (!j.at(field).is_string()) cfg_fail(origin, "'" + field + "' must be a string or null");
  return j.at(field).get<std::string>();
}

double number_field(const ojson& j, const std::string& field, double def, const std::string& origin) {
  if (!j.contains(field) || j.at(field).is_null()) return def;
  if (!j.at(field).is_number()) cfg_fail(origin, "'" + field + "' must be a number, found " + j.at(field).dump());
  return j.at(field).get<double>();
}

ojson targets_json(const LoraTargets& t) {
  if (t.all_linear) return "all-linear";
  if (t.is_regex) return t.regex;
  if (t.names.empty()) return nullptr;
  return t.names;
}

nlohmann::json number_json(double v) {
  if (std::floor(v) == v && std::fabs(v) < 1e15) return int64_t(v);
  return v;
}

bool ends_with_component(const std::string& key, const std::string& name) {
  return key == name || (key.size() > name.size() && key.compare(key.size() - name.size(), name.size(), name) == 0 &&
                         key[key.size() - name.size() - 1] == '.');
}

std::regex compile(const std::string& pattern, const std::string& field) {
  try {
    return std::regex(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    throw Error("[lora] " + field + " regex '" + pattern + "' does not compile (" + e.what() +
                "); slm uses ECMAScript syntax, which lacks Python's (?P<name>...) groups and inline flags");
  }
}

// PEFT's check_target_module_exists for one module name (excludes first).
struct Matcher {
  const LoraTargets& t;
  std::regex re;
  explicit Matcher(const LoraTargets& targets, const std::string& field) : t(targets) {
    if (t.is_regex) re = compile(t.regex, field);
  }
  bool operator()(const std::string& key, bool linear) const {
    if (t.all_linear) return linear;
    if (t.is_regex) return std::regex_match(key, re);
    for (const auto& n : t.names)
      if (ends_with_component(key, n)) return true;
    return false;
  }
};

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

std::string last_component(const std::string& s) { return s.substr(s.rfind('.') + 1); }

}  // namespace

LoraConfig lora_config_parse(const std::string& json_text, const std::string& origin) {
  ojson j;
  try {
    j = ojson::parse(json_text);
  } catch (const std::exception& e) {
    cfg_fail(origin, std::string("is not valid JSON (") + e.what() + ")");
  }
  if (!j.is_object()) cfg_fail(origin, "must be a JSON object");
  const std::string peft_type = opt_string(j, "peft_type", origin);
  if (!peft_type.empty() && peft_type != "LORA")
    cfg_fail(origin, "peft_type is '" + peft_type + "'; slm reads LoRA adapters (peft_type \"LORA\") only");
  LoraConfig c;
  c.task_type = opt_string(j, "task_type", origin);
  if (!c.task_type.empty() && c.task_type != "CAUSAL_LM")
    cfg_fail(origin, "task_type is '" + c.task_type + "'; slm adapts causal language models (CAUSAL_LM)");
  check_unsupported(j, origin);
  if (j.contains("r") && !j.at("r").is_null()) {
    if (!j.at("r").is_number_integer()) cfg_fail(origin, "'r' must be an integer, found " + j.at("r").dump());
    c.r = j.at("r").get<int64_t>();
  }
  c.lora_alpha = number_field(j, "lora_alpha", 8, origin);
  c.lora_dropout = number_field(j, "lora_dropout", 0, origin);
  if (j.contains("use_rslora") && !j.at("use_rslora").is_null()) {
    if (!j.at("use_rslora").is_boolean()) cfg_fail(origin, "'use_rslora' must be true or false");
    c.use_rslora = j.at("use_rslora").get<bool>();
  }
  if (!j.contains("target_modules") || j.at("target_modules").is_null())
    cfg_fail(origin,
             "'target_modules' is missing or null (PEFT fills it in when it creates the adapter); list the "
             "adapted modules, e.g. [\"q_proj\", \"v_proj\"], or \"all-linear\"");
  c.target_modules = parse_targets(j.at("target_modules"), "target_modules", origin);
  if (j.contains("exclude_modules"))
    c.exclude_modules = parse_targets(j.at("exclude_modules"), "exclude_modules", origin);
  if (j.contains("rank_pattern"))
    c.rank_pattern = parse_pattern<int64_t>(j.at("rank_pattern"), "rank_pattern", origin, true);
  if (j.contains("alpha_pattern"))
    c.alpha_pattern = parse_pattern<double>(j.at("alpha_pattern"), "alpha_pattern", origin, false);
  if (j.contains("init_lora_weights") && !j.at("init_lora_weights").is_null())
    c.init_lora_weights = parse_init(j.at("init_lora_weights"), origin);
  c.base_model_name_or_path = opt_string(j, "base_model_name_or_path", origin);
  c.revision = opt_string(j, "revision", origin);
  c.peft_version = opt_string(j, "peft_version", origin);
  if (c.r <= 0) cfg_fail(origin, "'r' must be a positive integer, found " + std::to_string(c.r));
  for (const auto& [k, r] : c.rank_pattern)
    if (r <= 0) cfg_fail(origin, "rank_pattern['" + k + "'] must be a positive integer");
  if (!(c.lora_dropout >= 0 && c.lora_dropout < 1)) cfg_fail(origin, "'lora_dropout' must be in [0, 1)");
  return c;
}

LoraConfig lora_config_load(const std::string& adapter_dir) {
  const std::string path = adapter_dir + "/adapter_config.json";
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error("[lora] " + path + ": cannot be read — ADAPTER_DIR must hold adapter_config.json and " +
                "adapter_model.safetensors (PeftModel.save_pretrained or slm train writes them)");
  std::stringstream ss;
  ss << in.rdbuf();
  return lora_config_parse(ss.str(), path);
}

std::string lora_config_json(const LoraConfig& c) {
  nlohmann::json j;  // sorted keys, as json.dumps(sort_keys=True)
  nlohmann::json rank = nlohmann::json::object(), alpha = nlohmann::json::object();
  for (const auto& [k, v] : c.rank_pattern) rank[k] = v;
  for (const auto& [k, v] : c.alpha_pattern) alpha[k] = number_json(v);
  j["alpha_pattern"] = alpha;
  j["auto_mapping"] = nullptr;
  j["base_model_name_or_path"] =
      c.base_model_name_or_path.empty() ? nlohmann::json() : nlohmann::json(c.base_model_name_or_path);
  j["bias"] = "none";
  if (!c.exclude_modules.empty()) j["exclude_modules"] = targets_json(c.exclude_modules);
  j["fan_in_fan_out"] = false;
  j["inference_mode"] = true;
  if (c.init_lora_weights == "true" || c.init_lora_weights == "false")
    j["init_lora_weights"] = c.init_lora_weights == "true";
  else
    j["init_lora_weights"] = c.init_lora_weights;
  j["layer_replication"] = nullptr;
  j["layers_pattern"] = nullptr;
  j["layers_to_transform"] = nullptr;
  j["loftq_config"] = nlohmann::json::object();
  j["lora_alpha"] = number_json(c.lora_alpha);
  j["lora_dropout"] = c.lora_dropout;
  j["megatron_config"] = nullptr;
  j["megatron_core"] = "megatron.core";
  j["modules_to_save"] = nullptr;
  j["peft_type"] = "LORA";
  j["r"] = c.r;
  j["rank_pattern"] = rank;
  j["revision"] = c.revision.empty() ? nlohmann::json() : nlohmann::json(c.revision);
  j["target_modules"] = targets_json(c.target_modules);
  j["task_type"] = "CAUSAL_LM";
  j["use_dora"] = false;
  j["use_rslora"] = c.use_rslora;
  return j.dump(2, ' ', true);
}

LoraTargets lora_targets_from_cli(const std::string& text) {
  LoraTargets t;
  if (text.empty() || text == "all-linear") {
    t.all_linear = true;
    return t;
  }
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) throw Error("[lora] --targets '" + text + "' has an empty name; use e.g. q_proj,v_proj");
    if (std::find(t.names.begin(), t.names.end(), item) == t.names.end()) t.names.push_back(item);
  }
  return t;
}

namespace {
// PEFT get_pattern_key: the first key k with re.match(rf"(.*\.)?({k})$", module), else none.
template <class T>
const T* pattern_value(const std::vector<std::pair<std::string, T>>& patterns, const std::string& module,
                       const char* field) {
  for (const auto& [k, v] : patterns)
    if (std::regex_match(module, compile("(.*\\.)?(" + k + ")", field))) return &v;
  return nullptr;
}
}  // namespace

int64_t lora_rank_for(const LoraConfig& c, const std::string& module) {
  const int64_t* r = pattern_value(c.rank_pattern, module, "rank_pattern");
  return r ? *r : c.r;
}

double lora_alpha_for(const LoraConfig& c, const std::string& module) {
  const double* a = pattern_value(c.alpha_pattern, module, "alpha_pattern");
  return a ? *a : c.lora_alpha;
}

double lora_scaling(const LoraConfig& c, int64_t r, double alpha) {
  return c.use_rslora ? alpha / std::sqrt(double(r)) : alpha / double(r);
}

std::vector<std::string> lora_resolve_targets(const LoraConfig& c, const std::vector<TensorSpec>& table, bool strict) {
  if (c.target_modules.empty())
    throw Error("[lora] no target modules: name them (--targets q_proj,v_proj) or use all-linear");
  const Matcher target(c.target_modules, "target_modules"), exclude(c.exclude_modules, "exclude_modules");
  std::vector<std::string> linear, out;
  std::set<std::string> short_names;
  for (const auto& s : table) {
    const std::string suffix = ".weight";
    if (s.name.size() <= suffix.size() || s.name.compare(s.name.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    const std::string module = s.name.substr(0, s.name.size() - suffix.size());
    const bool is_linear = s.role == TensorRole::Linear;
    if (!exclude.t.empty() && exclude(module, is_linear)) continue;
    if (is_linear) {
      linear.push_back(module);
      short_names.insert(last_component(module));
      if (target(module, true)) out.push_back(module);
    } else if (!c.target_modules.all_linear && target(module, false)) {
      throw Error("[lora] target_modules matches '" + module + "', which is not a linear layer of the decoder — " +
                  "not supported: slm adapts linear layers only (no LoRA on embeddings, norms or lm_head)");
    }
  }
  const std::vector<std::string> available(short_names.begin(), short_names.end());
  if (!c.target_modules.all_linear && !c.target_modules.is_regex) {
    for (const auto& n : c.target_modules.names) {
      if (n == "lm_head" || n == "embed_tokens")
        throw Error("[lora] target '" + n + "' is not supported: slm adapts linear layers inside the decoder " +
                    "only (all-linear excludes lm_head too); available: " + join(available));
      const bool hit =
          std::any_of(linear.begin(), linear.end(), [&](const std::string& m) { return ends_with_component(m, n); });
      if (strict && !hit)
        throw Error("[lora] target '" + n + "' matches no linear layer of this model; available: " + join(available));
    }
  }
  if (out.empty())
    throw Error("[lora] target_modules " + targets_json(c.target_modules).dump() +
                " matches no linear layer of this model; available: " + join(available));
  return out;
}

}  // namespace slm
