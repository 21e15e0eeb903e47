// A toy Objective for the training-loop tests: next-token softmax regression over a small vocabulary,
//   h = dropout(emb[id]) (D),  logits = h · out (V),  loss = logsumexp(logits) - logits[label],
// with analytic gradients (double math, accumulated into f32 grads). Dropout masks are a pure function of
// (dropout_seed, token, feature), as the Objective contract asks. Deterministic and single-threaded.
// Fault injection: a NaN in one parameter's gradient or in the loss at a chosen forward_backward call.
#pragma once
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "lora/batching.h"
#include "lora/objective.h"
#include "models/safetensors.h"

namespace slm::test {

class ToyObjective : public Objective {
 public:
  static constexpr int64_t V = 8, D = 6;

  explicit ToyObjective(uint32_t init_seed = 1, double dropout = 0.0) : dropout_(dropout) {
    std::mt19937 rng(init_seed);
    std::uniform_real_distribution<float> u(-0.5f, 0.5f);
    emb_ = Tensor::empty({V, D});
    out_ = Tensor::empty({D, V});
    for (int64_t i = 0; i < V * D; ++i) emb_.data<float>()[i] = u(rng);
    for (int64_t i = 0; i < D * V; ++i) out_.data<float>()[i] = u(rng);
    demb_ = Tensor::zeros({V, D});
    dout_ = Tensor::zeros({D, V});
  }

  std::vector<NamedParam> params() override { return {{"toy.emb", emb_, demb_}, {"toy.out", out_, dout_}}; }

  CrossEntropy forward_backward(const Batch& b, float grad_scale, uint64_t seed) override {
    ++calls;
    CrossEntropy ce = run(b, grad_scale, seed, true);
    if (calls == nan_grad_at_call) (nan_param == "toy.emb" ? demb_ : dout_).data<float>()[3] = NAN;
    if (calls == nan_loss_at_call) ce.loss_sum = NAN;
    return ce;
  }
  CrossEntropy evaluate(const Batch& b) override { return run(b, 0.0f, 0, false); }

  int64_t calls = 0;
  int64_t nan_grad_at_call = -1, nan_loss_at_call = -1;
  std::string nan_param = "toy.out";

 private:
  CrossEntropy run(const Batch& b, float grad_scale, uint64_t seed, bool train) {
    CrossEntropy ce;
    const float* E = emb_.data<float>();
    const float* W = out_.data<float>();
    for (size_t t = 0; t < b.ids.size(); ++t) {
      if (b.labels[t] == -100) continue;
      const int32_t id = b.ids[t], y = b.labels[t];
      double h[D], keep[D];
      for (int64_t d = 0; d < D; ++d) {
        keep[d] = 1.0;
        if (train && dropout_ > 0) {
          const uint64_t r = mix_seed(seed, t, uint64_t(d));
          keep[d] = double(r >> 11) * 0x1.0p-53 < dropout_ ? 0.0 : 1.0 / (1.0 - dropout_);
        }
        h[d] = E[id * D + d] * keep[d];
      }
      double logits[V], mx = -INFINITY;
      for (int64_t v = 0; v < V; ++v) {
        logits[v] = 0;
        for (int64_t d = 0; d < D; ++d) logits[v] += h[d] * W[d * V + v];
        mx = std::max(mx, logits[v]);
      }
      double z = 0;
      for (int64_t v = 0; v < V; ++v) z += std::exp(logits[v] - mx);
      ce.loss_sum += std::log(z) + mx - logits[y];
      ce.count += 1;
      if (!train) continue;
      float* dE = demb_.data<float>();
      float* dW = dout_.data<float>();
      double dl[V];
      for (int64_t v = 0; v < V; ++v) dl[v] = grad_scale * (std::exp(logits[v] - mx) / z - (v == y ? 1.0 : 0.0));
      for (int64_t d = 0; d < D; ++d) {
        double dh = 0;
        for (int64_t v = 0; v < V; ++v) {
          dW[d * V + v] += float(h[d] * dl[v]);
          dh += W[d * V + v] * dl[v];
        }
        dE[id * D + d] += float(dh * keep[d]);
      }
    }
    return ce;
  }

  double dropout_;
  Tensor emb_, out_, demb_, dout_;
};

// Examples of a learnable bigram language: next = (a·x + c) mod V, the first `prompt` tokens untrained.
inline std::vector<TrainExample> bigram_examples(int64_t n, uint32_t seed, int a = 3, int c = 1, int prompt = 2) {
  std::mt19937 rng(seed);
  std::vector<TrainExample> out;
  for (int64_t i = 0; i < n; ++i) {
    TrainExample e;
    const int len = 5 + int(rng() % 8);
    int32_t x = int32_t(rng() % ToyObjective::V);
    for (int t = 0; t < len; ++t) {
      e.ids.push_back(x);
      e.mask.push_back(t >= prompt ? 1 : 0);
      x = (a * x + c) % int32_t(ToyObjective::V);
    }
    e.source = i;
    out.push_back(std::move(e));
  }
  return out;
}

// Writes the parameter values as a safetensors file into dir (what the adapter callback does in tests).
inline void save_params_adapter(Objective& obj, const std::string& dir) {
  std::filesystem::create_directories(dir);
  NamedTensors t;
  for (const auto& p : obj.params()) t.emplace_back(p.name, p.value);
  safetensors_write(dir + "/adapter_model.safetensors", t);
}

// A fresh, empty temporary directory for one test, under /tmp/slm_train_test_PID (removed at the end by
// the environment in test_trainer.cpp).
inline std::string fresh_dir(const std::string& name) {
  const auto p = std::filesystem::temp_directory_path() / ("slm_train_test_" + std::to_string(::getpid())) / name;
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p.parent_path());
  return p.string();
}

}  // namespace slm::test
