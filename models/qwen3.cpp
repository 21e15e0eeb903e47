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
    add_qk_norm_tensors(t, l);
  }
  QKV qkv(const ag::Var& h, int64_t l) const override {
    QKV p = LlamaModel::qkv(h, l);
    apply_qk_norm(p, l);
    return p;
  }
};

}  // namespace

std::unique_ptr<Model> make_qwen3(const ModelConfig& c, ComputeMode m) { return std::make_unique<Qwen3Model>(c, m); }

}  // namespace slm
