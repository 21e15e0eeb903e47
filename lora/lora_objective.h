// The Objective (lora/objective.h) of LoRA fine-tuning: a base Model with a LoraAdapter attached to its
// linear layers, trained on packed batches with next-token cross-entropy. The forward is the model's own
// (Model::forward_packed through LlamaModel::proj); gradients flow to the adapters' A and B only — the
// base weights are plain Tensors and get no gradient buffers; they are registered as FrozenWeights for the
// objective's lifetime, so the long-sequence GEMMs read copies packed once for oneDNN.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "lora/adapter.h"
#include "lora/objective.h"
#include "models/model.h"
#include "tensor/ops.h"

namespace slm {

// PEFT's parameter name of a module's A or B inside a PeftModel, without "base_model.model."
// ("model.layers.0.self_attn.q_proj.lora_A.default.weight").
std::string lora_param_name(const std::string& module, char which);

// Runs `model` with `adapter` (PEFT semantics, no dropout outside training): the adapter's A/B tensors are used
// in place, so later changes to them are seen. Detach with model.set_adapters({}).
void adapter_attach(Model& model, LoraAdapter& adapter);

class LoraObjective : public Objective {
 public:
  // Attaches `adapter` to `model` (both must outlive this object). dropout: PEFT's lora_dropout.
  LoraObjective(Model& model, LoraAdapter& adapter, bool grad_checkpoint = false);
  ~LoraObjective() override;

  std::vector<NamedParam> params() override;
  CrossEntropy forward_backward(const Batch& b, float grad_scale, uint64_t dropout_seed) override;
  CrossEntropy evaluate(const Batch& b) override;

 private:
  Model& model_;
  LoraAdapter& adapter_;
  bool grad_checkpoint_;
  std::vector<NamedParam> params_;
  FrozenWeights frozen_;  // the base model's matmul weights, packed once for the GEMMs (tensor/ops.h)
};

// Labels for one sequence as transformers builds them from `labels = ids` with positions < mask_before
// set to -100, already shifted: label[t] = ids[t + 1] when t + 1 >= mask_before, else -100; the last is -100.
std::vector<int32_t> shifted_labels(const std::vector<int32_t>& ids, int64_t mask_before);

}  // namespace slm
