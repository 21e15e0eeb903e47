// Scalar reference of attention (see ops.h), transformers' eager_attention_forward for one sequence:
//   w = (q kᵀ) * scale; if softcap: w = tanh(w / softcap) * softcap; w += mask; p = softmax(w); out = p v
// with GQA (head h reads kv head h / (H / Hkv)) and the causal + sliding-window mask of masking_utils
// (key j visible iff j <= q_pos and q_pos - j < window).  Dots and the softmax run in double so the result is
// the exact value the fast path (tensor/attention.cpp, f32) approximates. Not blocked, not parallel.
#include <cmath>
#include <vector>

#include "tensor/kernel_util.h"
#include "tensor/ops.h"

namespace slm {

void attention_check(const Tensor& q, const Tensor& k, const Tensor& v, const AttnParams& p);  // attention.cpp

static bool visible(int64_t qpos, int64_t j, int64_t window) { return j <= qpos && (window == 0 || qpos - j < window); }

Tensor attention_ref(const Tensor& q, const Tensor& k, const Tensor& v, const AttnParams& p) {
  attention_check(q, k, v, p);
  const int64_t T = q.size(0), H = q.size(1), D = q.size(2), S = k.size(0), Hkv = k.size(1);
  Tensor out = Tensor::zeros({T, H, D});
  std::vector<double> w(static_cast<size_t>(S));
  for (int64_t h = 0; h < H; ++h) {
    const int64_t hk = h / (H / Hkv);
    for (int64_t i = 0; i < T; ++i) {
      const float* qi = q.data<float>() + (i * H + h) * D;
      const int64_t qpos = p.pos0 + i;
      double mx = -INFINITY;
      for (int64_t j = 0; j < S; ++j) {
        if (!visible(qpos, j, p.window)) continue;
        const float* kj = k.data<float>() + (j * Hkv + hk) * D;
        double dot = 0.0;
        for (int64_t d = 0; d < D; ++d) dot += double(qi[d]) * double(kj[d]);
        dot *= p.scale;
        if (p.softcap > 0.0f) dot = std::tanh(dot / p.softcap) * p.softcap;
        w[size_t(j)] = dot;
        mx = std::max(mx, dot);
      }
      double sum = 0.0;
      for (int64_t j = 0; j < S; ++j)
        if (visible(qpos, j, p.window)) sum += (w[size_t(j)] = std::exp(w[size_t(j)] - mx));
      float* o = out.data<float>() + (i * H + h) * D;
      for (int64_t d = 0; d < D; ++d) {
        double acc = 0.0;
        for (int64_t j = 0; j < S; ++j)
          if (visible(qpos, j, p.window)) acc += w[size_t(j)] / sum * double(v.data<float>()[(j * Hkv + hk) * D + d]);
        o[d] = float(acc);
      }
    }
  }
  return out;
}

}  // namespace slm
