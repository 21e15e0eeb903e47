// slm grad --model DIR --adapter ADAPTER_DIR --ids 3,17,… --mask-before K --out FILE.safetensors
// The parity tool: one sequence, labels = the ids shifted as transformers does with positions before K
// ignored (-100), no dropout. Writes the mean cross-entropy as F32 `loss` [1] and the gradient of every
// LoRA parameter (F32) under PEFT's parameter names without "base_model.model."
// (model.layers.0.self_attn.q_proj.lora_A.default.weight).
#include <cstdio>

#include "cli/common.h"
#include "cli/verbs.h"
#include "lora/adapter.h"
#include "lora/lora_objective.h"
#include "models/safetensors.h"
#include "tensor/error.h"

namespace slm::cli {

static int run_grad(const Args& a) {
  for (const char* req : {"--model", "--adapter", "--out", "--mask-before"})
    if (!a.has(req)) throw UsageError{std::string(req) + " is required"};
  std::vector<int32_t> ids = ids_option(a, "--ids");
  if (ids.size() < 2) throw UsageError{"--ids needs at least two tokens (one prediction)"};
  const int64_t mask_before = a.integer("--mask-before");
  if (mask_before < 0) throw UsageError{"--mask-before must be >= 0"};

  std::unique_ptr<Model> model = load_model(a.str("--model"), compute_mode(a));
  LoraAdapter adapter = adapter_load(a.str("--adapter"), model->tensor_table());
  adapter.config.lora_dropout = 0.0;  // the parity contract: no dropout
  LoraObjective objective(*model, adapter);

  Batch b;
  b.ids = ids;
  b.labels = shifted_labels(ids, mask_before);
  b.segments.assign(ids.size(), 0);
  for (size_t t = 0; t < ids.size(); ++t) b.positions.push_back(int32_t(t));
  const int64_t counted = b.counted_tokens();
  if (counted == 0) throw UsageError{"--mask-before leaves no token to predict"};

  CrossEntropy ce = objective.forward_backward(b, 1.0f / float(counted), 0);
  const float loss = float(ce.loss_sum / double(ce.count));
  std::vector<std::pair<std::string, Tensor>> out;
  out.emplace_back("loss", Tensor::from_f32({loss}, {1}));
  for (const NamedParam& p : objective.params()) out.emplace_back(p.name, p.grad);
  safetensors_write(a.str("--out"), out);
  std::printf("loss %.6f over %lld predicted tokens; wrote %zu gradients to %s\n", loss, (long long)counted,
              out.size() - 1, a.str("--out").c_str());
  return 0;
}

Verb make_grad_verb() {
  return {"grad",
          "--model DIR --adapter ADAPTER_DIR --ids 3,17,… --mask-before K --out FILE.safetensors",
          "Loss and LoRA gradients of one sequence (PEFT parameter names), for parity checks.",
          {},
          {{"--model", "DIR", "base model (HF directory)", ""},
           {"--adapter", "DIR", "PEFT-format adapter directory", ""},
           {"--ids", "IDS", "comma-separated token ids", ""},
           {"--mask-before", "K", "positions before K are not predicted (label -100)", ""},
           {"--out", "FILE", "output .safetensors file", ""},
           compute_option()},
          run_grad};
}

}  // namespace slm::cli
