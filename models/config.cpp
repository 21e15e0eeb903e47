// config.json -> ModelConfig, for both the legacy hub form and the transformers-5 form.
// Follows transformers 5.17: each family's Config.__post_init__ (layer_types defaults, Qwen's
// use_sliding_window gate) and RotaryEmbeddingConfigMixin.standardize_rope_params (where rope_theta,
// partial_rotary_factor and original_max_position_embeddings end up). Unknown fields are an error
// unless they are known to be inert at inference (metadata, dropout, generation defaults).
#include "models/config.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tensor/error.h"

namespace slm {
namespace {

using json = nlohmann::json;

const std::set<std::string> kFamilies = {"llama", "qwen2", "qwen3", "phi3", "gemma", "gemma2", "gemma3_text"};

// Fields that never change the forward pass (metadata, training-only dropout, generation defaults
// that old configs carried, tokenizer hints). Everything else must be understood or rejected.
const std::set<std::string> kInert = {
    "architectures", "transformers_version", "_name_or_path", "initializer_range", "use_cache",
    "attention_dropout", "embd_pdrop", "resid_pdrop", "auto_map", "return_dict", "output_hidden_states",
    "output_attentions", "torchscript", "use_return_dict", "is_encoder_decoder", "is_decoder",
    "add_cross_attention", "tie_encoder_decoder", "chunk_size_feed_forward", "tokenizer_class",
    "task_specific_params", "problem_type", "id2label", "label2id", "finetuning_task", "prefix",
    "sep_token_id", "decoder_start_token_id", "cross_attention_hidden_size", "pruned_heads",
    "bad_words_ids", "max_length", "min_length", "do_sample", "early_stopping", "num_beams",
    "num_beam_groups", "diversity_penalty", "temperature", "top_k", "top_p", "typical_p",
    "repetition_penalty", "length_penalty", "no_repeat_ngram_size", "encoder_no_repeat_ngram_size",
    "num_return_sequences", "output_scores", "return_dict_in_generate", "forced_bos_token_id",
    "forced_eos_token_id", "remove_invalid_values", "exponential_decay_length_penalty",
    "suppress_tokens", "begin_suppress_tokens", "tf_legacy_loss", "cache_implementation",
    "_attn_implementation", "attn_implementation", "_attn_implementation_autoset", "_from_model_config",
    "model_type", "dtype", "torch_dtype", "pretraining_tp", "max_window_layers", "use_sliding_window",
    "sliding_window_pattern", "_sliding_window_pattern", "rope_local_base_freq", "rope_theta",
    "rope_scaling", "rope_parameters", "partial_rotary_factor", "original_max_position_embeddings",
    "head_dim", "layer_types", "sliding_window", "sliding_window_size", "bos_token_id", "eos_token_id",
    "pad_token_id", "tie_word_embeddings", "vocab_size", "hidden_size", "intermediate_size",
    "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "max_position_embeddings",
    "rms_norm_eps", "hidden_act", "hidden_activation", "attention_bias", "mlp_bias",
    "query_pre_attn_scalar", "attn_logit_softcapping", "final_logit_softcapping",
    "use_bidirectional_attention", "use_mrope", "quantization_config",
    // Phi-4-mini's hub config carries these; transformers' Phi3 reads none of them (lm_head_bias is
    // checked below: true would change the math).
    "full_attn_mod", "interpolate_factor", "lm_head_bias"};

struct Reader {
  const json& j;
  std::string origin;

  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw Error("[config] " + origin + ": field '" + field + "' " + what);
  }
  bool present(const std::string& k) const { return j.contains(k) && !j[k].is_null(); }
  int64_t integer(const std::string& k, int64_t def, bool required = false) const {
    if (!present(k)) {
      if (required) fail(k, "is missing (required)");
      return def;
    }
    const json& v = j[k];
    if (v.is_number_integer()) return v.get<int64_t>();
    if (v.is_number_float()) {  // 4096.0 is accepted; the range check keeps the cast defined
      const double d = v.get<double>();
      if (std::isfinite(d) && d == std::trunc(d) && d >= -9.2e18 && d <= 9.2e18) return int64_t(d);
    }
    fail(k, "must be an integer, got " + v.dump());
  }
  double number(const std::string& k, double def) const {
    if (!present(k)) return def;
    if (!j[k].is_number()) fail(k, "must be a number, got " + j[k].dump());
    return j[k].get<double>();
  }
  bool boolean(const std::string& k, bool def) const {
    if (!present(k)) return def;
    if (!j[k].is_boolean()) fail(k, "must be true or false, got " + j[k].dump());
    return j[k].get<bool>();
  }
  std::string string(const std::string& k, const std::string& def) const {
    if (!present(k)) return def;
    if (!j[k].is_string()) fail(k, "must be a string, got " + j[k].dump());
    return j[k].get<std::string>();
  }
  int64_t positive(const std::string& k, int64_t def, bool required = false) const {
    int64_t v = integer(k, def, required);
    if (v <= 0 || v > (int64_t(1) << 31)) fail(k, "must be a positive integer, got " + std::to_string(v));
    return v;
  }
};

std::vector<int64_t> id_list(const json& v, const std::string& field, const std::string& origin) {
  std::vector<int64_t> out;
  if (v.is_null()) return out;
  if (v.is_number_integer()) return {v.get<int64_t>()};
  if (v.is_array()) {
    for (const auto& e : v) {
      if (!e.is_number_integer())
        throw Error("[config] " + origin + ": field '" + field + "' must hold integers, got " + v.dump());
      out.push_back(e.get<int64_t>());
    }
    return out;
  }
  throw Error("[config] " + origin + ": field '" + field + "' must be an integer or a list, got " + v.dump());
}

const std::set<std::string> kRopeTypes = {"default", "linear", "dynamic", "yarn", "longrope", "llama3"};
const std::set<std::string> kRopeKeys = {
    "rope_type", "type", "rope_theta", "factor", "partial_rotary_factor", "original_max_position_embeddings",
    "low_freq_factor", "high_freq_factor", "short_factor", "long_factor", "attention_factor", "beta_fast",
    "beta_slow", "mscale", "mscale_all_dim", "truncate"};

// One rope dict (already standardised: rope_type + rope_theta present or defaulted by the caller).
RopeParams parse_rope(const json& rp, const std::string& where, const std::string& origin, const ModelConfig& c,
                      double default_theta, double top_partial, int64_t top_original_max) {
  if (!rp.is_object()) throw Error("[config] " + origin + ": '" + where + "' must be an object, got " + rp.dump());
  for (auto it = rp.begin(); it != rp.end(); ++it)
    if (!kRopeKeys.count(it.key()) && !it.value().is_null())
      throw Error("[config] " + origin + ": '" + where + "." + it.key() + "' = " + it.value().dump() +
                  " is not a rope parameter slm implements");
  Reader r{rp, origin + " (" + where + ")"};
  RopeParams p;
  p.rope_type = r.string("rope_type", r.string("type", "default"));
  if (p.rope_type == "su" || (c.model_type == "phi3" && p.rope_type == "yarn")) p.rope_type = "longrope";  // Phi3Config BC
  if (!kRopeTypes.count(p.rope_type))
    r.fail("rope_type", "= \"" + p.rope_type + "\" is not implemented (supported: default, linear, dynamic, yarn, "
                        "longrope, llama3)");
  p.rope_theta = r.number("rope_theta", default_theta);
  p.head_dim = c.head_dim;
  p.partial_rotary_factor = r.number("partial_rotary_factor", top_partial);
  if (p.partial_rotary_factor <= 0 || p.partial_rotary_factor > 1)
    r.fail("partial_rotary_factor", "must be in (0, 1]");
  p.max_position_embeddings = c.max_position_embeddings;
  bool needs_orig = p.rope_type == "llama3" || p.rope_type == "yarn" || p.rope_type == "longrope";
  // Phi-3 keeps original_max_position_embeddings at top level, and it wins (standardize_rope_params).
  if (needs_orig) {
    if (top_original_max > 0) p.original_max_position_embeddings = top_original_max;
    else p.original_max_position_embeddings = r.integer("original_max_position_embeddings", c.max_position_embeddings);
  } else {
    p.original_max_position_embeddings = r.integer("original_max_position_embeddings", 0);
  }
  p.factor = r.number("factor", 0.0);
  if (p.factor == 0.0) {
    if (p.rope_type == "linear" || p.rope_type == "dynamic" || p.rope_type == "llama3")
      r.fail("factor", "is required for rope_type " + p.rope_type);
    if (p.rope_type == "yarn" || p.rope_type == "longrope")
      p.factor = double(c.max_position_embeddings) / double(p.original_max_position_embeddings);
    else
      p.factor = 1.0;
  }
  p.low_freq_factor = r.number("low_freq_factor", 1.0);
  p.high_freq_factor = r.number("high_freq_factor", 4.0);
  if (p.rope_type == "llama3" && (!r.present("low_freq_factor") || !r.present("high_freq_factor")))
    r.fail("low_freq_factor", "and high_freq_factor are required for rope_type llama3");
  p.attention_factor = r.number("attention_factor", 0.0);
  p.beta_fast = r.number("beta_fast", 32.0);
  p.beta_slow = r.number("beta_slow", 1.0);
  if (p.beta_fast == 0) p.beta_fast = 32.0;  // transformers: `get("beta_fast") or 32`
  if (p.beta_slow == 0) p.beta_slow = 1.0;
  p.mscale = r.number("mscale", 0.0);
  p.mscale_all_dim = r.number("mscale_all_dim", 0.0);
  p.truncate = r.boolean("truncate", true);
  if (p.rope_type == "longrope") {
    int64_t half = rope_rotary_dim(p) / 2;
    for (const char* k : {"short_factor", "long_factor"}) {
      if (!r.present(k) || !rp[k].is_array()) r.fail(k, "must be a list of numbers for rope_type longrope");
      std::vector<double>& dst = std::string(k) == "short_factor" ? p.short_factor : p.long_factor;
      for (const auto& v : rp[k]) {
        if (!v.is_number()) r.fail(k, "must hold numbers");
        dst.push_back(v.get<double>());
      }
      if (int64_t(dst.size()) != half)
        r.fail(k, "has " + std::to_string(dst.size()) + " entries; rotary dim / 2 = " + std::to_string(half));
    }
  }
  return p;
}

LayerType parse_layer_type(const json& v, const std::string& origin) {
  if (v == "full_attention") return LayerType::FullAttention;
  if (v == "sliding_attention") return LayerType::SlidingAttention;
  throw Error("[config] " + origin + ": layer_types entry " + v.dump() +
              " is not implemented (supported: full_attention, sliding_attention)");
}

void parse_layers_and_window(const json& j, const Reader& r, ModelConfig& c) {
  const std::string& mt = c.model_type;
  const int64_t L = c.num_hidden_layers;
  // Family defaults when the key is absent (an explicit null means none): Gemma2/3 and Qwen2/3 4096.
  const bool default_4096 = mt == "gemma2" || mt == "gemma3_text" || mt == "qwen2" || mt == "qwen3";
  int64_t window = r.integer("sliding_window", j.contains("sliding_window") || !default_4096 ? 0 : 4096);
  if (window == 0 && (mt == "gemma2") && r.present("sliding_window_size")) window = r.integer("sliding_window_size", 0);
  if (window < 0) r.fail("sliding_window", "must be positive");
  if (mt == "qwen2" || mt == "qwen3") {
    if (!r.boolean("use_sliding_window", false)) window = 0;  // Qwen2Config.__post_init__
  }
  if (mt == "llama" || mt == "gemma") window = 0;  // these families have no sliding window
  c.sliding_window = window;
  c.layer_types.assign(size_t(L), LayerType::FullAttention);
  if (r.present("layer_types")) {
    const json& lt = j["layer_types"];
    if (!lt.is_array() || int64_t(lt.size()) != L)
      r.fail("layer_types", "must be a list with one entry per layer (" + std::to_string(L) + ")");
    for (int64_t i = 0; i < L; ++i) c.layer_types[size_t(i)] = parse_layer_type(lt[size_t(i)], r.origin);
  } else if (mt == "qwen2" || mt == "qwen3") {
    int64_t mwl = r.integer("max_window_layers", 28);
    for (int64_t i = 0; i < L; ++i)
      if (window > 0 && i >= mwl) c.layer_types[size_t(i)] = LayerType::SlidingAttention;
  } else if (mt == "gemma2") {
    for (int64_t i = 0; i < L; ++i)
      if ((i + 1) % 2) c.layer_types[size_t(i)] = LayerType::SlidingAttention;
  } else if (mt == "gemma3_text") {
    int64_t pattern = r.integer("sliding_window_pattern", r.integer("_sliding_window_pattern", 6));
    if (pattern <= 0) r.fail("sliding_window_pattern", "must be positive");
    for (int64_t i = 0; i < L; ++i)
      if ((i + 1) % pattern) c.layer_types[size_t(i)] = LayerType::SlidingAttention;
  } else if (mt == "phi3" && window > 0) {
    // Phi3Attention passes config.sliding_window to every layer.
    for (auto& t : c.layer_types) t = LayerType::SlidingAttention;
  }
  // A sliding layer without a window attends fully (sliding_window is None in transformers).
  if (window == 0)
    for (auto& t : c.layer_types) t = LayerType::FullAttention;
}

// A rope dict's rope_theta defaults to the top-level one. Anything but an object is left as it is, for
// parse_rope to reject with a clear error (indexing a boolean or number would throw json's type_error).
void with_theta(json& rope, double theta) {
  if (rope.is_object() && !rope.contains("rope_theta")) rope["rope_theta"] = theta;
}

void parse_rope_all(const json& j, const Reader& r, ModelConfig& c) {
  const bool gemma3 = c.model_type == "gemma3_text";
  const double top_partial = r.number("partial_rotary_factor", 1.0);
  const int64_t top_orig = c.model_type == "phi3" ? r.integer("original_max_position_embeddings", 0) : 0;
  const double default_global = gemma3 ? 1000000.0 : 10000.0;
  if (r.present("rope_parameters") && r.present("rope_scaling") && j["rope_scaling"] != j["rope_parameters"])
    r.fail("rope_scaling", "and rope_parameters are both set and disagree; keep one");
  const json* rp = r.present("rope_parameters") ? &j["rope_parameters"] : nullptr;
  const double theta = r.number("rope_theta", default_global);
  if (gemma3) {
    json full = {{"rope_type", "default"}}, slide = {{"rope_type", "default"}};
    if (rp && rp->is_object() && (rp->contains("full_attention") || rp->contains("sliding_attention"))) {
      if (rp->contains("full_attention") && !(*rp)["full_attention"].is_null()) full = (*rp)["full_attention"];
      if (rp->contains("sliding_attention") && !(*rp)["sliding_attention"].is_null())
        slide = (*rp)["sliding_attention"];
    } else if (rp) {
      full = *rp;  // a single dict applies to the global layers (Gemma3TextConfig.convert_rope_params_to_dict)
    }
    if (r.present("rope_scaling")) {
      if (!j["rope_scaling"].is_object()) r.fail("rope_scaling", "must be an object, got " + j["rope_scaling"].dump());
      if (full.is_object()) full.update(j["rope_scaling"]);
    }
    with_theta(full, theta);
    with_theta(slide, r.number("rope_local_base_freq", 10000.0));
    c.rope_full = parse_rope(full, "rope_parameters.full_attention", r.origin, c, theta, top_partial, top_orig);
    c.rope_sliding = parse_rope(slide, "rope_parameters.sliding_attention", r.origin, c, theta, top_partial, top_orig);
    return;
  }
  json one = json::object();
  if (rp) one = *rp;
  else if (r.present("rope_scaling")) one = j["rope_scaling"];
  with_theta(one, theta);
  c.rope_full = parse_rope(one, rp ? "rope_parameters" : "rope_scaling", r.origin, c, theta, top_partial, top_orig);
  c.rope_sliding = c.rope_full;
}

bool allow_unknown_fields() {
  const char* v = std::getenv("SLM_ALLOW_UNKNOWN_CONFIG");
  return v && std::string(v) == "1";
}

}  // namespace

