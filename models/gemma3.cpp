// Gemma-3 (text): Gemma-2's layer plus per-head q/k RMSNorms (unit offset) before rope, and separate
// rope parameters for sliding (local base) and full (global base, often linear-scaled) layers,
// chosen per layer by layer_types (config). Reference: transformers modeling_gemma3.py.
#include "models/families.h"
#include "models/gemma2.h"

namespace slm {
namespace {

class Gemma3Model : public Gemma2Model {
 public:
  using Gemma2Model::Gemma2Model;

 protected:
  void add_attention_tensors(std::vector<TensorSpec>& t, int64_t l) const override {
    Gemma2Model::add_attention_tensors(t, l);
    add_qk_norm_tensors(t, l);
  }
  QKV qkv(const ag::Var& h, int64_t l) const override {
    QKV p = Gemma2Model::qkv(h, l);
    apply_qk_norm(p, l);  // Gemma's 1 + w convention
    return p;
  }
};

}  // namespace

std::unique_ptr<Model> make_gemma3_text(const ModelConfig& c, ComputeMode m) {
  return std::make_unique<Gemma3Model>(c, m);
}

}  // namespace slm
