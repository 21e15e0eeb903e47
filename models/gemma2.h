// Gemma-2: Gemma with "sandwich" norms (post-attention and pre/post-feed-forward RMSNorms), attention
// scaled by query_pre_attn_scalar^-0.5, attention and final logit soft-capping, and alternating
// sliding-window layers (config). Gemma-3 builds on it. Reference: transformers modeling_gemma2.py.
#pragma once
#include "models/gemma.h"

namespace slm {

class Gemma2Model : public GemmaModel {
 public:
  using GemmaModel::GemmaModel;

 protected:
  void add_norm_tensors(std::vector<TensorSpec>& t, int64_t l) const override;
  AttnSpec attn_spec(int64_t l) const override;
  ag::Var layer(int64_t l, const ag::Var& x, const ForwardPass& pass) override;
};

}  // namespace slm
