// MLC parameter layouts (see mlc_layout.h). One rule row per family, transcribed from mlc-ai/mlc-llm @ 79d603f;
// the per-tensor table is derived from the family's HF tensor table, never written out by hand.
#include "codegen/mlc_layout.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "models/model.h"
#include "models/safetensors.h"
#include "tensor/error.h"

namespace slm::codegen {
namespace {

// What MLC's model + loader do with a family's HF tensors.
struct FamilyRules {
  const char* family;
  const char* model_file;  // python/mlc_llm/model/<dir>/<file>
  const char* loader_file;
  const char* qkv_target;  // fused q|k|v parameter name under self_attn; nullptr = not fused by the loader
  bool biases;             // MLC's model has (and the loader maps) the attention biases HF has
  bool gate_up;            // mlp.gate_proj | mlp.up_proj -> mlp.gate_up_proj (concat axis 0)
  bool norm_add_one;       // every RMSNorm weight stored as 1 + w (gemma loaders' add_one)
  bool always_tied;        // MLC's model has no lm_head; the embedding is the head
  const char* prefix;      // prepended to every MLC name
  std::vector<std::pair<std::string, std::string>> renames;  // HF name piece -> MLC name piece, applied in order
};

const std::vector<FamilyRules>& family_rules() {
  static const std::vector<FamilyRules> rules = {
      {"llama", "llama/llama_model.py", "llama/llama_loader.py", "qkv_proj", false, true, false, false, "", {}},
      {"qwen2", "qwen2/qwen2_model.py", "qwen2/qwen2_loader.py", "c_attn", true, true, false, false, "", {}},
      {"qwen3", "qwen3/qwen3_model.py", "qwen3/qwen3_loader.py", "c_attn", true, true, false, false, "", {}},
      {"phi3",
       "phi3/phi3_model.py",
       "phi3/phi3_loader.py",
       nullptr,
       false,
       false,
       false,
       false,
       "",
       {{"model.embed_tokens.", "transformer.embd."},
        {"model.norm.", "transformer.norm."},
        {"model.layers.", "transformer.h."},
        {".input_layernorm.", ".ln."},
        {".self_attn.qkv_proj.", ".mixer.qkv_proj."},
        {".self_attn.o_proj.", ".mixer.out_proj."}}},
      {"gemma", "gemma/gemma_model.py", "gemma/gemma_loader.py", "qkv_proj", false, true, true, true, "", {}},
      {"gemma2", "gemma2/gemma2_model.py", "gemma2/gemma2_loader.py", "qkv_proj", false, true, true, true, "", {}},
      {"gemma3_text",
       "gemma3/gemma3_model.py",
       "gemma3/gemma3_loader.py",
       nullptr,
       true,
       true,
       true,
       true,
       "language_model.",
       {}},
  };
  return rules;
}

const FamilyRules& rules_for(const std::string& family) {
  for (const auto& r : family_rules())
    if (family == r.family) return r;
  throw Error("[export] model_type '" + family +
              "' has no MLC layout (supported: llama, qwen2, qwen3, phi3, gemma, "
              "gemma2, gemma3_text)");
}

std::string mlc_path(const char* file) { return std::string("python/mlc_llm/model/") + file; }

std::string rename(const FamilyRules& r, std::string name) {
  for (const auto& [from, to] : r.renames) {
    size_t p = name.find(from);
    if (p != std::string::npos) name.replace(p, from.size(), to);
  }
  return r.prefix + name;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// "model.layers.3.self_attn.q_proj.weight" -> {"model.layers.3.self_attn.", "q_proj", ".weight"}.
struct Split {
  std::string module, proj, suffix;
};
bool split_proj(const std::string& name, const std::string& module_piece, Split* out) {
  size_t m = name.find(module_piece);
  if (name.rfind("model.layers.", 0) != 0 || m == std::string::npos) return false;
  size_t start = m + module_piece.size();
  size_t dot = name.find('.', start);
  if (dot == std::string::npos) return false;
  *out = {name.substr(0, start), name.substr(start, dot - start), name.substr(dot)};
  return true;
}

// The fused group an HF tensor belongs to, or "" (target MLC name without prefix/renames).
struct Fusion {
  std::string target;              // "model.layers.0.self_attn.c_attn.weight"
  std::vector<std::string> parts;  // HF names in concat order
  std::string rule;
};
bool fusion_of(const FamilyRules& r, const std::string& hf, Fusion* f) {
  Split s;
  if (r.qkv_target && split_proj(hf, ".self_attn.", &s) &&
      (s.proj == "q_proj" || s.proj == "k_proj" || s.proj == "v_proj") &&
      (s.suffix == ".weight" || (s.suffix == ".bias" && r.biases))) {
    f->target = s.module + r.qkv_target + s.suffix;
    f->parts = {s.module + "q_proj" + s.suffix, s.module + "k_proj" + s.suffix, s.module + "v_proj" + s.suffix};
    f->rule = std::string(r.loader_file) + " (loader/standard_loader.py): " + r.qkv_target + s.suffix +
              " = concatenate([q, k, v], axis=0)";
    return true;
  }
  if (r.gate_up && split_proj(hf, ".mlp.", &s) && (s.proj == "gate_proj" || s.proj == "up_proj") &&
      s.suffix == ".weight") {
    f->target = s.module + "gate_up_proj.weight";
    f->parts = {s.module + "gate_proj.weight", s.module + "up_proj.weight"};
    f->rule = std::string(r.loader_file) +
              " (loader/standard_loader.py): gate_up_proj.weight = concatenate([gate, up], axis=0)";
    return true;
  }
  return false;
}

[[noreturn]] void unsupported(const FamilyRules& r, const std::string& hf, const std::string& why) {
  throw Error("[export] " + std::string(r.family) + ": HF tensor '" + hf + "' has no MLC parameter — " + why +
              " (mlc-llm " + mlc_path(r.model_file) + "); MLC-LLM/WebLLM cannot run this model as configured");
}

void check_representable(const FamilyRules& r, const TensorSpec& spec) {
  if (spec.role == TensorRole::Bias && !r.biases) {
    if (std::string(r.family) == "llama")
      unsupported(r, spec.name, "MLC's Llama has no attention or MLP biases (attention_bias / mlp_bias must be false)");
    unsupported(r, spec.name, "MLC's loader maps no biases for " + std::string(r.family));
  }
  if (spec.role == TensorRole::LmHead && r.always_tied)
    unsupported(r, spec.name, "MLC's model always ties lm_head to the embedding (tie_word_embeddings must be true)");
}

void add_params(MlcLayout& L, size_t src) {
  const MlcSource& s = L.sources[src];
  const quant::SchemeInfo& info = quant::scheme_info(L.scheme);
  const std::string base = s.mlc_name.substr(0, s.mlc_name.size() - std::string(".weight").size());
  if (s.quantised && info.quantized) {
    const int64_t N = s.shape[0], K = s.shape[1];
    const int64_t groups = (K + info.group_size - 1) / info.group_size;
    const int64_t words = groups * (info.group_size / info.elems_per_word);
    std::vector<std::string> names = quant::mlc_param_names(L.scheme, base);
    L.params.push_back({names[0], {N, words}, "uint32", MlcParamKind::QWeight, src});
    L.params.push_back({names[1], {N, groups}, mlc_model_dtype(L.scheme), MlcParamKind::QScale, src});
  } else {
    L.params.push_back({s.mlc_name, s.shape, mlc_model_dtype(L.scheme), MlcParamKind::Weight, src});
  }
}

}  // namespace

std::string mlc_model_dtype(quant::Scheme scheme) {
  return quant::scheme_info(scheme).model_dtype == DType::F16 ? "float16" : "float32";
}

const MlcParam* MlcLayout::find(const std::string& name) const {
  for (const auto& p : params)
    if (p.name == name) return &p;
  return nullptr;
}

MlcLayout mlc_layout(const ModelConfig& config, quant::Scheme scheme) {
  const FamilyRules& r = rules_for(config.model_type);
  MlcLayout L;
  L.family = config.model_type;
  L.scheme = scheme;
  L.model_file = mlc_path(r.model_file);
  L.loader_file = mlc_path(r.loader_file);
  const std::vector<TensorSpec> table = make_model(config, ComputeMode::F32, {})->tensor_table();
  std::map<std::string, const TensorSpec*> by_name;
  for (const auto& spec : table) by_name[spec.name] = &spec;
  std::set<std::string> done;
  for (const auto& spec : table) {
    if (done.count(spec.name)) continue;
    check_representable(r, spec);
    MlcSource s;
    s.role = spec.role;
    s.quantised = spec.quantisable && (spec.role == TensorRole::Linear || spec.role == TensorRole::Embedding ||
                                       spec.role == TensorRole::LmHead);
    Fusion f;
    if (fusion_of(r, spec.name, &f)) {
      int64_t rows = 0;
      for (const auto& part : f.parts) {
        auto it = by_name.find(part);
        if (it == by_name.end()) unsupported(r, spec.name, "its fused partner '" + part + "' is not in the model");
        s.hf_names.push_back(part);
        s.hf_rows.push_back(it->second->shape[0]);
        rows += it->second->shape[0];
        done.insert(part);
      }
      s.shape = spec.shape;
      s.shape[0] = rows;
      s.mlc_name = rename(r, f.target);
      s.transform = MlcTransform::Concat;
      s.rule = f.rule;
    } else {
      s.hf_names = {spec.name};
      s.hf_rows = {spec.shape[0]};
      s.shape = spec.shape;
      s.mlc_name = rename(r, spec.name);
      done.insert(spec.name);
      if (r.norm_add_one && spec.role == TensorRole::Norm) {
        s.transform = MlcTransform::AddOne;
        s.rule = L.loader_file + ": add_one — stored weight = (x + 1).astype(dtype)";
      } else {
        s.rule = std::string(r.renames.empty() ? L.loader_file + ": 1:1 (x.astype(dtype))"
                                               : L.loader_file + ": _add(mlc_name, hf_name), renamed");
      }
    }
    SLM_CHECK(ends_with(s.mlc_name, ".weight") || ends_with(s.mlc_name, ".bias"),
              "[export] internal: MLC name '" + s.mlc_name + "' ends in neither .weight nor .bias");
    if (!ends_with(s.mlc_name, ".weight")) s.quantised = false;
    L.sources.push_back(std::move(s));
    add_params(L, L.sources.size() - 1);
  }
  return L;
}

std::vector<size_t> mlc_loading_order(const MlcLayout& layout, const std::vector<std::string>& hf_names_in_file_order) {
  std::map<std::string, std::vector<size_t>> users;  // HF name -> sources using it
  for (size_t i = 0; i < layout.sources.size(); ++i)
    for (const auto& h : layout.sources[i].hf_names) users[h].push_back(i);
  std::vector<size_t> order;
  std::vector<bool> seen(layout.sources.size(), false);
  for (const auto& h : hf_names_in_file_order) {
    auto it = users.find(h);
    if (it == users.end()) continue;
    for (size_t i : it->second)
      if (!seen[i]) seen[i] = true, order.push_back(i);
  }
  for (size_t i = 0; i < layout.sources.size(); ++i)
    if (!seen[i]) order.push_back(i);
  return order;
}

std::vector<std::string> hf_file_order(const std::string& model_dir) {
  Checkpoint ck = Checkpoint::open(model_dir);
  if (!ends_with(ck.source(), ".index.json")) return ck.names();  // sorted bytewise, as safe_open.keys()
  std::ifstream f(ck.source());
  std::stringstream ss;
  ss << f.rdbuf();
  nlohmann::ordered_json j;
  try {
    j = nlohmann::ordered_json::parse(ss.str());
  } catch (const nlohmann::json::exception& e) {
    throw Error("[export] " + ck.source() + ": not valid JSON (" + e.what() + ")");
  }
  std::vector<std::string> files;
  std::map<std::string, std::vector<std::string>> per_file;
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    const std::string file = it.value().get<std::string>();
    if (!per_file.count(file)) files.push_back(file);
    per_file[file].push_back(it.key());
  }
  std::vector<std::string> out;
  for (const auto& file : files) out.insert(out.end(), per_file[file].begin(), per_file[file].end());
  return out;
}

}  // namespace slm::codegen
