// A loaded decoder-only model: config + weights + a forward pass with a KV cache.
// Each family (models/<family>.cpp) subclasses Model with exactly its own tensors; shared blocks live
// in models/layers.h. Activations are f32; ComputeMode::BF16 keeps matmul weights in bf16 and rounds
// matmul inputs to bf16 (f32 accumulation) — faster, within a looser documented bound.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "models/config.h"
#include "models/tensor_table.h"
#include "tensor/tensor.h"

namespace slm {

enum class ComputeMode { F32, BF16 };

// Keys and values of every layer, positions [0, length).
struct KVCache {
  std::vector<Tensor> k, v;  // per layer: (capacity, Hkv, D)
  int64_t length = 0;
  int64_t capacity = 0;
  void reset() { length = 0; }
};

class Model;
std::unique_ptr<Model> make_model(const ModelConfig& config, ComputeMode mode, WeightMap weights);

class Model {
 public:
  virtual ~Model() = default;
  const ModelConfig& config() const { return config_; }
  ComputeMode compute_mode() const { return mode_; }

  // The tensors a checkpoint of this config must hold (HF names verbatim).
  virtual std::vector<TensorSpec> tensor_table() const = 0;

  // Runs ids (T) at positions cache.length.. and appends their keys/values to `cache`.
  // Returns logits (T, V), or (1, V) for the last token only when last_only.
  Tensor forward(const std::vector<int32_t>& ids, KVCache& cache, bool last_only = false);

  KVCache make_cache(int64_t capacity_hint = 256) const;

  // Generation re-runs the whole sequence once, dropping the cache, when it first grows past this
  // length (0 = never). Phi-3's longrope switches from short to long factors there, and transformers'
  // Phi3ForCausalLM.prepare_inputs_for_generation recomputes the cache at that point.
  virtual int64_t recompute_cache_at() const { return 0; }
  int64_t parameter_count() const;

 protected:
  // Family hooks. `x` is (T, C) f32; positions are cache.length + [0, T).
  virtual Tensor embed(const Tensor& ids) = 0;                          // -> (T, C)
  virtual void layer(int64_t l, Tensor& x, KVCache& cache, int64_t pos0) = 0;  // in place
  virtual Tensor head(const Tensor& x) = 0;                             // (T, C) -> (T, V)
  // Called once before the layers of each forward (e.g. to build rope tables for pos0..pos0+T).
  virtual void begin_forward(int64_t pos0, int64_t T) = 0;

  // Loads every tensor of tensor_table() from the checkpoint, validating names, shapes, dtypes.
  void load_weights(const std::string& model_dir);
  const Tensor& w(const std::string& name) const;  // a loaded weight; error if absent
  bool has_w(const std::string& name) const { return weights_.count(name) != 0; }

  friend std::unique_ptr<Model> make_model(const ModelConfig&, ComputeMode, WeightMap);
  friend std::unique_ptr<Model> load_model(const ModelConfig&, const std::string&, ComputeMode);

  ModelConfig config_;
  ComputeMode mode_ = ComputeMode::F32;
  WeightMap weights_;
};

// Reads MODEL_DIR/config.json, picks the family, loads and validates the weights.
std::unique_ptr<Model> load_model(const std::string& model_dir, ComputeMode mode = ComputeMode::F32);
// Same, with a config parsed elsewhere (e.g. a legacy-form file) and the weights of `weights_dir`.
std::unique_ptr<Model> load_model(const ModelConfig& config, const std::string& weights_dir,
                                  ComputeMode mode = ComputeMode::F32);
// Builds the family object for a config without weights (tests, benches: weights set by caller).
std::unique_ptr<Model> make_model(const ModelConfig& config, ComputeMode mode, WeightMap weights);

}  // namespace slm
