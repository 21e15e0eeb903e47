// mlc-chat-config.json (see chat_config.h).
#include "codegen/chat_config.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include "codegen/conv_template.h"
#include "models/tokenizer/tokenizer.h"
#include "tensor/error.h"

namespace slm::codegen {

const std::vector<std::string> kTokenizerFiles = {"tokenizer.model", "tokenizer.json",    "vocab.json",
                                                  "merges.txt",      "added_tokens.json", "tokenizer_config.json"};

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr const char* kChatConfigVersion = "0.1.0";  // MLC support/constants.py MLC_CHAT_CONFIG_VERSION

json read_json_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw Error("[chat-config] cannot read " + p.string());
  std::stringstream ss;
  ss << f.rdbuf();
  try {
    return json::parse(ss.str());
  } catch (const json::exception& e) {
    throw Error("[chat-config] " + p.string() + ": not valid JSON (" + e.what() + ")");
  }
}

// MLCChatConfig.get_system_defaults_for_missing_fields, in MLC_CHAT_SYSTEM_DEFAULT's order.
const std::vector<std::pair<std::string, json>> kSystemDefaults = {
    {"pad_token_id", 0},   {"bos_token_id", 1},        {"eos_token_id", 2},         {"temperature", 1.0},
    {"presence_penalty", 0.0}, {"frequency_penalty", 0.0}, {"repetition_penalty", 1.0}, {"top_p", 1.0}};

const std::set<std::string> kGenerationMetadata = {"transformers_version", "_from_model_config", "output_attentions",
                                                   "output_hidden_states", "use_cache", "return_dict"};

// gen_config step 2 (generation_config.json, then config.json, each only for fields still unset), the
// tokenizer's special tokens for the ids, then MLC's system defaults.
void fill_generation_fields(const fs::path& dir, const json& hf_config, const Tokenizer* tok, json& out,
                            std::vector<ConfigChange>& rows) {
  std::vector<std::pair<std::string, json>> sources;
  if (fs::exists(dir / "generation_config.json")) sources.push_back({"generation_config.json", read_json_file(dir / "generation_config.json")});
  sources.push_back({"config.json", hf_config});
  std::set<std::string> keys;
  for (const auto& [k, v] : kSystemDefaults) keys.insert(k);
  for (const auto& [file, j] : sources) {
    if (!j.is_object()) throw Error("[chat-config] " + (dir / file).string() + " must be a JSON object");
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (keys.count(it.key())) {
        if (!out.contains(it.key()) && !it.value().is_null()) out[it.key()] = it.value();
      } else if (file == "generation_config.json" && !kGenerationMetadata.count(it.key()) && !it.value().is_null()) {
        rows.push_back({it.key(), "dropped", it.value().dump(), "",
                        "generation_config.json: mlc-chat-config.json has no such field and WebLLM does not read it"
                        " (it samples with temperature / top_p / penalties only)"});
      }
    }
  }
  if (tok) {
    const SpecialTokens& sp = tok->special_tokens();
    const std::pair<const char*, std::optional<int32_t>> ids[] = {
        {"pad_token_id", sp.pad_id}, {"bos_token_id", sp.bos_id}, {"eos_token_id", sp.eos_id}};
    for (const auto& [k, id] : ids) {
      if (out.contains(k) || !id) continue;
      out[k] = *id;
      rows.push_back({k, "added", "", std::to_string(*id),
                      "not in generation_config.json or config.json: the tokenizer's '" + tok->id_to_token(*id) +
                          "' (MLC would write its system default)"});
    }
  }
  for (const auto& [k, v] : kSystemDefaults) {
    if (out.contains(k)) continue;
    out[k] = v;
    rows.push_back({k, "added", "", v.dump(), "MLC's system default (not in generation_config.json or config.json)"});
  }
  auto num = [&](const char* k) { return out[k].is_number() ? out[k].get<double>() : -1e300; };
  auto bad = [&](const char* k, const char* rule) {
    throw Error(std::string("[chat-config] ") + k + " = " + out[k].dump() + " (from generation_config.json or "
                "config.json) is outside WebLLM's range " + rule + " — fix the file before exporting");
  };
  if (!(num("top_p") > 0 && num("top_p") <= 1)) bad("top_p", "(0, 1]");
  if (!(num("temperature") >= 0)) bad("temperature", ">= 0");
  if (!(num("repetition_penalty") > 0)) bad("repetition_penalty", "> 0");
  for (const char* k : {"presence_penalty", "frequency_penalty"})
    if (!(num(k) >= -2 && num(k) <= 2)) bad(k, "[-2, 2]");
}

