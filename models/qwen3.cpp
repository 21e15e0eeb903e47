// Qwen3: Llama plus per-head RMSNorm of q and k (q_norm, k_norm over D) before rope; biases only when
// attention_bias. Reference: transformers modeling_qwen3.py.
#include "models/families.h"
#include "models/llama.h"

namespace slm {
namespace {

class Qwen3Model : public LlamaModel {
 public:
  using LlamaModel::LlamaModel;

 protected:
  void add_attention_tensors(std::vector<TensorSpec>& t, int64_t l) const override {
    LlamaModel::add_attention_tensors(t, l);
    t.push_back(vector_spec(layer_name(l, "self_attn.q_norm.weight"), config_.head_dim, TensorRole::Norm));
    t.push_back(vector_spec(layer_name(l, "self_attn.k_norm.weight"), config_.head_dim, TensorRole::Norm));
  }
  QKV qkv(const Tensor& h, int64_t l) const override {
    QKV p = LlamaModel::qkv(h, l);
    const float eps = float(config_.rms_norm_eps);
    p.q = head_rmsnorm(p.q, w(layer_name(l, "self_attn.q_norm.weight")), config_.num_attention_heads, eps, false);
    p.k = head_rmsnorm(p.k, w(layer_name(l, "self_attn.k_norm.weight")), config_.num_key_value_heads, eps, false);
    return p;
  }
};

}  // namespace

std::unique_ptr<Model> make_qwen3(const ModelConfig& c, ComputeMode m) { return std::make_unique<Qwen3Model>(c, m); }

}  // namespace slm
