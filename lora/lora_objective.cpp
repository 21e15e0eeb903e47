// LoRA objective (see lora_objective.h).
#include "lora/lora_objective.h"

#include <map>

#include "autograd/ops.h"
#include "tensor/error.h"

namespace slm {

std::string lora_param_name(const std::string& module, char which) {
  return module + (which == 'A' ? ".lora_A.default.weight" : ".lora_B.default.weight");
}

std::vector<int32_t> shifted_labels(const std::vector<int32_t>& ids, int64_t mask_before) {
  std::vector<int32_t> labels(ids.size(), -100);
  for (size_t t = 0; t + 1 < ids.size(); ++t)
    if (int64_t(t) + 1 >= mask_before) labels[t] = ids[t + 1];
  return labels;
}

void adapter_attach(Model& model, LoraAdapter& adapter) {
  std::map<std::string, ag::LoraWeights> attach;
  for (auto& [module, m] : adapter.modules) {
    ag::LoraWeights w;
    w.A = ag::Var(m.A);
    w.B = ag::Var(m.B);
    w.scaling = float(m.scaling);
    attach.emplace(module, std::move(w));
  }
  model.set_adapters(std::move(attach));
}

LoraObjective::LoraObjective(Model& model, LoraAdapter& adapter, bool grad_checkpoint)
    : model_(model), adapter_(adapter), grad_checkpoint_(grad_checkpoint), frozen_(model.matmul_weights()) {
  std::map<std::string, ag::LoraWeights> attach;
  const float dropout = float(adapter.config.lora_dropout);
  for (auto& [module, m] : adapter.modules) {
    ag::LoraWeights w;
    w.A = ag::Var::param(m.A);
    w.B = ag::Var::param(m.B);
    w.scaling = float(m.scaling);
    w.dropout = dropout;
    // The gradient buffers are the Vars' own: the trainer zeroes and reads them in place.
    params_.push_back({lora_param_name(module, 'A'), m.A, w.A.grad()});
    params_.push_back({lora_param_name(module, 'B'), m.B, w.B.grad()});
    attach.emplace(module, std::move(w));
  }
  model_.set_adapters(std::move(attach));
}

LoraObjective::~LoraObjective() { model_.set_adapters({}); }

std::vector<NamedParam> LoraObjective::params() { return params_; }

namespace {
void check_batch(const Batch& b) {
  SLM_CHECK(!b.ids.empty(), "[train] empty batch");
  SLM_CHECK(b.labels.size() == b.ids.size() && b.segments.size() == b.ids.size() &&
                b.positions.size() == b.ids.size(),
            "[train] batch ids, labels, segments and positions differ in length");
}
}  // namespace

CrossEntropy LoraObjective::forward_backward(const Batch& b, float grad_scale, uint64_t dropout_seed) {
  check_batch(b);
  const LossRows c = loss_rows(b);
  ag::TrainingMode training(true);
  model_.set_dropout_seed(dropout_seed);
  ag::Tape tape;
  CrossEntropy ce;
  {
    ag::Recording rec(&tape);
    ag::Var logits = model_.forward_packed(b.ids, b.positions, b.segments, grad_checkpoint_, c.rows);
    ce = ag::cross_entropy(logits, c.labels, grad_scale);
  }
  tape.backward();
  return ce;
}

CrossEntropy LoraObjective::evaluate(const Batch& b) {
  check_batch(b);
  ag::TrainingMode eval(false);
  ag::Recording off(nullptr);
  const LossRows c = loss_rows(b);
  ag::Var logits = model_.forward_packed(b.ids, b.positions, b.segments, false, c.rows);
  return cross_entropy(logits.value(), c.labels);
}

}  // namespace slm
