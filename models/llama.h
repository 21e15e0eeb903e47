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
  // nn.Linear by HF prefix ("model.layers.0.self_attn.q_proj"): weight, plus bias when the table has one.
  // The one place adapters will be consulted (LoRA).
  Tensor proj(const Tensor& x, const std::string& prefix) const;
  Tensor norm(const Tensor& x, const std::string& weight) const;

  // Hooks the families override.
  virtual void add_attention_tensors(std::vector<TensorSpec>& t, int64_t l) const;
  virtual void add_mlp_tensors(std::vector<TensorSpec>& t, int64_t l) const;
  virtual void add_norm_tensors(std::vector<TensorSpec>& t, int64_t l) const;
  struct QKV {
    Tensor q, k, v;  // (T, H*D), (T, Hkv*D), (T, Hkv*D)
  };
  virtual QKV qkv(const Tensor& h, int64_t l) const;
  virtual Tensor mlp(const Tensor& h, int64_t l) const;  // (T, C) -> (T, C)
  virtual AttnSpec attn_spec(int64_t l) const;
  // Qwen3 / Gemma-3: per-head RMSNorm of q and k (q_norm, k_norm over D) before rope, with this model's
  // norm convention (norm_unit_offset_).
  void add_qk_norm_tensors(std::vector<TensorSpec>& t, int64_t l) const;
  void apply_qk_norm(QKV& p, int64_t l) const;
  bool norm_unit_offset_ = false;  // Gemma: weight stored as offset from 1

  Tensor embed(const Tensor& ids) override;
  void begin_forward(int64_t pos0, int64_t T) override;
  void layer(int64_t l, Tensor& x, KVCache& cache, int64_t pos0) override;
  Tensor head(const Tensor& x) override;

  Activation act_;
  RopeTables rope_;
};

// Shared helpers for tables.
TensorSpec linear_spec(const std::string& prefix, int64_t out, int64_t in);
TensorSpec vector_spec(const std::string& name, int64_t n, TensorRole role);

}  // namespace slm
