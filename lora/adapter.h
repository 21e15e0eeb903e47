// LoRA adapters in PEFT's on-disk format: adapter_config.json (LoraConfig) + adapter_model.safetensors
// with keys `base_model.model.<module>.lora_A.weight` (r, K) and `...lora_B.weight` (N, r).
// Reference: huggingface/peft src/peft/tuners/lora/{config,layer,model}.py, src/peft/config.py,
// src/peft/utils/save_and_load.py and tuners_utils.py (check_target_module_exists,
// _maybe_include_all_linear_layers), read at PEFT 0.20/0.21.
//
// What this is: the config (read robustly from PEFT-written files, written so PeftModel.from_pretrained
// accepts it for task CAUSAL_LM), target resolution against a family's tensor table, PEFT's init
// (A Kaiming-uniform, B zero, seeded), atomic save and validated load.
// What it is not: the forward/backward of the low-rank path (autograd/, models' `linear` hook) and
// merging (lora/merge.h). Plain LoRA on nn.Linear only: DoRA, LoRA bias, fan_in_fan_out, per-layer
// selection, modules_to_save, embedding/lm_head adapters and the LoRA variants are errors naming the field.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "models/config.h"
#include "models/tensor_table.h"
#include "tensor/tensor.h"

namespace slm {

// PEFT's target_modules / exclude_modules: a list of names or one regex string.
//   list:  a module matches a name when it equals it or ends with "." + name ("q_proj",
//          "self_attn.q_proj", "model.layers.0.self_attn.q_proj" all work);
//   regex: re.fullmatch(pattern, module) (here std::regex ECMAScript, which agrees with Python's re
//          on the patterns people write: alternation, groups, classes, .*, anchors);
//   "all-linear" (any case): every linear layer except the output layer lm_head.
struct LoraTargets {
  bool all_linear = false;
  bool is_regex = false;
  std::string regex;               // when is_regex
  std::vector<std::string> names;  // when a list (order kept for writing)
  bool empty() const { return !all_linear && !is_regex && names.empty(); }
};

// The adapter_config.json fields slm reads and writes (names verbatim).
struct LoraConfig {
  int64_t r = 8;
  double lora_alpha = 8;  // PEFT annotates int but accepts floats; written as an integer when integral
  double lora_dropout = 0.0;
  bool use_rslora = false;  // scaling = lora_alpha / sqrt(r) instead of lora_alpha / r
  LoraTargets target_modules;
  LoraTargets exclude_modules;
  // Per-module overrides, in file order (PEFT takes the first key k with re.match("(.*\.)?(k)$", module)).
  std::vector<std::pair<std::string, int64_t>> rank_pattern;
  std::vector<std::pair<std::string, double>> alpha_pattern;
  std::string init_lora_weights = "true";  // "true" | "false" | "gaussian" | "pissa" | ... (JSON bool or string)
  std::string base_model_name_or_path;
  std::string revision;  // "" = null
  std::string task_type = "CAUSAL_LM";
  std::string peft_version;  // as read; never written (slm is not PEFT)
};

// Parses adapter_config.json text; `origin` names the file in messages. Unknown fields are ignored (PEFT
// adds fields every release); fields that would change the math and are not implemented are errors.
LoraConfig lora_config_parse(const std::string& json_text, const std::string& origin = "adapter_config.json");
LoraConfig lora_config_load(const std::string& adapter_dir);  // ADAPTER_DIR/adapter_config.json
// The JSON PEFT's save_pretrained would write for this config (indent 2, keys sorted, ASCII).
std::string lora_config_json(const LoraConfig& c);

// "--targets q_proj,v_proj" (names, duplicates dropped), "all-linear" or "" (the default: all linear layers).
LoraTargets lora_targets_from_cli(const std::string& text);

// The rank / alpha / scaling of one module after rank_pattern and alpha_pattern.
int64_t lora_rank_for(const LoraConfig& c, const std::string& module);
double lora_alpha_for(const LoraConfig& c, const std::string& module);
double lora_scaling(const LoraConfig& c, int64_t r, double alpha);  // alpha / r or alpha / sqrt(r)

// The linear modules of `table` that `c` targets: HF module prefixes ("model.layers.0.self_attn.q_proj",
// the weight name without ".weight"), in table order. Errors: a target that names lm_head or
// embed_tokens (not supported), no module matched at all, or — when `strict` (new adapters from
// --targets) — any listed name that matches nothing; the messages list the available names.
std::vector<std::string> lora_resolve_targets(const LoraConfig& c, const std::vector<TensorSpec>& table,
                                              bool strict = true);

// One adapted linear layer y = x Wᵀ + scaling · (x Aᵀ) Bᵀ, W (N, K).
struct LoraModule {
  int64_t r = 0;
  double alpha = 0;
  double scaling = 0;  // Python float; torch applies it as float(scaling) in f32 tensor ops
  Tensor A;            // (r, K) f32
  Tensor B;            // (N, r) f32
};

struct LoraAdapter {
  LoraConfig config;
  std::map<std::string, LoraModule> modules;  // by HF module prefix
  const LoraModule* find(const std::string& module) const {
    auto it = modules.find(module);
    return it == modules.end() ? nullptr : &it->second;
  }
  LoraModule* find(const std::string& module) {
    auto it = modules.find(module);
    return it == modules.end() ? nullptr : &it->second;
  }
};

// The tensor table of the family `config` describes (no weights are read).
std::vector<TensorSpec> adapter_base_table(const ModelConfig& config);

// PEFT's reset_lora_parameters(init_lora_weights=True): A ~ U(-1/√K, 1/√K) (kaiming_uniform_(a=√5)
// with fan_in K), B = 0. RNG (torch's generator is not reproduced): per module a xoshiro256** stream
// seeded by SplitMix64 from `seed` and the FNV-1a hash of the module name, so a module's init does not
// depend on which other modules are adapted; u = (next() >> 40) · 2⁻²⁴ in [0, 1), a = -b + u · 2b in
// double, rounded to f32. When `base_dtype` is BF16/F16, A is rounded through it, as PEFT's layer does
// (init in f32, cast to the base layer's dtype, then autocast_adapter_dtype back to f32).
LoraAdapter adapter_init(const LoraConfig& config, const std::vector<TensorSpec>& table, uint64_t seed,
                         DType base_dtype = DType::F32);

// Writes DIR/adapter_config.json and DIR/adapter_model.safetensors (F32, metadata {"format": "pt"}, keys
// as get_peft_model_state_dict: `base_model.model.<module>.lora_{A,B}.weight`). Atomic: both files go to
// DIR.tmp-PID/, which then replaces DIR (an existing DIR is moved aside and removed after the rename).
// "all-linear" is written as the explicit list of adapted module names, as PEFT resolves it.
void adapter_save(const LoraAdapter& adapter, const std::string& dir);

// Reads a PEFT-written (or adapter_save-written) adapter and validates it against the base `table`:
// every module is a linear layer of the base, A is (r, K) and B is (N, r) with (N, K) the base weight's
// shape and r the config's rank for that module, the config targets exactly the modules in the file.
// PEFT writes keys without the adapter name and needs `base_model.model.`; slm is more lenient and also
// takes `lora_A.default.weight` (PEFT's parameter names, as `slm grad` writes them) and unprefixed keys.
// F16/BF16 weights are widened to f32 (PEFT's autocast_adapter_dtype). Errors name the key and the remedy.
LoraAdapter adapter_load(const std::string& dir, const std::vector<TensorSpec>& table);

// `base_model.model.<module>.lora_A.weight` (which = 'A') or `...lora_B.weight` (which = 'B').
std::string adapter_key(const std::string& module, char which);

}  // namespace slm
