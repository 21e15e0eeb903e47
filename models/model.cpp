// Model: forward driver, weight loading against the family's tensor table, family dispatch.
#include "models/model.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>

#include "models/families.h"
#include "models/layers.h"
#include "models/llama.h"
#include "models/safetensors.h"
#include "tensor/error.h"
#include "tensor/system_memory.h"

namespace slm {

std::unique_ptr<Model> make_llama(const ModelConfig& c, ComputeMode m) { return std::make_unique<LlamaModel>(c, m); }

namespace {

std::unique_ptr<Model> make_family(const ModelConfig& c, ComputeMode mode) {
  const std::string& t = c.model_type;
  if (t == "llama") return make_llama(c, mode);
  if (t == "qwen2") return make_qwen2(c, mode);
  if (t == "qwen3") return make_qwen3(c, mode);
  if (t == "phi3") return make_phi3(c, mode);
  if (t == "gemma") return make_gemma(c, mode);
  if (t == "gemma2") return make_gemma2(c, mode);
  if (t == "gemma3_text") return make_gemma3_text(c, mode);
  throw Error("[model] no implementation for model_type '" + t + "'");
}

// Tensors some checkpoints carry that do not change the forward pass.
bool benign_extra(const std::string& name, const ModelConfig& c) {
  if (name.find("rotary_emb.inv_freq") != std::string::npos) return true;  // old Llama exports
  if (name == "lm_head.weight" && c.tie_word_embeddings) return true;      // tied: the embedding is used
  return false;
}

// The dtype a tensor of `role` is kept in for `mode`.
DType resident_dtype(TensorRole role, ComputeMode mode) {
  if (mode == ComputeMode::BF16 && (role == TensorRole::Linear || role == TensorRole::LmHead ||
                                    role == TensorRole::Embedding))
    return DType::BF16;
  return DType::F32;
}

std::string gib(uint64_t bytes) {
  char buf[32];
  if (bytes >= (1ull << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", double(bytes) / double(1ull << 30));
  else std::snprintf(buf, sizeof buf, "%.1f MiB", double(bytes) / double(1ull << 20));
  return buf;
}

}  // namespace

const Tensor& Model::w(const std::string& name) const {
  auto it = weights_.find(name);
  if (it == weights_.end()) throw Error("[model] weight '" + name + "' is not loaded");
  return it->second;
}

void Model::load_weights(const std::string& model_dir) {
  Checkpoint ck = Checkpoint::open(model_dir);
  std::vector<TensorSpec> table = tensor_table();
  // Weights already in their resident dtype stay memory-mapped (file-backed, evictable); the others are
  // converted into anonymous memory, which must fit. Refuse up front rather than be killed half-way.
  uint64_t converted = 0;
  for (const auto& spec : table)
    if (ck.has(spec.name) && ck.entry(spec.name).supported && ck.entry(spec.name).dtype != resident_dtype(spec.role, mode_))
      converted += uint64_t(shape_numel(spec.shape)) * dtype_size(resident_dtype(spec.role, mode_));
  const uint64_t available = available_memory_bytes();
  if (available > 0 && converted > available)
    throw Error("[model] " + model_dir + ": loading needs " + gib(converted) + " for converted weights but only " +
                gib(available) + " of memory is available — use --compute bf16 (bf16 weights stay mapped from " +
                "the file) or a machine with more memory");
  std::set<std::string> wanted;
  for (const auto& spec : table) {
    wanted.insert(spec.name);
    if (!ck.has(spec.name)) {
      if (spec.optional) continue;
      throw Error("[model] " + model_dir + ": tensor '" + spec.name + "' is missing from the checkpoint (" +
                  config_.model_type + " with this config.json needs it) — config and weights do not match");
    }
    Tensor t = ck.get(spec.name);
    if (t.shape() != spec.shape)
      throw Error("[model] " + model_dir + ": tensor '" + spec.name + "' has shape " + shape_str(t.shape()) +
                  " but config.json implies " + shape_str(spec.shape));
    if (t.dtype() == DType::I32)
      throw Error("[model] " + model_dir + ": tensor '" + spec.name + "' is an integer tensor; expected floats");
    DType want = resident_dtype(spec.role, mode_);
    weights_[spec.name] = t.dtype() == want ? t : t.to(want);
  }
  for (const auto& name : ck.names()) {
    if (wanted.count(name) || benign_extra(name, config_)) continue;
    throw Error("[model] " + model_dir + ": the checkpoint has tensor '" + name + "' that " + config_.model_type +
                " with this config.json does not use — the config does not describe these weights "
                "(e.g. biases or norms it does not declare)");
  }
}

KVCache Model::make_cache(int64_t capacity_hint) const {
  KVCache c;
  const int64_t L = config_.num_hidden_layers;
  c.k.resize(size_t(L));
  c.v.resize(size_t(L));
  for (int64_t l = 0; l < L; ++l) {
    c.k[size_t(l)] = Tensor::zeros({0, config_.num_key_value_heads, config_.head_dim});
    c.v[size_t(l)] = Tensor::zeros({0, config_.num_key_value_heads, config_.head_dim});
  }
  kv_reserve(c, capacity_hint);
  return c;
}

namespace {
void check_ids(const std::vector<int32_t>& ids, int64_t vocab) {
  SLM_CHECK(!ids.empty(), "[model] forward needs at least one token");
  for (int32_t id : ids)
    SLM_CHECK(id >= 0 && id < vocab, "[model] token id " + std::to_string(id) +
                                         " is outside the vocabulary (size " + std::to_string(vocab) + ")");
}
}  // namespace

Tensor Model::forward(const std::vector<int32_t>& ids, KVCache& cache, bool last_only) {
  const int64_t T = int64_t(ids.size());
  check_ids(ids, config_.vocab_size);
  SLM_CHECK(int64_t(cache.k.size()) == config_.num_hidden_layers, "[model] cache made for another model");
  const int64_t pos0 = cache.length;
  kv_reserve(cache, pos0 + T);
  std::vector<int64_t> positions(static_cast<size_t>(T));
  for (int64_t i = 0; i < T; ++i) positions[size_t(i)] = pos0 + i;
  begin_forward(positions);
  ForwardPass pass;
  pass.cache = &cache;
  pass.pos0 = pos0;
  ag::Var x = embed(Tensor::from_i32(ids, {T}));
  for (int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    x = layer(l, x, pass);
    observe("model.layers." + std::to_string(l), x.value());
  }
  cache.length = pos0 + T;
  if (last_only && T > 1) x = ag::Var(x.value().narrow(0, T - 1, 1).contiguous());
  return head(x).value();
}

ag::Var Model::forward_packed(const std::vector<int32_t>& ids, const std::vector<int32_t>& positions,
                              const std::vector<int32_t>& segments, bool grad_checkpoint, const Tensor& head_rows) {
  const int64_t T = int64_t(ids.size());
  check_ids(ids, config_.vocab_size);
  SLM_CHECK(positions.size() == ids.size() && segments.size() == ids.size(),
            "[model] forward_packed: ids, positions and segments differ in length");
  std::vector<int64_t> pos(positions.begin(), positions.end());
  begin_forward(pos);
  ForwardPass pass;
  pass.segments = Tensor::from_i32(segments, {T});
  ag::Var x = embed(Tensor::from_i32(ids, {T}));
  for (int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    if (grad_checkpoint)
      x = ag::checkpoint([this, l, pass](const ag::Var& in) { return layer(l, in, pass); }, x);
    else
      x = layer(l, x, pass);
    observe("model.layers." + std::to_string(l), x.value());
  }
  // Every op of the head works row by row (final norm, linear, softcap), so its rows can be chosen first.
  return head(head_rows.defined() ? ag::take_rows(x, head_rows) : x);
}

std::vector<Tensor> Model::matmul_weights() const {
  std::vector<Tensor> out;
  for (const TensorSpec& s : tensor_table()) {
    const bool mm = s.role == TensorRole::Linear || s.role == TensorRole::LmHead ||
                    (s.role == TensorRole::Embedding && config_.tie_word_embeddings);
    auto it = weights_.find(s.name);
    if (mm && it != weights_.end() && it->second.dim() == 2) out.push_back(it->second);
  }
  return out;
}

int64_t Model::parameter_count() const {
  int64_t n = 0;
  for (const auto& spec : tensor_table()) n += shape_numel(spec.shape);
  return n;
}

std::unique_ptr<Model> load_model(const std::string& model_dir, ComputeMode mode) {
  return load_model(load_config(model_dir), model_dir, mode);
}

std::unique_ptr<Model> load_model(const ModelConfig& c, const std::string& weights_dir, ComputeMode mode) {
  std::unique_ptr<Model> m = make_family(c, mode);
  m->load_weights(weights_dir);
  return m;
}

std::unique_ptr<Model> make_model(const ModelConfig& config, ComputeMode mode, WeightMap weights) {
  std::unique_ptr<Model> m = make_family(config, mode);
  m->weights_ = std::move(weights);
  return m;
}

}  // namespace slm
