// The Objective of full-parameter training (pre-training a small model from scratch, e.g. the README's
// embedded default): every weight of the model is a trainable f32 parameter, the loss is next-token
// cross-entropy over packed batches through the model's own forward (Model::set_trainable). Weights are
// initialised as transformers' _init_weights does for these families (normal(0, initializer_range) for linear
// and embedding weights, zero biases, RMSNorm weights 1 — 0 for Gemma's 1 + w form), from a seeded generator
// of our own. Not for large models: parameters, gradients and AdamW state are 16 bytes per weight.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "lora/objective.h"
#include "models/model.h"

namespace slm {

// Fresh f32 weights for `config` (its family's tensor table), seeded.
WeightMap init_weights(const ModelConfig& config, uint64_t seed, double std = 0.02);

class FullObjective : public Objective {
 public:
  // Makes every weight of `model` (built with f32 `weights`, which it shares) trainable.
  FullObjective(Model& model, const WeightMap& weights);
  ~FullObjective() override;
  std::vector<NamedParam> params() override { return params_; }
  CrossEntropy forward_backward(const Batch& b, float grad_scale, uint64_t dropout_seed) override;
  CrossEntropy evaluate(const Batch& b) override;

 private:
  Model& model_;
  std::vector<NamedParam> params_;
};

}  // namespace slm