std::vector<int64_t> id_list(const json& v) {
  std::vector<int64_t> out;
  if (v.is_number_integer()) out.push_back(v.get<int64_t>());
  if (v.is_array())
    for (const auto& e : v)
      if (e.is_number_integer()) out.push_back(e.get<int64_t>());
  return out;
}

// MLC raises on a tokenizer.json whose added_tokens repeat a content (gen_config step 3.5).
void check_added_tokens(const json& t, const fs::path& p) {
  if (!t.is_object() || !t.contains("added_tokens") || !t["added_tokens"].is_array()) return;
  std::set<std::string> seen;
  for (const auto& a : t["added_tokens"]) {
    if (!a.is_object() || !a.contains("content") || !a["content"].is_string()) continue;
    if (!seen.insert(a["content"].get<std::string>()).second)
      throw Error("[chat-config] " + p.string() + ": added token '" + a["content"].get<std::string>() +
                  "' appears twice, which breaks HF tokenizers at runtime — remove the duplicate");
  }
}

// WebLLM wants exactly one of context_window_size / sliding_window_size, and a window within the
// positions the model was trained on.
void fix_windows(const ModelConfig& cfg, const MlcModelConfig& m, const MlcOverrides& o, json& out,
                 std::vector<ConfigChange>& rows) {
  int64_t ctx = m.context_window_size, sw = m.sliding_window_size, prefill = m.prefill_chunk_size;
  if (ctx != -1 && sw != -1) {
    rows.push_back({"sliding_window_size", "rewritten", std::to_string(sw), "-1",
                    "WebLLM accepts only one of context_window_size and sliding_window_size (llm_chat.ts "
                    "WindowSizeConfigurationError); this model's global layers need the whole context — the "
                    "per-layer window stays in model_config"});
    sw = -1;
  }
  if (o.context_window_size == 0 && ctx > cfg.max_position_embeddings) {
    rows.push_back({"context_window_size", "rewritten", std::to_string(ctx), std::to_string(cfg.max_position_embeddings),
                    "MLC's default exceeds max_position_embeddings: past it the model has no trained positions"});
    ctx = cfg.max_position_embeddings;
  }
  if (ctx > 0 && prefill > ctx) {
    rows.push_back({"prefill_chunk_size", "rewritten", std::to_string(prefill), std::to_string(ctx),
                    "a prefill chunk cannot exceed context_window_size (MLC's rule after the clamp above)"});
    prefill = ctx;
  }
  out["context_window_size"] = ctx;
  out["sliding_window_size"] = sw;
  out["prefill_chunk_size"] = prefill;
  out["attention_sink_size"] = m.attention_sink_size;
}

}  // namespace

json detect_tokenizer_info(const std::string& hf_dir) {
  const fs::path p = fs::path(hf_dir) / "tokenizer.json";
  return tokenizer_info_of(fs::exists(p) ? read_json_file(p) : json(nullptr));
}

