// Backward of RMSNorm and RoPE (see grad_ops.h), f32 rows in parallel.
//   rmsnorm: r = (mean(x²) + eps)^-1/2 recomputed as the forward does (f32 squares summed in double), g = dy w',
//            dx = r g - x (r³ Σ g x / C) with Σ g x in double; dw += Σ_t dy x r through per-thread partial rows
//            reduced in thread order (deterministic for a given thread count).
//   rope:    the rotation by -θ, in place: (a, b) <- (a c + b s, b c - a s) on the rotary pairs.
// Reference: tensor/ref/grad_ref.cpp (rmsnorm_vjp, rope_vjp).
#include <omp.h>

#include <cmath>
#include <vector>

#include "tensor/grad_ops.h"
#include "tensor/kernel_util.h"

namespace slm {

void rmsnorm_check(const Tensor& x, const Tensor& w);  // norm.cpp
void rope_check(const Tensor& x, const RopeTable& t);  // rope.cpp

namespace {

// dx row and, when dwp is non-null, dwp[c] += dy x r for one row.
void rmsnorm_row(const float* dy, const float* x, const float* wf, int64_t C, float eps, float* dx, float* dwp) {
  double ss = 0.0;
#pragma omp simd reduction(+ : ss)
  for (int64_t c = 0; c < C; ++c) ss += double(x[c] * x[c]);
  const float r = 1.0f / std::sqrt(float(ss) / float(C) + eps);
  double gx = 0.0;
#pragma omp simd reduction(+ : gx)
  for (int64_t c = 0; c < C; ++c) gx += double(dy[c] * wf[c]) * double(x[c]);
  const float coef = float(double(r) * double(r) * double(r) * gx / double(C));
#pragma omp simd
  for (int64_t c = 0; c < C; ++c) dx[c] = r * (dy[c] * wf[c]) - x[c] * coef;
  if (dwp) {
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) dwp[c] += dy[c] * (x[c] * r);
  }
}

}  // namespace

Tensor rmsnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& w, float eps, bool unit_offset, Tensor* dw) {
  rmsnorm_check(x, w);
  detail::check_f32(dy, 2, "rmsnorm_backward dy (T, C)");
  detail::check_same_shape(dy, x, "rmsnorm_backward dy vs x");
  const int64_t T = x.size(0), C = x.size(1);
  if (dw) {
    detail::check_f32(*dw, 1, "rmsnorm_backward dw (C)");
    SLM_CHECK(dw->size(0) == C, "[tensor] rmsnorm_backward: dw has " + std::to_string(dw->size(0)) +
                                    " entries for rows of " + std::to_string(C));
  }
  std::vector<float> wf(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    const float wv = detail::load_float(w.raw(), w.dtype(), c);
    wf[size_t(c)] = unit_offset ? 1.0f + wv : wv;
  }
  Tensor dx = Tensor::empty({T, C});
  const float* dyp = dy.data<float>();
  const float* xp = x.data<float>();
  float* dxp = dx.data<float>();
  const int nt = T * C >= (1 << 14) ? omp_get_max_threads() : 1;
  std::vector<std::vector<float>> partial(dw ? size_t(nt) : 0);
#pragma omp parallel num_threads(nt)
  {
    const int tid = omp_get_thread_num(), n = omp_get_num_threads();
    float* dwp = nullptr;
    if (dw) {
      partial[size_t(tid)].assign(size_t(C), 0.0f);
      dwp = partial[size_t(tid)].data();
    }
    const int64_t t0 = T * tid / n, t1 = T * (tid + 1) / n;  // contiguous rows per thread
    for (int64_t t = t0; t < t1; ++t) rmsnorm_row(dyp + t * C, xp + t * C, wf.data(), C, eps, dxp + t * C, dwp);
  }
  if (dw) {
    float* out = dw->data<float>();
    for (int64_t c = 0; c < C; ++c) {
      float s = 0.0f;
      for (const std::vector<float>& p : partial)
        if (!p.empty()) s += p[size_t(c)];
      out[c] += s;
    }
  }
  return dx;
}

void rope_backward(Tensor& dy, const RopeTable& t) {
  rope_check(dy, t);
  const int64_t T = dy.size(0), H = dy.size(1), D = dy.size(2), rot = t.rotary_dim, half = rot / 2;
  float* xp = dy.data<float>();
  const float* cp = t.cos.data<float>();
  const float* sp = t.sin.data<float>();
#pragma omp parallel for schedule(static) if (T * H * D >= 16384)
  for (int64_t th = 0; th < T * H; ++th) {
    const float* c = cp + (th / H) * rot;
    const float* s = sp + (th / H) * rot;
    float* v = xp + th * D;
#pragma omp simd
    for (int64_t d = 0; d < half; ++d) {
      const float a = v[d], b = v[d + half];
      v[d] = (a * c[d]) + (b * s[d + half]);
      v[d + half] = (b * c[d + half]) - (a * s[d]);
    }
  }
}

}  // namespace slm
