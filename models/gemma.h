// Gemma (1): Llama with RMSNorm weights stored as an offset from 1 (`x * (1 + w)`), the embedding
// scaled by sqrt(hidden_size), GELU-tanh MLPs and tied embeddings. Gemma2/Gemma3 build on it.
// Reference: transformers modeling_gemma.py.
#pragma once
#include "models/llama.h"

namespace slm {

class GemmaModel : public LlamaModel {
 public:
  GemmaModel(const ModelConfig& c, ComputeMode mode) : LlamaModel(c, mode) { norm_unit_offset_ = true; }

 protected:
  ag::Var embed(const Tensor& ids) override;
};

}  // namespace slm
