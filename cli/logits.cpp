// slm logits MODEL_DIR --ids 3,17,250 --out FILE.safetensors — one forward over the whole sequence,
// written as one F32 tensor `logits` of shape [T, vocab].
#include <cstdio>

#include "cli/common.h"
#include "cli/verbs.h"
#include "codegen/export_load.h"
#include "lora/adapter.h"
#include "lora/lora_objective.h"
#include "models/safetensors.h"

namespace slm::cli {

static int run_logits(const Args& a) {
  std::vector<int32_t> ids = ids_option(a, "--ids");
  if (!a.has("--out")) throw UsageError{"--out is required"};
  std::unique_ptr<Model> m = codegen::load_model_or_export(a.positional[0], compute_mode(a));
  LoraAdapter adapter;
  if (a.has("--adapter")) {
    adapter = adapter_load(a.str("--adapter"), m->tensor_table());
    adapter_attach(*m, adapter);
  }
  KVCache cache = m->make_cache(int64_t(ids.size()));
  Tensor logits = m->forward(ids, cache);
  safetensors_write(a.str("--out"), {{"logits", logits}});
  std::printf("wrote logits [%lld, %lld] to %s\n", (long long)logits.size(0), (long long)logits.size(1),
              a.str("--out").c_str());
  return 0;
}

Verb make_logits_verb() {
  return {"logits",
          "MODEL_DIR --ids 3,17,250 --out FILE.safetensors [--adapter DIR]",
          "Run the sequence once and write its logits as an F32 tensor 'logits' [T, vocab].",
          {"MODEL_DIR"},
          {{"--ids", "IDS", "comma-separated token ids", ""},
           {"--out", "FILE", "output .safetensors file", ""},
           {"--adapter", "DIR", "run with a PEFT-format LoRA adapter (unmerged)", ""},
           compute_option()},
          run_logits};
}

}  // namespace slm::cli
