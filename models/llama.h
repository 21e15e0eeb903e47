// Llama: the pre-norm decoder the other families specialise (Qwen2/3, Phi-3, Gemma 1/2/3 override
// hooks). Follows transformers' modeling_llama.py: RMSNorm -> q/k/v -> rope -> attention -> o_proj
// -> residual; RMSNorm -> down(act(gate) * up) -> residual; final norm; lm_head (or tied embedding).
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "models/layers.h"
#include "models/model.h"

namespace slm {

class LlamaModel : public Model {
 public:
  explicit LlamaModel(const ModelConfig& c, ComputeMode mode);
  std::vector<TensorSpec> tensor_table() const override;

 protected:
  static std::string layer_name(int64_t l, const std::string& rest) {
    return "model.layers." + std::to_string(l) + "." + rest;
  }
  // nn.Linear by HF prefix ("model.layers.0.self_attn.q_proj"): weight, plus bias when the table has one,
  // plus the LoRA adapter on that module when one is set — the one place adapters are consulted.
  ag::Var proj(const ag::Var& x, const std::string& prefix) const;
  ag::Var norm(const ag::Var& x, const std::string& weight) const;

  // Hooks the families override.
  virtual void add_attention_tensors(std::vector<TensorSpec>& t, int64_t l) const;
  virtual void add_mlp_tensors(std::vector<TensorSpec>& t, int64_t l) const;
  virtual void add_norm_tensors(std::vector<TensorSpec>& t, int64_t l) const;
  struct QKV {
    ag::Var q, k, v;  // (T, H*D), (T, Hkv*D), (T, Hkv*D)
  };
  virtual QKV qkv(const ag::Var& h, int64_t l) const;
  virtual ag::Var mlp(const ag::Var& h, int64_t l) const;  // (T, C) -> (T, C)
  virtual AttnSpec attn_spec(int64_t l) const;
  // Qwen3 / Gemma-3: per-head RMSNorm of q and k (q_norm, k_norm over D) before rope, with this model's
  // norm convention (norm_unit_offset_).
  void add_qk_norm_tensors(std::vector<TensorSpec>& t, int64_t l) const;
  void apply_qk_norm(QKV& p, int64_t l) const;
  bool norm_unit_offset_ = false;  // Gemma: weight stored as offset from 1

  ag::Var embed(const Tensor& ids) override;
  void begin_forward(const std::vector<int64_t>& positions) override;
  ag::Var layer(int64_t l, const ag::Var& x, const ForwardPass& pass) override;
  ag::Var head(const ag::Var& x) override;

  Activation act_;
  RopeTables rope_;
};

// Shared helpers for tables.
TensorSpec linear_spec(const std::string& prefix, int64_t out, int64_t in);
TensorSpec vector_spec(const std::string& name, int64_t n, TensorRole role);

}  // namespace slm
