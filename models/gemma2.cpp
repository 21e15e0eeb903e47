// Gemma-2 (see gemma2.h).
#include "models/gemma2.h"

#include <cmath>

#include "models/families.h"

namespace slm {

void Gemma2Model::add_norm_tensors(std::vector<TensorSpec>& t, int64_t l) const {
  for (const char* n : {"input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm",
                        "post_feedforward_layernorm"})
    t.push_back(vector_spec(layer_name(l, std::string(n) + ".weight"), config_.hidden_size, TensorRole::Norm));
}

AttnSpec Gemma2Model::attn_spec(int64_t l) const {
  AttnSpec s = LlamaModel::attn_spec(l);
  s.scale = float(std::pow(config_.query_pre_attn_scalar, -0.5));
  return s;
}

ag::Var Gemma2Model::layer(int64_t l, const ag::Var& x, const ForwardPass& pass) {
  ag::Var h = norm(x, layer_name(l, "input_layernorm.weight"));
  QKV p = qkv(h, l);
  ag::Var a = self_attention(p.q, p.k, p.v, rope_.for_layer(config_, l), attn_spec(l), pass, l);
  a = proj(a, layer_name(l, "self_attn.o_proj"));
  ag::Var r = ag::add(x, norm(a, layer_name(l, "post_attention_layernorm.weight")));
  h = norm(r, layer_name(l, "pre_feedforward_layernorm.weight"));
  return ag::add(r, norm(mlp(h, l), layer_name(l, "post_feedforward_layernorm.weight")));
}

std::unique_ptr<Model> make_gemma2(const ModelConfig& c, ComputeMode m) { return std::make_unique<Gemma2Model>(c, m); }

}  // namespace slm
