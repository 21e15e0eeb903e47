// Attention fast path (see ops.h): one task per (head, query) row, parallel over both cores, f32 throughout.
// Per row: logits over the visible key range only (causal + sliding window), scale, optional soft-cap, max,
// exp, sum, p = e * (1/sum), out = Σ p_j v_j — transformers' eager_attention_forward order with a per-thread
// scratch row instead of a (T, S) matrix. AVX-512 dot products and axpys; any head dim works (masked tails).
// Not flash attention (no K/V tiling across rows) and not batched. Reference: tensor/ref/attention_ref.cpp.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "tensor/kernel_util.h"
#include "tensor/ops.h"

namespace slm {

void attention_check(const Tensor& q, const Tensor& k, const Tensor& v, const AttnParams& p) {
  detail::check_f32(q, 3, "attention q (T, H, D)");
  detail::check_f32(k, 3, "attention k (S, Hkv, D)");
  detail::check_f32(v, 3, "attention v (S, Hkv, D)");
  detail::check_same_shape(k, v, "attention k vs v");
  const int64_t T = q.size(0), H = q.size(1), S = k.size(0), Hkv = k.size(1);
  SLM_CHECK(q.size(2) == k.size(2), "[tensor] attention: q head dim " + std::to_string(q.size(2)) +
                                        " differs from k head dim " + std::to_string(k.size(2)));
  SLM_CHECK(Hkv > 0 && H % Hkv == 0, "[tensor] attention: " + std::to_string(H) +
                                         " query heads are not a multiple of " + std::to_string(Hkv) + " kv heads");
  SLM_CHECK(p.pos0 >= 0 && p.window >= 0, "[tensor] attention: pos0 and window must be >= 0");
  SLM_CHECK(S >= p.pos0 + T, "[tensor] attention: the cache holds " + std::to_string(S) + " keys but queries reach "
                                 "position " + std::to_string(p.pos0 + T - 1) + "; append k/v before attending");
  SLM_CHECK(p.softcap >= 0.0f, "[tensor] attention: softcap must be >= 0");
}

namespace {

// GCC 12 reports its own _mm512_undefined_* inside the reduction intrinsics as uninitialised (bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#ifdef __AVX512F__
inline __mmask16 tail_mask(int64_t n) { return n >= 16 ? __mmask16(0xffff) : __mmask16((1u << n) - 1); }

inline float dot(const float* a, const float* b, int64_t D) {
  __m512 acc = _mm512_setzero_ps();
  for (int64_t d = 0; d < D; d += 16) {
    __mmask16 m = tail_mask(D - d);
    acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + d), _mm512_maskz_loadu_ps(m, b + d), acc);
  }
  return _mm512_reduce_add_ps(acc);
}

// o += p * v
inline void axpy(float* o, float p, const float* v, int64_t D) {
  const __m512 pv = _mm512_set1_ps(p);
  for (int64_t d = 0; d < D; d += 16) {
    __mmask16 m = tail_mask(D - d);
    __m512 r = _mm512_fmadd_ps(pv, _mm512_maskz_loadu_ps(m, v + d), _mm512_maskz_loadu_ps(m, o + d));
    _mm512_mask_storeu_ps(o + d, m, r);
  }
}
#else
inline float dot(const float* a, const float* b, int64_t D) {
  float acc = 0.0f;
  for (int64_t d = 0; d < D; ++d) acc += a[d] * b[d];
  return acc;
}
inline void axpy(float* o, float p, const float* v, int64_t D) {
  for (int64_t d = 0; d < D; ++d) o[d] += p * v[d];
}
#endif

struct Row {
  const float* q;  // (D)
  float* out;      // (D)
  int64_t lo, hi;  // visible keys [lo, hi]
};

void attend_row(const Row& r, const float* k, const float* v, int64_t stride, int64_t D, const AttnParams& p,
                std::vector<float>& w) {
  const int64_t n = r.hi - r.lo + 1;
  if (int64_t(w.size()) < n) w.resize(size_t(n));
  float mx = -INFINITY;
  for (int64_t j = 0; j < n; ++j) {
    float l = dot(r.q, k + (r.lo + j) * stride, D) * p.scale;
    if (p.softcap > 0.0f) l = std::tanh(l / p.softcap) * p.softcap;
    w[size_t(j)] = l;
    mx = std::max(mx, l);
  }
  double sum = 0.0;  // long rows: keep the normaliser accurate (torch reduces in many f32 lanes)
  for (int64_t j = 0; j < n; ++j) sum += (w[size_t(j)] = std::exp(w[size_t(j)] - mx));
  const float inv = 1.0f / float(sum);
  for (int64_t d = 0; d < D; ++d) r.out[d] = 0.0f;
  for (int64_t j = 0; j < n; ++j) axpy(r.out, w[size_t(j)] * inv, v + (r.lo + j) * stride, D);
}

}  // namespace

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttnParams& p) {
  attention_check(q, k, v, p);
  const int64_t T = q.size(0), H = q.size(1), D = q.size(2), Hkv = k.size(1), group = H / Hkv;
  Tensor out = Tensor::empty({T, H, D});
  const float* qp = q.data<float>();
  float* op = out.data<float>();
  const int64_t stride = Hkv * D;  // between consecutive keys of one kv head
#pragma omp parallel if (T * H > 1)
  {
    std::vector<float> w;
#pragma omp for schedule(dynamic, 4)
    for (int64_t task = 0; task < T * H; ++task) {
      // Rows of one query position are adjacent tasks, so threads share the same keys in cache.
      const int64_t i = task / H, h = task % H, hk = h / group, qpos = p.pos0 + i;
      const int64_t lo = p.window > 0 ? std::max<int64_t>(0, qpos - p.window + 1) : 0;
      Row r{qp + (i * H + h) * D, op + (i * H + h) * D, lo, qpos};
      attend_row(r, k.data<float>() + hk * D, v.data<float>() + hk * D, stride, D, p, w);
    }
  }
  return out;
}

}  // namespace slm
