// Llama family (see llama.h).
#include "models/llama.h"

#include <cmath>

#include "tensor/error.h"

namespace slm {

TensorSpec linear_spec(const std::string& prefix, int64_t out, int64_t in) {
  return {prefix + ".weight", {out, in}, TensorRole::Linear, true};
}
TensorSpec vector_spec(const std::string& name, int64_t n, TensorRole role) { return {name, {n}, role, false}; }

LlamaModel::LlamaModel(const ModelConfig& c, ComputeMode mode) {
  config_ = c;
  mode_ = mode;
  act_ = activation_from_name(c.hidden_act);
}

void LlamaModel::add_attention_tensors(std::vector<TensorSpec>& t, int64_t l) const {
  const auto& c = config_;
  const int64_t C = c.hidden_size, qd = c.num_attention_heads * c.head_dim, kvd = c.num_key_value_heads * c.head_dim;
  const std::pair<const char*, int64_t> outs[] = {{"q_proj", qd}, {"k_proj", kvd}, {"v_proj", kvd}};
  for (auto [name, n] : outs) {
    t.push_back(linear_spec(layer_name(l, std::string("self_attn.") + name), n, C));
    if (c.attention_bias)
      t.push_back(vector_spec(layer_name(l, std::string("self_attn.") + name + ".bias"), n, TensorRole::Bias));
  }
  t.push_back(linear_spec(layer_name(l, "self_attn.o_proj"), C, qd));
  if (c.attention_bias)
    t.push_back(vector_spec(layer_name(l, "self_attn.o_proj.bias"), C, TensorRole::Bias));
}

void LlamaModel::add_mlp_tensors(std::vector<TensorSpec>& t, int64_t l) const {
  const int64_t C = config_.hidden_size, F = config_.intermediate_size;
  t.push_back(linear_spec(layer_name(l, "mlp.gate_proj"), F, C));
  t.push_back(linear_spec(layer_name(l, "mlp.up_proj"), F, C));
  t.push_back(linear_spec(layer_name(l, "mlp.down_proj"), C, F));
  if (config_.mlp_bias) {
    t.push_back(vector_spec(layer_name(l, "mlp.gate_proj.bias"), F, TensorRole::Bias));
    t.push_back(vector_spec(layer_name(l, "mlp.up_proj.bias"), F, TensorRole::Bias));
    t.push_back(vector_spec(layer_name(l, "mlp.down_proj.bias"), C, TensorRole::Bias));
  }
}

void LlamaModel::add_norm_tensors(std::vector<TensorSpec>& t, int64_t l) const {
  t.push_back(vector_spec(layer_name(l, "input_layernorm.weight"), config_.hidden_size, TensorRole::Norm));
  t.push_back(vector_spec(layer_name(l, "post_attention_layernorm.weight"), config_.hidden_size, TensorRole::Norm));
}

std::vector<TensorSpec> LlamaModel::tensor_table() const {
  const auto& c = config_;
  std::vector<TensorSpec> t;
  t.push_back({"model.embed_tokens.weight", {c.vocab_size, c.hidden_size}, TensorRole::Embedding, true});
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    add_norm_tensors(t, l);
    add_attention_tensors(t, l);
    add_mlp_tensors(t, l);
  }
  t.push_back(vector_spec("model.norm.weight", c.hidden_size, TensorRole::Norm));
  if (!c.tie_word_embeddings) t.push_back({"lm_head.weight", {c.vocab_size, c.hidden_size}, TensorRole::LmHead, true});
  return t;
}

ag::Var LlamaModel::proj(const ag::Var& x, const std::string& prefix) const {
  const std::string bias = prefix + ".bias";
  const Tensor& weight = w(prefix + ".weight");
  const Tensor b = has_w(bias) ? w(bias) : Tensor();
  ag::Var y;
  auto it = adapters_.find(prefix);
  if (!trainable_.empty()) {
    y = ag::linear(x, weight_var(prefix + ".weight"), has_w(bias) ? weight_var(bias) : ag::Var());
  } else if (it == adapters_.end()) {
    y = ag::linear(x, weight, b);
  } else {
    ag::LoraWeights lora = it->second;
    uint64_t h = 14695981039346656037ull;  // FNV-1a of the module name: a mask per module, stable across builds
    for (unsigned char ch : prefix) h = (h ^ ch) * 1099511628211ull;
    lora.dropout_seed = dropout_seed_ ^ h;
    y = ag::lora_linear(x, weight, b, lora);
  }
  observe(prefix, y.value());
  return y;
}

