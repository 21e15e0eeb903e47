// Phi-3 / Phi-3.5 / Phi-4-mini: Llama with a fused qkv_proj (rows: q | k | v) and a fused
// gate_up_proj (rows: gate | up), no biases, partial rotary and longrope through the config.
// Reference: transformers modeling_phi3.py.
#include "models/families.h"
#include "models/llama.h"

namespace slm {
namespace {

class Phi3Model : public LlamaModel {
 public:
  using LlamaModel::LlamaModel;

  int64_t recompute_cache_at() const override {
    const RopeParams& r = config_.rope_full;
    return r.rope_type == "longrope" ? r.original_max_position_embeddings : 0;
  }

 protected:
  void add_attention_tensors(std::vector<TensorSpec>& t, int64_t l) const override {
    const auto& c = config_;
    const int64_t C = c.hidden_size, qd = c.num_attention_heads * c.head_dim, kvd = c.num_key_value_heads * c.head_dim;
    t.push_back(linear_spec(layer_name(l, "self_attn.qkv_proj"), qd + 2 * kvd, C));  // (H*D + 2*Hkv*D, C)
    t.push_back(linear_spec(layer_name(l, "self_attn.o_proj"), C, qd));
  }
  void add_mlp_tensors(std::vector<TensorSpec>& t, int64_t l) const override {
    const int64_t C = config_.hidden_size, F = config_.intermediate_size;
    t.push_back(linear_spec(layer_name(l, "mlp.gate_up_proj"), 2 * F, C));  // (2F, C)
    t.push_back(linear_spec(layer_name(l, "mlp.down_proj"), C, F));
  }
  QKV qkv(const ag::Var& h, int64_t l) const override {
    const auto& c = config_;
    const int64_t qd = c.num_attention_heads * c.head_dim, kvd = c.num_key_value_heads * c.head_dim;
    ag::Var fused = proj(h, layer_name(l, "self_attn.qkv_proj"));  // (T, qd + 2 kvd)
    return {ag::narrow_cols(fused, 0, qd), ag::narrow_cols(fused, qd, kvd), ag::narrow_cols(fused, qd + kvd, kvd)};
  }
  ag::Var mlp(const ag::Var& h, int64_t l) const override {
    const int64_t F = config_.intermediate_size;
    ag::Var gu = proj(h, layer_name(l, "mlp.gate_up_proj"));  // (T, 2F)
    ag::Var a = ag::gated_act(ag::narrow_cols(gu, 0, F), ag::narrow_cols(gu, F, F), act_);
    return proj(a, layer_name(l, "mlp.down_proj"));
  }
};

}  // namespace

std::unique_ptr<Model> make_phi3(const ModelConfig& c, ComputeMode m) { return std::make_unique<Phi3Model>(c, m); }

}  // namespace slm
