// slm merge --model DIR --adapter ADAPTER_DIR --out DIR — a LoRA adapter merged into its base model, written
// as a complete Hugging Face checkpoint directory (lora/merge.h; PEFT's merge_and_unload).
#include "lora/merge.h"

#include <cstdio>

#include "cli/verbs.h"

namespace slm::cli {

static int run_merge(const Args& a) {
  for (const char* name : {"--model", "--adapter", "--out"})
    if (!a.has(name)) throw UsageError{std::string(name) + " is required"};
  const MergeSummary s = adapter_merge(a.str("--model"), a.str("--adapter"), a.str("--out"));
  std::string copied;
  for (const auto& f : s.copied_files) copied += (copied.empty() ? "" : ", ") + f;
  std::printf("merged %lld modules into %s (%s): max |dW| = %.4g\n", (long long)s.modules_merged,
              a.str("--out").c_str(), std::string(dtype_name(s.dtype)).c_str(), double(s.max_abs_delta));
  std::printf("wrote %lld tensors in %zu safetensors file(s); copied %s\n", (long long)s.tensors_written,
              s.weight_files.size(), copied.empty() ? "no other files" : copied.c_str());
  return 0;
}

Verb make_merge_verb() {
  return {"merge",
          "--model DIR --adapter ADAPTER_DIR --out DIR",
          "Merge a LoRA adapter (PEFT format) into its base model: a complete HF checkpoint directory.",
          {},
          {{"--model", "DIR", "base model directory (config.json + safetensors)", ""},
           {"--adapter", "ADAPTER_DIR", "adapter directory (adapter_config.json + adapter_model.safetensors)", ""},
           {"--out", "DIR", "output directory; must not exist (or be empty)", ""}},
          run_merge};
}

}  // namespace slm::cli