json tokenizer_info_of(const json& t) {
  json info = {{"token_postproc_method", "byte_fallback"}, {"prepend_space_in_encode", false},
               {"strip_space_in_decode", false}};
  if (!t.is_object()) return info;
  auto parts = [](const json& v, const char* list) {
    std::vector<json> out;
    if (!v.is_object()) return out;
    if (v.value("type", "") == "Sequence" && v.contains(list) && v[list].is_array())
      for (const auto& e : v[list]) out.push_back(e);
    else
      out.push_back(v);
    return out;
  };
  const json dec = t.value("decoder", json(nullptr)), norm = t.value("normalizer", json(nullptr));
  for (const json& d : parts(dec, "decoders")) {  // the last ByteLevel / ByteFallback wins, as in MLC
    const std::string type = d.is_object() ? d.value("type", "") : "";
    if (type == "ByteLevel") info["token_postproc_method"] = "byte_level";
    if (type == "ByteFallback") info["token_postproc_method"] = "byte_fallback";
  }
  for (const json& n : parts(norm, "normalizers"))
    if (n.is_object() && n.value("type", "") == "Prepend" && n.value("prepend", "") == "\xe2\x96\x81") {
      info["prepend_space_in_encode"] = true;
      break;
    }
  for (const json& d : parts(dec, "decoders"))
    if (d.is_object() && d.value("type", "") == "Strip" && d.value("content", "") == " " &&
        d.value("start", -1) == 1 && d.value("stop", -1) == 0) {
      info["strip_space_in_decode"] = true;
      break;
    }
  return info;
}

json make_mlc_chat_config(const std::string& hf_dir, const ModelConfig& cfg, const std::string& quant,
                          std::vector<ConfigChange>* report, const ChatConfigOptions& options) {
  static const std::set<std::string> kQuant = {"q4f16_1", "q4f32_1", "q0f16", "q0f32"};
  if (!kQuant.count(quant))
    throw Error("[chat-config] quantization '" + quant + "' is not one of q4f16_1, q4f32_1, q0f16, q0f32");
  const fs::path dir(hf_dir);
  const json hf_config = read_json_file(dir / "config.json");
  std::vector<ConfigChange> rows;
  MlcModelConfig m = normalize_model_config(hf_config, cfg, options.overrides, &rows);

  std::unique_ptr<Tokenizer> tok;
  json tokenizer_json;  // null when absent
  if (fs::exists(dir / "tokenizer.json")) {
    tokenizer_json = read_json_file(dir / "tokenizer.json");
    check_added_tokens(tokenizer_json, dir / "tokenizer.json");
    tok = std::make_unique<Tokenizer>(Tokenizer::load(hf_dir));
  }
  json out = json::object();
  out["version"] = kChatConfigVersion;
  out["model_type"] = cfg.model_type;
  out["quantization"] = quant;
  out["model_config"] = m.model_config;
  out["vocab_size"] = cfg.vocab_size;
  fix_windows(cfg, m, options.overrides, out, rows);
  out["tensor_parallel_shards"] = m.tensor_parallel_shards;
  out["pipeline_parallel_stages"] = m.pipeline_parallel_stages;
  out["active_vocab_size"] = tok ? tok->vocab_size() : cfg.vocab_size;  // len(tokenizer), as gen_config step 5
  fill_generation_fields(dir, hf_config, tok.get(), out, rows);

  json files = json::array();
  for (const auto& f : kTokenizerFiles)
    if (fs::exists(dir / f)) files.push_back(f);
  if (!fs::exists(dir / "tokenizer.json") && !fs::exists(dir / "tokenizer.model"))
    rows.push_back({"tokenizer_files", "kept", "", files.dump(),
                    "no tokenizer.json or tokenizer.model in " + hf_dir + ": WebLLM cannot load the model without one"});
  out["tokenizer_files"] = files;
  out["tokenizer_info"] = tokenizer_info_of(tokenizer_json);

  ConvTemplateChoice choice{options.conv_template, "chosen by the caller"};
  if (choice.name.empty()) choice = choose_conv_template(cfg, read_chat_template_source(hf_dir), tok.get());
  rows.push_back({"conv_template", "added", "", choice.name, choice.reason});
  std::vector<int64_t> eos = id_list(out["eos_token_id"]);
  if (tok)
    for (int32_t e : tok->special_tokens().eos_ids) eos.push_back(e);
  out["conv_template"] = finalize_conv_template(load_conv_template(choice.name), tok.get(), eos, &rows);
  out["model_task"] = "chat";
  out["embedding_metadata"] = nullptr;
  if (report) report->insert(report->end(), rows.begin(), rows.end());
  return out;
}

}  // namespace slm::codegen
