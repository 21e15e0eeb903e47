// Qwen2 / Qwen2.5: Llama with biases on q/k/v (never on o_proj) and an optional sliding window on
// layers >= max_window_layers (models/config.cpp). Reference: transformers modeling_qwen2.py.
#include "models/families.h"
#include "models/llama.h"

namespace slm {
namespace {

class Qwen2Model : public LlamaModel {
 public:
  using LlamaModel::LlamaModel;

 protected:
  void add_attention_tensors(std::vector<TensorSpec>& t, int64_t l) const override {
    LlamaModel::add_attention_tensors(t, l);
    const auto& c = config_;
    const int64_t qd = c.num_attention_heads * c.head_dim, kvd = c.num_key_value_heads * c.head_dim;
    t.push_back(vector_spec(layer_name(l, "self_attn.q_proj.bias"), qd, TensorRole::Bias));
    t.push_back(vector_spec(layer_name(l, "self_attn.k_proj.bias"), kvd, TensorRole::Bias));
    t.push_back(vector_spec(layer_name(l, "self_attn.v_proj.bias"), kvd, TensorRole::Bias));
  }
};

}  // namespace

std::unique_ptr<Model> make_qwen2(const ModelConfig& c, ComputeMode m) { return std::make_unique<Qwen2Model>(c, m); }

}  // namespace slm
