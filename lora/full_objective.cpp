// Full-parameter training objective (see full_objective.h).
#include "lora/full_objective.h"

#include <cmath>
#include <map>

#include "autograd/ops.h"
#include "tensor/error.h"

namespace slm {

namespace {

uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Standard normal by Box-Muller from 53-bit uniforms (portable: no std:: distributions).
double normal(uint64_t& s) {
  const double u1 = (double(splitmix(s) >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]
  const double u2 = double(splitmix(s) >> 11) * 0x1.0p-53;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

}  // namespace

WeightMap init_weights(const ModelConfig& config, uint64_t seed, double std) {
  std::vector<TensorSpec> table = make_model(config, ComputeMode::F32, {})->tensor_table();
  const bool unit_offset = config.model_type.rfind("gemma", 0) == 0;
  WeightMap w;
  uint64_t s = seed;
  for (const TensorSpec& spec : table) {
    Tensor t = Tensor::zeros(spec.shape, DType::F32);
    float* d = t.data<float>();
    if (spec.role == TensorRole::Norm) {
      if (!unit_offset)
        for (int64_t i = 0; i < t.numel(); ++i) d[i] = 1.0f;
    } else if (spec.role != TensorRole::Bias) {
      for (int64_t i = 0; i < t.numel(); ++i) d[i] = float(normal(s) * std);
    }
    w[spec.name] = t;
  }
  return w;
}

FullObjective::FullObjective(Model& model, const WeightMap& weights) : model_(model) {
  std::map<std::string, ag::Var> trainable;
  for (const auto& [name, t] : weights) {
    SLM_CHECK(t.dtype() == DType::F32, "[pretrain] weight '" + name + "' must be f32 for full training");
    ag::Var v = ag::Var::param(t);
    params_.push_back({name, t, v.grad()});
    trainable.emplace(name, v);
  }
  model_.set_trainable(std::move(trainable));
}

FullObjective::~FullObjective() { model_.set_trainable({}); }

CrossEntropy FullObjective::forward_backward(const Batch& b, float grad_scale, uint64_t dropout_seed) {
  const LossRows c = loss_rows(b);
  ag::TrainingMode training(true);
  model_.set_dropout_seed(dropout_seed);
  ag::Tape tape;
  CrossEntropy ce;
  {
    ag::Recording rec(&tape);
    ag::Var logits = model_.forward_packed(b.ids, b.positions, b.segments, false, c.rows);
    ce = ag::cross_entropy(logits, c.labels, grad_scale);
  }
  tape.backward();
  return ce;
}

CrossEntropy FullObjective::evaluate(const Batch& b) {
  ag::TrainingMode eval(false);
  ag::Recording off(nullptr);
  const LossRows c = loss_rows(b);
  ag::Var logits = model_.forward_packed(b.ids, b.positions, b.segments, false, c.rows);
  return cross_entropy(logits.value(), c.labels);
}

}  // namespace slm
