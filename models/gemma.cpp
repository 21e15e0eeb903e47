// Gemma (1) (see gemma.h).
#include "models/gemma.h"

#include <cmath>

#include "models/families.h"

namespace slm {

Tensor GemmaModel::embed(const Tensor& ids) {
  Tensor x = LlamaModel::embed(ids);
  // transformers: hidden * torch.tensor(hidden_size ** 0.5, dtype=hidden.dtype); activations are f32 here.
  scale_inplace(x, float(std::sqrt(double(config_.hidden_size))));
  return x;
}

std::unique_ptr<Model> make_gemma(const ModelConfig& c, ComputeMode m) { return std::make_unique<GemmaModel>(c, m); }

}  // namespace slm
