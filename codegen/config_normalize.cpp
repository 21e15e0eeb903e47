// config.json -> MLC's model_config (see config_normalize.h). Each family is a list of MLC dataclass
// fields in declaration order, each with its value (from slm's ModelConfig, so both config forms agree),
// the HF keys it reads and why it differs from them; a generic pass turns that into the report.
#include "codegen/config_normalize.h"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "tensor/error.h"

namespace slm::codegen {
namespace {

using json = nlohmann::json;

struct Field {
  std::string name;
  json value;
  std::vector<std::string> from;  // HF keys it is read from (first present one wins the "verbatim" test)
  std::string why;                // reason when it is rewritten (renamed/moved/changed) or added
  std::string caveat;             // non-empty: written, but a library MLC compiles cannot honour it
};

struct Family {
  std::string cls;                               // MLC's config class ("QWen2Config")
  std::vector<Field> fields;                     // in dataclass order
  std::map<std::string, std::string> drop_why;   // reasons for HF keys MLC does not read
  std::vector<ConfigChange> extra;               // rows that are not one HF key → one field
};

std::string dump(const json& v) { return v.dump(-1, ' ', false, json::error_handler_t::replace); }

json rope_theta_json(double theta) { return theta; }

// A non-default rope as the HF rope_scaling dict names it (the keys transformers reads for the type).
json rope_scaling_dict(const RopeParams& p) {
  if (p.rope_type == "default") return nullptr;
  json d = json::object();
  d["rope_type"] = p.rope_type;
  d["factor"] = p.factor;
  if (p.rope_type == "llama3") {
    d["low_freq_factor"] = p.low_freq_factor;
    d["high_freq_factor"] = p.high_freq_factor;
    d["original_max_position_embeddings"] = p.original_max_position_embeddings;
  } else if (p.rope_type == "yarn") {
    d["original_max_position_embeddings"] = p.original_max_position_embeddings;
    if (p.beta_fast != 32.0) d["beta_fast"] = p.beta_fast;  // transformers' defaults stay implicit
    if (p.beta_slow != 1.0) d["beta_slow"] = p.beta_slow;
    if (p.attention_factor > 0) d["attention_factor"] = p.attention_factor;
    if (p.mscale > 0) d["mscale"] = p.mscale;
    if (p.mscale_all_dim > 0) d["mscale_all_dim"] = p.mscale_all_dim;
    if (!p.truncate) d["truncate"] = false;
  } else if (p.rope_type == "longrope") {
    d["short_factor"] = p.short_factor;
    d["long_factor"] = p.long_factor;
    d["original_max_position_embeddings"] = p.original_max_position_embeddings;
  }
  return d;
}

// Which HF key holds the rope scaling in this file (legacy rope_scaling or transformers-5 rope_parameters).
std::string rope_key(const json& raw) {
  if (raw.contains("rope_parameters") && !raw["rope_parameters"].is_null()) return "rope_parameters";
  return "rope_scaling";
}

bool present(const json& raw, const std::string& k) { return raw.contains(k) && !raw[k].is_null(); }

// MLC's context / prefill rule for the families whose __post_init__ falls back to max_position_embeddings:
// pass 1 (from_file) sets prefill = min(ctx, cap); ModelConfigOverride.apply replaces ctx / prefill and
// pass 2 shrinks a prefill larger than ctx to min(ctx, cap).
std::pair<int64_t, int64_t> ctx_prefill(int64_t ctx1, int64_t cap, const MlcOverrides& o) {
  int64_t prefill = o.prefill_chunk_size > 0 ? o.prefill_chunk_size : std::min(ctx1, cap);
  int64_t ctx = o.context_window_size > 0 ? o.context_window_size : ctx1;
  if (prefill > ctx) prefill = std::min(ctx, cap);
  return {ctx, prefill};
}

const char* kAddedByGenConfig = "added by MLC's gen_config (ModelConfigOverride defaults / --max-batch-size 128)";

std::string window_summary(const ModelConfig& c) {
  int64_t n = 0;
  for (auto t : c.layer_types) n += t == LayerType::SlidingAttention;
  return std::to_string(c.sliding_window) + "-token window on " + std::to_string(n) + " of " +
         std::to_string(c.num_hidden_layers) + " layers";
}

// Rows for a rope scaling that the family's MLC config cannot hold.
void drop_rope_scaling(const json& raw, const ModelConfig& c, Family& f, const std::string& why) {
  if (c.rope_full.rope_type == "default") return;
  const std::string k = rope_key(raw);
  f.extra.push_back({k, "dropped", dump(rope_scaling_dict(c.rope_full)), "",
                     f.cls + " has no rope_scaling: " + why + " — a library MLC compiles applies plain rope and "
                     "loses the '" + c.rope_full.rope_type + "' scaling (slm's runtime applies it)"});
}

// ---- families -------------------------------------------------------------------------------------------

Family llama_family(const json& raw, const ModelConfig& c, const MlcOverrides& o) {
  Family f{"LlamaConfig", {}, {}, {}};
  auto [ctx, prefill] = ctx_prefill(c.max_position_embeddings, 8192, o);
  const RopeParams& r = c.rope_full;
  std::string caveat;
  if (r.rope_type != "default" && r.rope_type != "llama3")
    caveat = "MLC's LlamaConfig asserts rope_scaling['rope_type'] == 'llama3': MLC cannot compile this '" +
             r.rope_type + "' scaling (slm's runtime applies it)";
  f.fields = {
      {"hidden_size", c.hidden_size, {"hidden_size"}, "", ""},
      {"intermediate_size", c.intermediate_size, {"intermediate_size"}, "", ""},
      {"num_attention_heads", c.num_attention_heads, {"num_attention_heads"}, "", ""},
      {"num_hidden_layers", c.num_hidden_layers, {"num_hidden_layers"}, "", ""},
      {"rms_norm_eps", c.rms_norm_eps, {"rms_norm_eps"}, "", ""},
      {"vocab_size", c.vocab_size, {"vocab_size"}, "", ""},
      {"tie_word_embeddings", c.tie_word_embeddings, {"tie_word_embeddings"}, "", ""},
      {"position_embedding_base", rope_theta_json(r.rope_theta), {"rope_theta", "rope_parameters"},
       "MLC reads the rope base as position_embedding_base (v0.19 ignores rope_parameters and would silently "
       "use 10000)", ""},
      {"rope_scaling", rope_scaling_dict(r), {"rope_scaling", "rope_parameters"},
       "MLC keeps rope_scaling only with a 'rope_type' key (a dict without it is dropped silently); the rope "
       "base moves to position_embedding_base", caveat},
  };
  f.fields.push_back({"context_window_size", ctx, {"max_position_embeddings"},
                      "MLC falls back to max_position_embeddings", ""});
  f.fields.push_back({"prefill_chunk_size", prefill, {}, "MLC's default min(context_window_size, 8192)", ""});
  f.fields.push_back({"num_key_value_heads", c.num_key_value_heads, {"num_key_value_heads"},
                      "MLC defaults it to num_attention_heads", ""});
  f.fields.push_back({"head_dim", c.head_dim, {"head_dim"}, "MLC defaults it to hidden_size / num_attention_heads", ""});
  f.fields.push_back({"tensor_parallel_shards", 1, {}, kAddedByGenConfig, ""});
  f.fields.push_back({"pipeline_parallel_stages", 1, {}, kAddedByGenConfig, ""});
  f.fields.push_back({"max_batch_size", o.max_batch_size, {}, kAddedByGenConfig, ""});
  f.fields.push_back({"disaggregation", false, {}, kAddedByGenConfig, ""});
  f.drop_why["attention_bias"] =
      c.attention_bias ? "MLC's Llama has no attention biases: a library MLC compiles would ignore the q/k/v/o "
                         "bias tensors (slm's runtime applies them)"
                       : "MLC's Llama has no attention biases, as false means";
  f.drop_why["mlp_bias"] = c.mlp_bias ? "MLC's Llama has no MLP biases: a library MLC compiles would ignore them"
                                      : "MLC's Llama has no MLP biases, as false means";
  f.drop_why["hidden_act"] = c.hidden_act == "silu"
                                 ? "MLC's Llama always uses SiLU, as this model does"
                                 : "MLC's Llama always uses SiLU; this model uses " + c.hidden_act +
                                       " — a library MLC compiles would be wrong";
  return f;
}

Family qwen_family(const json& raw, const ModelConfig& c, const MlcOverrides& o, bool qwen3) {
  Family f{qwen3 ? "Qwen3Config" : "QWen2Config", {}, {}, {}};
  auto [ctx, prefill] = ctx_prefill(c.max_position_embeddings, qwen3 ? 2048 : 8192, o);
  const char* dtype = c.dtype == DType::BF16 ? "bfloat16" : c.dtype == DType::F16 ? "float16" : "float32";
  f.fields = {{"hidden_act", c.hidden_act, {"hidden_act"}, "", ""},
              {"hidden_size", c.hidden_size, {"hidden_size"}, "", ""},
              {"intermediate_size", c.intermediate_size, {"intermediate_size"}, "", ""}};
  if (qwen3)
    f.fields.push_back({"attention_bias", c.attention_bias, {"attention_bias"},
                        "a required field of Qwen3Config (MLC fails without it); transformers' default", ""});
  f.fields.insert(f.fields.end(),
                  {{"num_attention_heads", c.num_attention_heads, {"num_attention_heads"}, "", ""},
                   {"num_hidden_layers", c.num_hidden_layers, {"num_hidden_layers"}, "", ""},
                   {"num_key_value_heads", c.num_key_value_heads, {"num_key_value_heads"},
                    "a required field of " + f.cls + "; transformers' default num_attention_heads", ""},
                   {"rms_norm_eps", c.rms_norm_eps, {"rms_norm_eps"}, "", ""},
                   {"rope_theta", rope_theta_json(c.rope_full.rope_theta), {"rope_theta", "rope_parameters"},
                    "a required field of " + f.cls + " (MLC v0.19 fails with \"missing 1 required positional "
                    "argument: 'rope_theta'\" when only rope_parameters holds it)", ""},
                   {"vocab_size", c.vocab_size, {"vocab_size"}, "", ""},
                   {"tie_word_embeddings", c.tie_word_embeddings, {"tie_word_embeddings"}, "", ""},
                   {"context_window_size", ctx, {"max_position_embeddings"}, "MLC falls back to max_position_embeddings", ""},
                   {"prefill_chunk_size", prefill, {},
                    std::string("MLC's default min(context_window_size, ") + (qwen3 ? "2048)" : "8192)"), ""},
                   {"tensor_parallel_shards", 1, {}, kAddedByGenConfig, ""},
                   {"head_dim", c.head_dim, {"head_dim"},
                    qwen3 ? "Qwen3Config leaves it 0 when absent (its attention then breaks); slm writes "
                            "transformers' hidden_size / num_attention_heads"
                          : "MLC defaults it to hidden_size / num_attention_heads", ""},
                   {"dtype", dtype, {"dtype", "torch_dtype"},
                    "MLC reads `dtype` (the legacy torch_dtype lands in kwargs and MLC writes float32); the "
                    "quantisation's model dtype replaces it when MLC compiles", ""},
                   {"max_batch_size", o.max_batch_size, {}, kAddedByGenConfig, ""}});
  if (qwen3) f.fields.push_back({"weight_block_size", nullptr, {}, "", ""});
  const std::string sw = c.sliding_window > 0
                             ? "MLC's " + f.cls.substr(0, f.cls.size() - 6) + " attends over the whole context; this "
                               "model uses a " + window_summary(c) + " — outputs differ past the window"
                             : "MLC has no sliding window; this model uses none (every layer attends fully)";
  for (const char* k : {"use_sliding_window", "sliding_window", "max_window_layers", "layer_types"}) f.drop_why[k] = sw;
  drop_rope_scaling(raw, c, f, "MLC's Qwen reads only rope_theta");
  return f;
}

Family phi3_family(const json& raw, const ModelConfig& c, const MlcOverrides& o) {
  Family f{"Phi3Config", {}, {}, {}};
  const RopeParams& r = c.rope_full;
  json scaling = nullptr;
  std::string caveat;
  if (r.rope_type == "longrope") {
    scaling = {{"long_factor", r.long_factor}, {"short_factor", r.short_factor}, {"type", "longrope"},
               {"rope_type", "longrope"}, {"max_position_embeddings", c.max_position_embeddings},
               {"original_max_position_embeddings", r.original_max_position_embeddings}};
  } else if (r.rope_type != "default") {
    scaling = rope_scaling_dict(r);
    caveat = "MLC's Phi3Config asserts rope_scaling['type'] == 'longrope': MLC cannot compile this '" + r.rope_type +
             "' scaling";
  }
  const int64_t ctx = o.context_window_size > 0 ? o.context_window_size : c.max_position_embeddings;
  int64_t prefill = o.prefill_chunk_size > 0 ? o.prefill_chunk_size : std::min<int64_t>(c.max_position_embeddings, 8192);
  if (prefill > ctx) prefill = std::min<int64_t>(ctx, 8192);
  f.fields = {
      {"model_type", "phi3", {"model_type"}, "", ""},
      {"hidden_size", c.hidden_size, {"hidden_size"}, "", ""},
      {"vocab_size", c.vocab_size, {"vocab_size"}, "", ""},
      {"num_hidden_layers", c.num_hidden_layers, {"num_hidden_layers"}, "", ""},
      {"num_attention_heads", c.num_attention_heads, {"num_attention_heads"}, "", ""},
      {"intermediate_size", c.intermediate_size, {"intermediate_size"}, "", ""},
      {"rms_norm_eps", c.rms_norm_eps, {"rms_norm_eps"}, "", ""},
      {"num_key_value_heads", c.num_key_value_heads, {"num_key_value_heads"}, "MLC defaults it to num_attention_heads", ""},
      {"max_position_embeddings", c.max_position_embeddings, {"max_position_embeddings"}, "", ""},
      {"position_embedding_base", rope_theta_json(r.rope_theta), {"rope_theta", "rope_parameters"},
       "MLC reads the rope base as position_embedding_base (v0.19 ignores rope_parameters and would silently "
       "use 10000)", ""},
      {"rope_scaling", scaling, {"rope_scaling", "rope_parameters"},
       "written as Phi3Config.__post_init__ leaves it ('type' and 'rope_type', both lengths copied in); MLC "
       "drops a dict without 'type', which would lose longrope silently", caveat},
      {"original_max_position_embeddings", r.rope_type == "longrope" ? r.original_max_position_embeddings : 0,
       {"original_max_position_embeddings"}, "", ""},
      {"context_window_size", ctx, {}, "Phi3Config sets it to max_position_embeddings", ""},
      {"prefill_chunk_size", prefill, {}, "MLC's default min(context_window_size, 8192)", ""},
      {"head_dim", c.head_dim, {"head_dim"}, "hidden_size / num_attention_heads, as MLC and transformers compute it", ""},
      {"tensor_parallel_shards", 1, {}, kAddedByGenConfig, ""},
      {"max_batch_size", o.max_batch_size, {}, kAddedByGenConfig, ""},
      {"tie_word_embeddings", c.tie_word_embeddings, {"tie_word_embeddings"}, "", ""},
      {"partial_rotary_factor", r.partial_rotary_factor, {"partial_rotary_factor", "rope_parameters"},
       "MLC HEAD reads it at the top level (v0.19 has no such field and rotates the whole head)", ""},
  };
  // Without longrope MLC still copies a top-level original_max_position_embeddings; it is unused then.
  if (r.rope_type != "longrope" && present(raw, "original_max_position_embeddings"))
    for (Field& fd : f.fields)
      if (fd.name == "original_max_position_embeddings") fd.value = raw["original_max_position_embeddings"];
  f.drop_why["sliding_window"] = "MLC's Phi3 attends over the whole context; HF Phi-3 slides a " +
                                 std::to_string(c.sliding_window) + "-token window on every layer — outputs "
                                 "differ past the window";
  f.drop_why["hidden_act"] = c.hidden_act == "silu" ? "MLC's Phi3 always uses SiLU, as this model does"
                                                    : "MLC's Phi3 always uses SiLU; this model uses " + c.hidden_act;
  for (const char* k : {"full_attn_mod", "interpolate_factor", "lm_head_bias"})
    f.drop_why[k] = "inert in transformers' Phi3 (slm ignores it too)";
  return f;
}

std::string gelu_caveat(const ModelConfig& c) {
  return c.hidden_act == "gelu" ? "MLC's Gemma MLP always uses tanh-approximated GELU; this model uses exact gelu" : "";
}

Family gemma_family(const json& raw, const ModelConfig& c, const MlcOverrides& o, bool gemma2) {
  Family f{gemma2 ? "Gemma2Config" : "GemmaConfig", {}, {}, {}};
  int64_t ctx, prefill;
  std::string ctx_why = "MLC falls back to max_position_embeddings";
  if (!gemma2) {
    std::tie(ctx, prefill) = ctx_prefill(c.max_position_embeddings, 8192, o);
  } else {
    const int64_t sw = c.sliding_window > 0 ? c.sliding_window : c.max_position_embeddings;
    prefill = o.prefill_chunk_size > 0 ? o.prefill_chunk_size : std::min<int64_t>(c.max_position_embeddings, 8192);
    const int64_t ctx2 = o.context_window_size > 0 ? o.context_window_size : sw;
    if (prefill > ctx2) prefill = std::min<int64_t>(ctx2, 8192);
    ctx = sw;
    ctx_why = "Gemma2Config.__post_init__ sets context_window_size = sliding_window (MLC does not alternate "
              "local/global layers; within the window they agree)";
    if (o.context_window_size > 0 && o.context_window_size != sw)
      f.extra.push_back({"model_config.context_window_size", "rewritten", std::to_string(o.context_window_size),
                         std::to_string(sw), "Gemma2Config.__post_init__ replaces an override with sliding_window"});
  }
  f.fields = {
      {"hidden_size", c.hidden_size, {"hidden_size"}, "", ""},
      {"intermediate_size", c.intermediate_size, {"intermediate_size"}, "", ""},
      {"attention_bias", c.attention_bias, {"attention_bias"}, "a required field of GemmaConfig; transformers' default", ""},
      {"num_attention_heads", c.num_attention_heads, {"num_attention_heads"}, "", ""},
      {"num_key_value_heads", c.num_key_value_heads, {"num_key_value_heads"}, "a required field of GemmaConfig", ""},
      {"head_dim", c.head_dim, {"head_dim"}, "a required field of GemmaConfig; transformers' default", ""},
      {"num_hidden_layers", c.num_hidden_layers, {"num_hidden_layers"}, "", ""},
      {"rms_norm_eps", c.rms_norm_eps, {"rms_norm_eps"}, "", ""},
      {"vocab_size", c.vocab_size, {"vocab_size"}, "", ""},
      {"hidden_activation", c.hidden_act, gemma2 ? std::vector<std::string>{"hidden_activation", "hidden_act"}
                                                 : std::vector<std::string>{"hidden_act", "hidden_activation"},
       gemma2 ? "the activation transformers uses for Gemma-2"
              : "transformers 5 computes Gemma's MLP with hidden_act; MLC prefers hidden_activation when set",
       gelu_caveat(c)},
      {"position_embedding_base", rope_theta_json(c.rope_full.rope_theta), {"rope_theta", "rope_parameters"},
       "MLC reads the rope base as position_embedding_base (v0.19 ignores rope_parameters and would silently use "
       "10000)", ""},
      {"context_window_size", ctx, gemma2 ? std::vector<std::string>{} : std::vector<std::string>{"max_position_embeddings"},
       ctx_why, ""},
      {"prefill_chunk_size", prefill, {}, "MLC's default min(context_window_size, 8192)", ""},
      {"tensor_parallel_shards", 1, {}, kAddedByGenConfig, ""},
      {"max_batch_size", o.max_batch_size, {}, kAddedByGenConfig, ""},
  };
  auto cap = [](float v) { return v > 0 ? json(double(v)) : json(nullptr); };
  if (gemma2) {
    f.fields.push_back({"attn_logit_softcapping", cap(c.attn_logit_softcapping), {"attn_logit_softcapping"},
                        "transformers' Gemma-2 default", c.attn_logit_softcapping > 0
                            ? "MLC's Gemma2 ignores attention soft-capping (gemma2_model.py NOTE); slm applies it" : ""});
    f.fields.push_back({"final_logit_softcapping", cap(c.final_logit_softcapping), {"final_logit_softcapping"},
                        "transformers' Gemma-2 default", ""});
    f.fields.push_back({"query_pre_attn_scalar", c.query_pre_attn_scalar, {"query_pre_attn_scalar"},
                        "transformers' Gemma-2 default", ""});
    f.fields.push_back({"sliding_window", c.sliding_window > 0 ? json(c.sliding_window) : json(nullptr),
                        {"sliding_window", "sliding_window_size"}, "transformers' Gemma-2 default", ""});
    f.drop_why["max_position_embeddings"] =
        "Gemma2Config replaces context_window_size (first max_position_embeddings) with sliding_window";
    f.drop_why["layer_types"] = "MLC's Gemma2 has no per-layer window: it limits the context to sliding_window";
  }
  f.drop_why["tie_word_embeddings"] = "MLC's Gemma always shares the embedding with lm_head";
  drop_rope_scaling(raw, c, f, "MLC's Gemma reads only the rope base");
  return f;
}

// Gemma3Config wraps a Gemma3TextConfig (is_text_model for gemma3_text checkpoints).
std::pair<Family, Family> gemma3_families(const json& raw, const ModelConfig& c, const MlcOverrides& o) {
  Family text{"Gemma3TextConfig", {}, {}, {}}, top{"Gemma3Config", {}, {}, {}};
  const int64_t sw = c.sliding_window;
  const int64_t text_ctx = std::max<int64_t>(sw, 8192);
  const int64_t text_prefill = 8192;  // min(131072 (the field's default), 8192)
  const json scaling = rope_scaling_dict(c.rope_full);
  text.fields = {
      {"hidden_size", c.hidden_size, {"hidden_size"}, "", ""},
      {"intermediate_size", c.intermediate_size, {"intermediate_size"}, "", ""},
      {"num_hidden_layers", c.num_hidden_layers, {"num_hidden_layers"}, "", ""},
      {"attention_bias", c.attention_bias, {"attention_bias"}, "", ""},
      {"num_attention_heads", c.num_attention_heads, {"num_attention_heads"}, "transformers' value", ""},
      {"num_key_value_heads", c.num_key_value_heads, {"num_key_value_heads"}, "transformers' value", ""},
      {"head_dim", c.head_dim, {"head_dim"}, "transformers' value (MLC's default would be 256)", ""},
      {"rms_norm_eps", c.rms_norm_eps, {"rms_norm_eps"}, "", ""},
      {"hidden_activation", c.hidden_act, {"hidden_activation", "hidden_act"}, "", gelu_caveat(c)},
      {"position_embedding_base", rope_theta_json(c.rope_full.rope_theta), {"rope_theta", "rope_parameters"},
       "MLC reads the global layers' rope base as position_embedding_base", ""},
      {"rope_scaling", scaling, {"rope_scaling", "rope_parameters"}, "the global layers' rope scaling",
       scaling.is_null() ? "" : "MLC's Gemma3 forward ignores rope_scaling (rope_scale=1): this '" +
                                   c.rope_full.rope_type + "' scaling is lost in a library MLC compiles"},
      {"context_window_size", text_ctx, {}, "Gemma3TextConfig: max(sliding_window_size, 8192)", ""},
      {"prefill_chunk_size", text_prefill, {}, "Gemma3TextConfig: min(context_window_size default 131072, 8192)", ""},
      {"query_pre_attn_scalar", c.query_pre_attn_scalar, {"query_pre_attn_scalar"}, "transformers' value", ""},
      {"sliding_window_size", sw > 0 ? json(sw) : json(nullptr), {"sliding_window"},
       "Gemma3TextConfig reads HF sliding_window as sliding_window_size", ""},
  };
  top.fields = {
      {"vocab_size", c.vocab_size, {"vocab_size"}, "", ""},
      {"tensor_parallel_shards", 1, {}, kAddedByGenConfig, ""},
      {"max_batch_size", o.max_batch_size, {}, kAddedByGenConfig, ""},
      {"context_window_size", o.context_window_size > 0 ? o.context_window_size : text_ctx, {},
       "copied from text_config (or the override)", ""},
      {"sliding_window_size", sw > 0 ? sw : -1, {}, "copied from text_config", ""},
      {"prefill_chunk_size", o.prefill_chunk_size > 0 ? o.prefill_chunk_size : text_prefill, {},
       "copied from text_config (or the override)", ""},
      {"is_text_model", true, {}, "Gemma3Config: a text-only checkpoint (no text_config)", ""},
  };
  // MLC: layer i is local iff (i + 1) % 6 != 0 (a class attribute, not read from the config).
  bool pattern6 = true;
  for (int64_t i = 0; i < c.num_hidden_layers; ++i)
    pattern6 &= (c.layer_types[size_t(i)] == LayerType::SlidingAttention) == (sw > 0 && (i + 1) % 6 != 0);
  const std::string layers =
      pattern6 ? "MLC's Gemma3 hard-codes sliding_window_pattern 6, which matches this model's layers"
               : "MLC's Gemma3 hard-codes sliding_window_pattern 6 but this model's local/global layers differ — "
                 "a library MLC compiles would be wrong (slm's runtime follows the config)";
  for (const char* k : {"layer_types", "sliding_window_pattern", "_sliding_window_pattern"}) text.drop_why[k] = layers;
  const double local = c.rope_sliding.rope_theta, global = c.rope_full.rope_theta;
  const std::string local_why =
      local == global ? "MLC's Gemma3 uses position_embedding_base on every layer, as this model does"
                      : "MLC's Gemma3 uses position_embedding_base (" + dump(global) + ") on every layer; this "
                        "model's local layers use " + dump(local) + " — a library MLC compiles would be wrong";
  text.drop_why["rope_local_base_freq"] = local_why;
  if (present(raw, "rope_parameters") && raw["rope_parameters"].contains("sliding_attention"))
    text.extra.push_back({"rope_parameters.sliding_attention", "dropped", dump(raw["rope_parameters"]["sliding_attention"]),
                          "", local_why});
  text.drop_why["max_position_embeddings"] =
      "Gemma3TextConfig's context_window_size defaults to 131072, so MLC never reads it";
  for (const char* k : {"attn_logit_softcapping", "final_logit_softcapping"})
    text.drop_why[k] = "MLC's Gemma3 applies no soft-capping";
  text.drop_why["use_bidirectional_attention"] = "MLC's Gemma3 is causal, as false means";
  text.drop_why["tie_word_embeddings"] = "MLC's Gemma always shares the embedding with lm_head";
  return {text, top};
}

const std::set<std::string> kMetadata = {
    "architectures", "transformers_version", "_name_or_path", "auto_map", "model_type", "torchscript",
    "return_dict", "output_hidden_states", "output_attentions", "use_return_dict", "is_encoder_decoder",
    "is_decoder", "add_cross_attention", "tie_encoder_decoder", "chunk_size_feed_forward", "tokenizer_class",
    "task_specific_params", "problem_type", "id2label", "label2id", "finetuning_task", "prefix", "pruned_heads",
    "tf_legacy_loss", "_attn_implementation", "attn_implementation", "_attn_implementation_autoset",
    "_from_model_config", "cache_implementation", "cross_attention_hidden_size", "decoder_start_token_id",
    "sep_token_id"};
const std::set<std::string> kTraining = {"initializer_range", "use_cache", "attention_dropout", "embd_pdrop",
                                         "resid_pdrop", "pretraining_tp"};

std::string generic_drop_why(const std::string& k, const json& v, const ModelConfig& c, const std::string& cls) {
  if (kMetadata.count(k)) return "metadata: no effect on the forward pass";
  if (kTraining.count(k)) return "a training or HF-runtime setting: no effect on the exported forward pass";
  if (k == "bos_token_id" || k == "eos_token_id" || k == "pad_token_id")
    return "written at the top level of mlc-chat-config.json (from generation_config.json, then config.json)";
  if (k == "dtype" || k == "torch_dtype")
    return cls + " has no dtype field: the stored dtype follows the quantisation (q4f16_1 → float16)";
  if (k == "partial_rotary_factor" || k == "use_mrope" || k == "use_bidirectional_attention")
    return "not a field of " + cls + "; this model's value " + dump(v) + " is the one MLC implements";
  if (k == "rope_scaling" || k == "rope_parameters")
    return c.rope_full.rope_type == "default" ? "plain rope: nothing beyond the base, which MLC reads" : "";
  if (k == "temperature" || k == "top_p" || k == "repetition_penalty" || k == "top_k" || k == "do_sample" ||
      k == "max_length" || k == "num_beams")
    return "a generation default: mlc-chat-config.json's sampling fields come from generation_config.json, then "
           "config.json";
  return "not a field of " + cls + ": MLC keeps it in kwargs and does not use it";
}

// Writes one family's fields into `obj` and its rows into `out`; marks the HF keys it read.
void emit_family(const json& raw, Family& f, const std::string& prefix, std::set<std::string>& consumed,
                 json& obj, std::vector<ConfigChange>& out) {
  for (Field& fd : f.fields) {
    std::vector<std::string> here;
    for (const auto& k : fd.from)
      if (present(raw, k)) here.push_back(k);
    for (const auto& k : here) consumed.insert(k);
    // Verbatim: the file has the field under its own name with this value (its int/float spelling is kept).
    const bool verbatim = present(raw, fd.name) && raw[fd.name] == fd.value &&
                          std::find(here.begin(), here.end(), fd.name) != here.end();
    if (verbatim) fd.value = raw[fd.name];
    obj[fd.name] = fd.value;
    if (here.empty() && !fd.value.is_null())
      out.push_back({prefix + fd.name, "added", "", dump(fd.value), fd.why.empty() ? "default of " + f.cls : fd.why});
    for (const auto& k : here)
      if (!(verbatim && k == fd.name))
        out.push_back({k, "rewritten", dump(raw[k]), prefix + fd.name + " = " + dump(fd.value),
                       fd.why.empty() ? "normalised by slm's config reader" : fd.why});
    if (!fd.caveat.empty()) out.push_back({prefix + fd.name, "kept", "", dump(fd.value), fd.caveat});
  }
  for (const auto& e : f.extra) {
    consumed.insert(e.field);
    out.push_back(e);
  }
}

void emit_dropped(const json& raw, const ModelConfig& c, const std::vector<const Family*>& fams,
                  const std::set<std::string>& consumed, std::vector<ConfigChange>& out) {
  for (auto it = raw.begin(); it != raw.end(); ++it) {
    if (it.value().is_null() || consumed.count(it.key())) continue;
    std::string why;
    for (const Family* f : fams)
      if (auto d = f->drop_why.find(it.key()); d != f->drop_why.end() && why.empty()) why = d->second;
    if (why.empty()) why = generic_drop_why(it.key(), it.value(), c, fams.front()->cls);
    if (why.empty()) why = "not read by " + fams.front()->cls;
    out.push_back({it.key(), "dropped", dump(it.value()), "", why});
  }
}

}  // namespace

MlcModelConfig normalize_model_config(const json& raw, const ModelConfig& c, const MlcOverrides& o,
                                      std::vector<ConfigChange>* report) {
  SLM_CHECK(raw.is_object(), "[chat-config] config.json must be a JSON object");
  SLM_CHECK(o.context_window_size >= 0 && o.prefill_chunk_size >= 0 && o.max_batch_size > 0,
            "[chat-config] context_window_size / prefill_chunk_size overrides must be >= 0 and max_batch_size > 0");
  std::vector<ConfigChange> rows;
  std::set<std::string> consumed;
  MlcModelConfig m;
  m.model_config = json::object();
  const std::string& mt = c.model_type;
  if (mt == "gemma3_text") {
    auto [text, top] = gemma3_families(raw, c, o);
    json text_obj = json::object();
    emit_family(raw, text, "model_config.text_config.", consumed, text_obj, rows);
    m.model_config["text_config"] = text_obj;
    emit_family(raw, top, "model_config.", consumed, m.model_config, rows);
    emit_dropped(raw, c, {&text, &top}, consumed, rows);
    m.sliding_window_size = m.model_config["sliding_window_size"].get<int64_t>();
  } else {
    Family f;
    if (mt == "llama") f = llama_family(raw, c, o);
    else if (mt == "qwen2" || mt == "qwen3") f = qwen_family(raw, c, o, mt == "qwen3");
    else if (mt == "phi3") f = phi3_family(raw, c, o);
    else if (mt == "gemma" || mt == "gemma2") f = gemma_family(raw, c, o, mt == "gemma2");
    else throw Error("[chat-config] model_type '" + mt + "' has no MLC config mapping in slm");
    emit_family(raw, f, "model_config.", consumed, m.model_config, rows);
    emit_dropped(raw, c, {&f}, consumed, rows);
  }
  m.context_window_size = m.model_config["context_window_size"].get<int64_t>();
  m.prefill_chunk_size = m.model_config["prefill_chunk_size"].get<int64_t>();
  m.tensor_parallel_shards = m.model_config["tensor_parallel_shards"].get<int64_t>();
  if (m.model_config.contains("pipeline_parallel_stages"))
    m.pipeline_parallel_stages = m.model_config["pipeline_parallel_stages"].get<int64_t>();
  if (report) report->insert(report->end(), rows.begin(), rows.end());
  return m;
}

namespace {

size_t display_width(const std::string& s) {
  size_t n = 0;
  for (unsigned char ch : s) n += (ch & 0xC0) != 0x80;
  return n;
}

// At most `width` characters (UTF-8 aware), "…" marking a cut; newlines shown as \n.
std::string clip(std::string s, size_t width) {
  std::string flat;
  for (char ch : s) flat += ch == '\n' ? std::string("\\n") : std::string(1, ch);
  if (display_width(flat) <= width) return flat;
  std::string out;
  size_t n = 0;
  for (size_t i = 0; i < flat.size(); ++i) {
    const unsigned char ch = static_cast<unsigned char>(flat[i]);
    if ((ch & 0xC0) != 0x80 && ++n > width - 1) break;
    out += flat[i];
  }
  return out + "…";
}

}  // namespace

std::string format_config_changes(const std::vector<ConfigChange>& changes, size_t value_width) {
  if (changes.empty()) return "(no changes)\n";
  const std::vector<std::string> head = {"field", "action", "from", "to", "reason"};
  std::vector<std::vector<std::string>> rows;
  for (const auto& c : changes)
    rows.push_back({c.field, c.action, clip(c.old_value, value_width), clip(c.new_value, value_width), c.reason});
  std::vector<size_t> w(4, 0);
  for (size_t i = 0; i < 4; ++i) {
    w[i] = display_width(head[i]);
    for (const auto& r : rows) w[i] = std::max(w[i], display_width(r[i]));
  }
  std::ostringstream o;
  auto line = [&](const std::vector<std::string>& r) {
    for (size_t i = 0; i < 4; ++i) o << r[i] << std::string(w[i] - display_width(r[i]) + 2, ' ');
    o << r[4] << "\n";
  };
  line(head);
  line({std::string(w[0], '-'), std::string(w[1], '-'), std::string(w[2], '-'), std::string(w[3], '-'), "------"});
  for (const auto& r : rows) line(r);
  return o.str();
}

}  // namespace slm::codegen