ModelConfig parse_config(const std::string& text, const std::string& origin) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw Error("[config] " + origin + ": not valid JSON (" + e.what() + ")");
  }
  if (!j.is_object()) throw Error("[config] " + origin + ": must be a JSON object");
  Reader r{j, origin};
  ModelConfig c;
  c.model_type = r.string("model_type", "");
  if (c.model_type.empty()) r.fail("model_type", "is missing");
  if (c.model_type == "gemma3")
    r.fail("model_type", "= \"gemma3\" is the multimodal Gemma-3 wrapper; slm supports the text model "
                         "(model_type \"gemma3_text\", e.g. gemma-3-1b)");
  if (!kFamilies.count(c.model_type))
    r.fail("model_type", "= \"" + c.model_type + "\" is not supported (supported: llama, qwen2, qwen3, phi3, "
                         "gemma, gemma2, gemma3_text)");
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (kInert.count(it.key()) || it.value().is_null()) continue;
    if (allow_unknown_fields()) {
      c.notes.push_back("ignored unknown field '" + it.key() + "' (SLM_ALLOW_UNKNOWN_CONFIG=1)");
      continue;
    }
    r.fail(it.key(), "= " + it.value().dump().substr(0, 80) +
                         " is not a field slm knows for " + c.model_type +
                         "; if it does not change the model's math, set SLM_ALLOW_UNKNOWN_CONFIG=1 to ignore it");
  }
  if (r.present("quantization_config"))
    r.fail("quantization_config", "is set: pre-quantised checkpoints are not supported; use the f32/f16/bf16 model");
  if (r.boolean("use_bidirectional_attention", false))
    r.fail("use_bidirectional_attention", "= true (non-causal attention) is not supported");
  if (r.boolean("use_mrope", false)) r.fail("use_mrope", "= true (multimodal rope) is not supported");
  if (r.boolean("lm_head_bias", false)) r.fail("lm_head_bias", "= true is not supported (no lm_head bias)");
  if (c.model_type != "llama" && r.boolean("mlp_bias", false))
    r.fail("mlp_bias", "= true is not supported for " + c.model_type + " (its MLP has no biases in transformers)");
  if (r.present("architectures") && j["architectures"].is_array() && !j["architectures"].empty() &&
      j["architectures"][0].is_string())
    c.architecture = j["architectures"][0].get<std::string>();

  c.vocab_size = r.positive("vocab_size", 0, true);
  c.hidden_size = r.positive("hidden_size", 0, true);
  c.intermediate_size = r.positive("intermediate_size", 0, true);
  c.num_hidden_layers = r.positive("num_hidden_layers", 0, true);
  c.num_attention_heads = r.positive("num_attention_heads", 0, true);
  c.num_key_value_heads = r.positive("num_key_value_heads", c.num_attention_heads);
  if (c.num_attention_heads % c.num_key_value_heads)
    r.fail("num_key_value_heads", "= " + std::to_string(c.num_key_value_heads) + " does not divide num_attention_heads");
  // Phi-3 has no head_dim field: transformers uses hidden_size / heads even if one is present.
  c.head_dim = c.model_type == "phi3" ? c.hidden_size / c.num_attention_heads
                                      : r.positive("head_dim", c.hidden_size / c.num_attention_heads);
  if (c.head_dim % 2) r.fail("head_dim", "must be even for rotary embeddings");
  c.max_position_embeddings = r.positive("max_position_embeddings", 4096);
  c.rms_norm_eps = r.number("rms_norm_eps", c.model_type == "phi3" ? 1e-5 : 1e-6);
  if (!(c.rms_norm_eps > 0)) r.fail("rms_norm_eps", "must be positive");
  const bool gemma_family = c.model_type.rfind("gemma", 0) == 0;
  if (c.model_type == "gemma2" || c.model_type == "gemma3_text") {
    c.hidden_act = r.string("hidden_activation", "gelu_pytorch_tanh");
  } else {
    c.hidden_act = r.string("hidden_act", gemma_family ? "gelu_pytorch_tanh" : "silu");
    if (c.model_type == "gemma" && r.present("hidden_activation") && r.string("hidden_activation", "") != c.hidden_act)
      c.notes.push_back("hidden_activation='" + r.string("hidden_activation", "") +
                        "' ignored: transformers 5 uses hidden_act ('" + c.hidden_act + "') for gemma");
  }
  try {
    (void)activation_from_name(c.hidden_act);
  } catch (const Error&) {
    r.fail(gemma_family && c.model_type != "gemma" ? "hidden_activation" : "hidden_act",
           "= \"" + c.hidden_act + "\" is not implemented (supported: silu, gelu_pytorch_tanh, gelu_new, gelu)");
  }
  c.tie_word_embeddings = r.boolean("tie_word_embeddings", gemma_family);
  c.attention_bias = c.model_type == "qwen2" || c.model_type == "phi3" ? false : r.boolean("attention_bias", false);
  c.mlp_bias = c.model_type == "llama" ? r.boolean("mlp_bias", false) : false;
  std::string dt = r.string("dtype", r.string("torch_dtype", "float32"));
  if (dt == "float32") c.dtype = DType::F32;
  else if (dt == "bfloat16") c.dtype = DType::BF16;
  else if (dt == "float16") c.dtype = DType::F16;
  else r.fail("dtype", "= \"" + dt + "\" is not supported (float32, bfloat16, float16)");

  if (c.model_type == "gemma2" || c.model_type == "gemma3_text") {
    c.query_pre_attn_scalar = r.number("query_pre_attn_scalar", 256);
    if (!(c.query_pre_attn_scalar > 0)) r.fail("query_pre_attn_scalar", "must be positive");
    // Gemma2Config defaults (50, 30) apply when the key is absent; an explicit null means no cap.
    auto cap = [&](const char* key, double gemma2_default) {
      const bool use_default = c.model_type == "gemma2" && !j.contains(key);
      return float(r.number(key, use_default ? gemma2_default : 0.0));
    };
    c.attn_logit_softcapping = cap("attn_logit_softcapping", 50.0);
    c.final_logit_softcapping = cap("final_logit_softcapping", 30.0);
  }
  parse_layers_and_window(j, r, c);
  parse_rope_all(j, r, c);

  if (j.contains("eos_token_id")) c.eos_token_ids = id_list(j["eos_token_id"], "eos_token_id", origin);
  c.bos_token_id = r.integer("bos_token_id", -1);
  c.pad_token_id = r.integer("pad_token_id", -1);
  return c;
}

static std::string read_text(const std::string& path, bool* found) {
  std::ifstream f(path, std::ios::binary);
  *found = bool(f);
  if (!f) return "";
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

ModelConfig load_config(const std::string& model_dir) {
  bool found = false;
  std::string text = read_text(model_dir + "/config.json", &found);
  if (!found) throw Error("[config] " + model_dir + ": no config.json — is this a Hugging Face model directory?");
  return parse_config(text, model_dir + "/config.json");
}

std::vector<int64_t> load_eos_ids(const std::string& model_dir, const ModelConfig& cfg) {
  bool found = false;
  std::string path = model_dir + "/generation_config.json";
  std::string text = read_text(path, &found);
  if (!found) return cfg.eos_token_ids;
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw Error("[config] " + path + ": not valid JSON (" + e.what() + ")");
  }
  if (!j.is_object()) throw Error("[config] " + path + ": must be a JSON object");
  if (!j.contains("eos_token_id") || j["eos_token_id"].is_null()) return cfg.eos_token_ids;
  return id_list(j["eos_token_id"], "eos_token_id", path);
}

}  // namespace slm
