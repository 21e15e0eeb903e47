// A loaded decoder-only model: config + weights + a forward pass with a KV cache.
// Each family (models/<family>.cpp) subclasses Model with exactly its own tensors; shared blocks live
// in models/layers.h. Activations are f32; ComputeMode::BF16 keeps matmul weights in bf16 and rounds
// matmul inputs to bf16 (f32 accumulation) — faster, within a looser documented bound.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "autograd/ops.h"
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

// What a forward pass gives every layer besides the hidden states.
struct ForwardPass {
  KVCache* cache = nullptr;  // inference: keys/values appended at [pos0, pos0 + T); training: null
  int64_t pos0 = 0;
  Tensor segments;           // packed training batch: (T) I32 example index per token; else undefined
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

  // Training forward over a packed batch, no cache: logits (T, V) as a Var, recorded on the active tape
  // (autograd/var.h). positions (T) restart at 0 for each example; segments (T) keep examples from
  // attending to each other. grad_checkpoint recomputes each layer in the backward pass instead of
  // keeping its activations (the recompute reads this model's rope tables: run the backward pass before
  // the next forward).
  // head_rows (I32 (n), optional): only those tokens' logits, (n, V) — a loss that ignores the other positions
  // (prompt tokens under assistant-only masks) skips their share of the head, the largest product of a step.
  ag::Var forward_packed(const std::vector<int32_t>& ids, const std::vector<int32_t>& positions,
                         const std::vector<int32_t>& segments, bool grad_checkpoint = false,
                         const Tensor& head_rows = Tensor());

  // LoRA adapters by HF module prefix ("model.layers.0.self_attn.q_proj"); every linear layer consults
  // this map (LlamaModel::proj) in inference and training alike.
  void set_adapters(std::map<std::string, ag::LoraWeights> adapters) { adapters_ = std::move(adapters); }
  const std::map<std::string, ag::LoraWeights>& adapters() const { return adapters_; }
  // Full training: weights by HF name that are trainable Vars (f32 params) instead of frozen tensors; every
  // family reads its weights through weight_var(), so embedding, norms, linears and the tied head all train.
  void set_trainable(std::map<std::string, ag::Var> weights) { trainable_ = std::move(weights); }
  // Dropout masks of the next forward derive from this seed and the module name (see lora_linear).
  void set_dropout_seed(uint64_t seed) { dropout_seed_ = seed; }

  // Generation re-runs the whole sequence once, dropping the cache, when it first grows past this
  // length (0 = never). Phi-3's longrope switches from short to long factors there, and transformers'
  // Phi3ForCausalLM.prepare_inputs_for_generation recomputes the cache at that point.
  virtual int64_t recompute_cache_at() const { return 0; }
  int64_t parameter_count() const;
  // The weights of every matmul (linear layers, the head or the tied embedding), as loaded: what LoRA training
  // registers as frozen (FrozenWeights, tensor/ops.h).
  std::vector<Tensor> matmul_weights() const;

  // Sees intermediate activations during forward (e.g. export's f16-overflow calibration scan):
  // called with each linear layer's output (name = its HF module prefix, "model.layers.0.mlp.down_proj",
  // the logits as "lm_head") and each layer's residual stream ("model.layers.0"). Empty = off.
  using ActivationObserver = std::function<void(const std::string& name, const Tensor& value)>;
  void set_activation_observer(ActivationObserver fn) { observer_ = std::move(fn); }

 protected:
  // Family hooks, written once with autograd ops (with no tape recording they are plain kernels).
  // `x` is (T, C) f32.
  virtual ag::Var embed(const Tensor& ids) = 0;                                      // -> (T, C)
  virtual ag::Var layer(int64_t l, const ag::Var& x, const ForwardPass& pass) = 0;  // -> (T, C)
  virtual ag::Var head(const ag::Var& x) = 0;                                        // (T, C) -> (T, V)
  // Called once before the layers of each forward with every token's position (rope tables).
  virtual void begin_forward(const std::vector<int64_t>& positions) = 0;

  // Loads every tensor of tensor_table() from the checkpoint, validating names, shapes, dtypes.
  void load_weights(const std::string& model_dir);
  const Tensor& w(const std::string& name) const;  // a loaded weight; error if absent
  bool has_w(const std::string& name) const { return weights_.count(name) != 0; }
  // The weight as a Var: the trainable one when set_trainable() holds it, else a constant over w(name).
  ag::Var weight_var(const std::string& name) const {
    auto it = trainable_.find(name);
    return it != trainable_.end() ? it->second : ag::Var(w(name));
  }

  friend std::unique_ptr<Model> make_model(const ModelConfig&, ComputeMode, WeightMap);
  friend std::unique_ptr<Model> load_model(const ModelConfig&, const std::string&, ComputeMode);

  ModelConfig config_;
  ComputeMode mode_ = ComputeMode::F32;
  WeightMap weights_;
  std::map<std::string, ag::LoraWeights> adapters_;
  std::map<std::string, ag::Var> trainable_;
  uint64_t dropout_seed_ = 0;
  ActivationObserver observer_;
  void observe(const std::string& name, const Tensor& t) const {
    if (observer_) observer_(name, t);
  }
};

// Reads MODEL_DIR/config.json, picks the family, loads and validates the weights.
std::unique_ptr<Model> load_model(const std::string& model_dir, ComputeMode mode = ComputeMode::F32);
// Same, with a config parsed elsewhere (e.g. a legacy-form file) and the weights of `weights_dir`.
std::unique_ptr<Model> load_model(const ModelConfig& config, const std::string& weights_dir,
                                  ComputeMode mode = ComputeMode::F32);
// Builds the family object for a config without weights (tests, benches: weights set by caller).
std::unique_ptr<Model> make_model(const ModelConfig& config, ComputeMode mode, WeightMap weights);

}  // namespace slm