ag::Var LlamaModel::norm(const ag::Var& x, const std::string& weight) const {
  if (!trainable_.empty()) return ag::rmsnorm(x, weight_var(weight), float(config_.rms_norm_eps), norm_unit_offset_);
  return ag::rmsnorm(x, w(weight), float(config_.rms_norm_eps), norm_unit_offset_);
}

LlamaModel::QKV LlamaModel::qkv(const ag::Var& h, int64_t l) const {
  return {proj(h, layer_name(l, "self_attn.q_proj")), proj(h, layer_name(l, "self_attn.k_proj")),
          proj(h, layer_name(l, "self_attn.v_proj"))};
}

ag::Var LlamaModel::mlp(const ag::Var& h, int64_t l) const {
  ag::Var a = ag::gated_act(proj(h, layer_name(l, "mlp.gate_proj")), proj(h, layer_name(l, "mlp.up_proj")), act_);
  return proj(a, layer_name(l, "mlp.down_proj"));
}

void LlamaModel::add_qk_norm_tensors(std::vector<TensorSpec>& t, int64_t l) const {
  t.push_back(vector_spec(layer_name(l, "self_attn.q_norm.weight"), config_.head_dim, TensorRole::Norm));
  t.push_back(vector_spec(layer_name(l, "self_attn.k_norm.weight"), config_.head_dim, TensorRole::Norm));
}

void LlamaModel::apply_qk_norm(QKV& p, int64_t l) const {
  const float eps = float(config_.rms_norm_eps);
  p.q = head_rmsnorm(p.q, weight_var(layer_name(l, "self_attn.q_norm.weight")), config_.num_attention_heads, eps,
                     norm_unit_offset_);
  p.k = head_rmsnorm(p.k, weight_var(layer_name(l, "self_attn.k_norm.weight")), config_.num_key_value_heads, eps,
                     norm_unit_offset_);
}

AttnSpec LlamaModel::attn_spec(int64_t l) const {
  const auto& c = config_;
  AttnSpec s;
  s.H = c.num_attention_heads;
  s.Hkv = c.num_key_value_heads;
  s.D = c.head_dim;
  s.scale = float(1.0 / std::sqrt(double(c.head_dim)));
  s.window = c.layer_types[size_t(l)] == LayerType::SlidingAttention ? c.sliding_window : 0;
  s.softcap = c.attn_logit_softcapping;
  s.bf16 = mode_ == ComputeMode::BF16;
  return s;
}

ag::Var LlamaModel::embed(const Tensor& ids) {
  if (!trainable_.empty()) return ag::embedding(weight_var("model.embed_tokens.weight"), ids);
  return ag::embedding(w("model.embed_tokens.weight"), ids);
}

void LlamaModel::begin_forward(const std::vector<int64_t>& positions) { rope_.build(config_, positions); }

ag::Var LlamaModel::layer(int64_t l, const ag::Var& x, const ForwardPass& pass) {
  ag::Var h = norm(x, layer_name(l, "input_layernorm.weight"));
  QKV p = qkv(h, l);
  ag::Var a = self_attention(p.q, p.k, p.v, rope_.for_layer(config_, l), attn_spec(l), pass, l);
  ag::Var r = ag::add(x, proj(a, layer_name(l, "self_attn.o_proj")));
  h = norm(r, layer_name(l, "post_attention_layernorm.weight"));
  return ag::add(r, mlp(h, l));
}

ag::Var LlamaModel::head(const ag::Var& x) {
  ag::Var h = norm(x, "model.norm.weight");
  ag::Var logits;
  if (config_.tie_word_embeddings) {
    logits = trainable_.empty() ? ag::linear(h, w("model.embed_tokens.weight"))
                                : ag::linear(h, weight_var("model.embed_tokens.weight"), ag::Var());
    observe("lm_head", logits.value());
  } else {
    logits = proj(h, "lm_head");
  }
  if (config_.final_logit_softcapping > 0) logits = ag::softcap(logits, config_.final_logit_softcapping);
  return logits;
}

}  // namespace slm
