// The declarative tensor table of a family: every weight a checkpoint must hold, with its HF name
// verbatim, its shape, its role and whether export may quantise it. Loading validates a checkpoint
// against it; merge and export read the same table (style.md: one table per family).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace slm {

enum class TensorRole { Embedding, Norm, Linear, Bias, LmHead };

struct TensorSpec {
  std::string name;  // HF name, e.g. "model.layers.0.self_attn.q_proj.weight"
  Shape shape;       // as stored by HF, e.g. (N, K) for nn.Linear
  TensorRole role;
  bool quantisable;  // group-wise int4 candidate (export)
  bool optional = false;
};

// The loaded weights of a model, by HF name.
using WeightMap = std::map<std::string, Tensor>;

}  // namespace slm
