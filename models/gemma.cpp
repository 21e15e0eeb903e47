// Gemma (1) (see gemma.h).
#include "models/gemma.h"

#include <cmath>

#include "models/families.h"

namespace slm {

ag::Var GemmaModel::embed(const Tensor& ids) {
  // transformers: hidden * torch.tensor(hidden_size ** 0.5, dtype=hidden.dtype); activations are f32 here.
  return ag::scale(LlamaModel::embed(ids), float(std::sqrt(double(config_.hidden_size))));
}

std::unique_ptr<Model> make_gemma(const ModelConfig& c, ComputeMode m) { return std::make_unique<GemmaModel>(c, m); }

}  // namespace slm
