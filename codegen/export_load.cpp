// Export directory -> native Model (see export_load.h).
#include "codegen/export_load.h"

#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "codegen/mlc_layout.h"
#include "codegen/tensor_cache.h"
#include "quant/group_quant.h"
#include "tensor/error.h"

namespace slm::codegen {
namespace {

using json = nlohmann::json;

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// Keys MLC's config dataclasses / gen_config put into model_config that are not HF config.json fields
// (mlc-llm python/mlc_llm/model/*/…_model.py Config fields, interface/gen_config.py).
const std::set<std::string> kMlcOnlyKeys = {
    "context_window_size", "prefill_chunk_size",     "tensor_parallel_shards", "pipeline_parallel_stages",
    "max_batch_size",      "disaggregation",         "attention_sink_size",    "kwargs",
    "is_text_model",       "position_embedding_base"};

DType resident(TensorRole role, ComputeMode mode) {
  if (mode == ComputeMode::BF16 &&
      (role == TensorRole::Linear || role == TensorRole::LmHead || role == TensorRole::Embedding))
    return DType::BF16;
  return DType::F32;
}

std::vector<const MlcParam*> params_of(const MlcLayout& layout, size_t src) {
  std::vector<const MlcParam*> ps;
  for (const auto& p : layout.params)
    if (p.source == src) ps.push_back(&p);
  return ps;
}

void undo_add_one(const MlcSource& s, Tensor& v) {  // v F32 contiguous
  if (s.transform != MlcTransform::AddOne) return;
  float* d = v.data<float>();
  for (int64_t k = 0; k < v.numel(); ++k) d[k] -= 1.0f;  // exact for stored values in [0.5, 2] (Sterbenz)
}

// A non-quantised source: the stored record widened to F32, split into its HF tensors.
void load_plain(const TensorCache& cache, const MlcParam& p, const MlcSource& s, ComputeMode mode, WeightMap& w,
                const ExportTensorVisitor& visit) {
  Tensor v = cache.get(p.name, p.shape, p.dtype).to(DType::F32);
  undo_add_one(s, v);
  int64_t row = 0;
  for (size_t i = 0; i < s.hf_names.size(); ++i) {
    Tensor part = s.hf_names.size() == 1 ? v : v.narrow(0, row, s.hf_rows[i]).contiguous();
    row += s.hf_rows[i];
    if (visit) visit(s.hf_names[i], 0, part);
    const DType dt = resident(s.role, mode);
    w[s.hf_names[i]] = part.dtype() == dt ? part : part.to(dt);
  }
}

// An int4 source (N, K): dequantised block by block (quant::dequantize_row, exactly dequantize's values)
// straight into each HF tensor's resident dtype.
void load_q4(const TensorCache& cache, const MlcLayout& layout, const std::vector<const MlcParam*>& ps,
             const MlcSource& s, ComputeMode mode, WeightMap& w, const ExportTensorVisitor& visit) {
  quant::QuantizedWeight q;
  q.scheme = layout.scheme;
  q.group_size = quant::scheme_info(layout.scheme).group_size;
  q.rows = s.shape[0];
  q.cols = s.shape[1];
  q.q_weight = cache.get(ps[0]->name, ps[0]->shape, ps[0]->dtype);
  q.q_scale = cache.get(ps[1]->name, ps[1]->shape, ps[1]->dtype);
  quant::check_quantized(q, ps[0]->name.c_str());
  const int64_t K = q.cols, block = std::max<int64_t>(1, (int64_t(1) << 20) / std::max<int64_t>(K, 1));
  Tensor buf = Tensor::empty({std::min(block, q.rows), K});
  int64_t row = 0;
  for (size_t i = 0; i < s.hf_names.size(); ++i) {
    const int64_t rows = s.hf_rows[i];
    Tensor dst = Tensor::empty({rows, K}, resident(s.role, mode));
    for (int64_t b0 = 0; b0 < rows; b0 += block) {
      const int64_t nb = std::min(block, rows - b0);
      Tensor blk = buf.narrow(0, 0, nb);
      float* f = blk.data<float>();
#pragma omp parallel for schedule(static) if (nb * K >= (int64_t(1) << 15))
      for (int64_t r = 0; r < nb; ++r) quant::dequantize_row(q, row + b0 + r, f + r * K);
      undo_add_one(s, blk);
      if (visit) visit(s.hf_names[i], b0, blk);
      dst.narrow(0, b0, nb).copy_from(blk);
    }
    w[s.hf_names[i]] = dst;
    row += rows;
  }
}

}  // namespace

bool is_export_dir(const std::string& dir) {
  return exists(dir + "/mlc-chat-config.json") || exists(dir + "/tensor-cache.json");
}

ModelConfig model_config_from_chat_config(const json& chat, const std::string& origin) {
  if (!chat.is_object() || !chat.contains("model_config") || !chat["model_config"].is_object())
    throw Error("[export] " + origin + ": has no 'model_config' object — not an mlc-chat-config.json slm can read");
  json mc = chat["model_config"];
  if (mc.contains("text_config") && mc["text_config"].is_object()) {  // Gemma3Config nests the text model
    for (auto it = mc["text_config"].begin(); it != mc["text_config"].end(); ++it)
      if (!mc.contains(it.key())) mc[it.key()] = it.value();
    mc.erase("text_config");
  }
  if (!mc.contains("model_type") && chat.contains("model_type")) mc["model_type"] = chat["model_type"];
  const bool has_theta = mc.contains("rope_theta") || mc.contains("rope_parameters");
  if (!has_theta && mc.contains("position_embedding_base") && mc["position_embedding_base"].is_number())
    mc["rope_theta"] = mc["position_embedding_base"];
  if (!mc.contains("max_position_embeddings") && mc.contains("context_window_size") &&
      mc["context_window_size"].is_number_integer() && mc["context_window_size"].get<int64_t>() > 0)
    mc["max_position_embeddings"] = mc["context_window_size"];
  if (mc.contains("rope_scaling") && mc["rope_scaling"].is_object()) {  // Phi3Config copies these into it
    json& rs = mc["rope_scaling"];
    if (rs.contains("max_position_embeddings") && !mc.contains("max_position_embeddings"))
      mc["max_position_embeddings"] = rs["max_position_embeddings"];
    rs.erase("max_position_embeddings");
  }
  for (const auto& k : kMlcOnlyKeys) mc.erase(k);
  return parse_config(mc.dump(), origin + " (model_config)");
}

ExportConfig load_export_config(const std::string& dir) {
  const std::string path = dir + "/mlc-chat-config.json";
  std::ifstream f(path, std::ios::binary);
  if (!f)
    throw Error("[export] " + dir + ": no mlc-chat-config.json — is this an export directory (slm export --out)?");
  std::stringstream ss;
  ss << f.rdbuf();
  json j;
  try {
    j = json::parse(ss.str());
  } catch (const json::exception& e) {
    throw Error("[export] " + path + ": not valid JSON (" + e.what() + ") — the file is damaged; export again");
  }
  ExportConfig ec;
  // slm export copies the HF config.json verbatim: exact. Exports made by other tools carry only MLC's
  // model_config, read best-effort.
  ec.config = exists(dir + "/config.json") ? load_config(dir) : model_config_from_chat_config(j, path);
  if (!j.is_object() || !j.contains("quantization") || !j["quantization"].is_string())
    throw Error("[export] " + path + ": has no 'quantization' string (e.g. \"q4f16_1\")");
  const std::string q = j["quantization"].get<std::string>();
  if (!quant::scheme_from_name(q, &ec.scheme))
    throw Error("[export] " + path + ": quantization '" + q + "' is not supported (q4f16_1, q4f32_1, q0f16, q0f32)");
  if (j.contains("model_type") && j["model_type"].is_string() && j["model_type"] != ec.config.model_type)
    throw Error("[export] " + path + ": model_type '" + j["model_type"].get<std::string>() + "' but the config says '" +
                ec.config.model_type + "' — the files do not belong together");
  return ec;
}

WeightMap load_export_weights(const std::string& dir, const ExportConfig& ec, ComputeMode mode,
                              const ExportTensorVisitor& visit) {
  const MlcLayout layout = mlc_layout(ec.config, ec.scheme);
  const TensorCache cache = TensorCache::open(dir);
  std::set<std::string> wanted;
  for (const auto& p : layout.params) {
    wanted.insert(p.name);
    if (!cache.find(p.name))
      throw Error("[export] " + dir + "/tensor-cache.json: no record '" + p.name + "', which " + ec.config.model_type +
                  " " + quant::scheme_info(ec.scheme).name +
                  " with this mlc-chat-config.json needs — the export is incomplete; export again");
  }
  for (const auto& name : cache.names())
    if (!wanted.count(name))
      throw Error("[export] " + dir + "/tensor-cache.json: record '" + name + "' (" + cache.shard_of(name) +
                  ") is not a " + ec.config.model_type + " " + quant::scheme_info(ec.scheme).name +
                  " parameter for this mlc-chat-config.json — config and shards do not belong together");
  WeightMap w;
  for (size_t i = 0; i < layout.sources.size(); ++i) {
    const std::vector<const MlcParam*> ps = params_of(layout, i);
    if (ps.size() == 2)
      load_q4(cache, layout, ps, layout.sources[i], mode, w, visit);
    else
      load_plain(cache, *ps[0], layout.sources[i], mode, w, visit);
  }
  return w;
}

std::unique_ptr<Model> load_export(const std::string& dir, ComputeMode mode) {
  ExportConfig ec = load_export_config(dir);
  WeightMap w = load_export_weights(dir, ec, mode);
  return make_model(ec.config, mode, std::move(w));
}

std::unique_ptr<Model> load_model_or_export(const std::string& dir, ComputeMode mode) {
  return is_export_dir(dir) ? load_export(dir, mode) : load_model(dir, mode);
}

}  // namespace slm::codegen
