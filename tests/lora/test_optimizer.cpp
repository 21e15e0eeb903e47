// AdamW and clip_grad_norm_ against hand computations written here in double, in the textbook form
// (Loshchilov & Hutter's decoupled decay as torch applies it: p ← p − lr·wd·p, then Adam with bias-corrected
// moments m̂ = m/(1−β1ᵗ), v̂ = v/(1−β2ᵗ), p ← p − lr·m̂/(√v̂ + ε)) — not torch's op order, which the code follows.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "lora/optimizer.h"

namespace slm {
namespace {

struct RefAdamW {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, wd = 0.0;
  std::vector<double> p, m, v, m_abs;  // m_abs: the same average of |g|, the scale of m's rounding
  int t = 0;
  void step(const std::vector<double>& g, double lr) {
    ++t;
    for (size_t i = 0; i < p.size(); ++i) {
      p[i] -= lr * wd * p[i];
      m[i] = beta1 * m[i] + (1 - beta1) * g[i];
      m_abs[i] = beta1 * m_abs[i] + (1 - beta1) * std::fabs(g[i]);
      v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
      const double mhat = m[i] / (1 - std::pow(beta1, t));
      const double vhat = v[i] / (1 - std::pow(beta2, t));
      p[i] -= lr * mhat / (std::sqrt(vhat) + eps);
    }
  }
};

NamedParam make_param(const std::string& name, const std::vector<float>& values) {
  return {name, Tensor::from_f32(values, {int64_t(values.size())}), Tensor::zeros({int64_t(values.size())})};
}

TEST(AdamW, FirstStepByHand) {
  // p = 1, g = 0.5, lr = 0.1, wd = 0.01: decay → 0.999; m = 0.05, v = 0.00025; m̂ = 0.5, v̂ = 0.25;
  // p = 0.999 − 0.1 · 0.5 / (0.5 + 1e-8) = 0.899000002 (to 1e-9).
  std::vector<NamedParam> ps = {make_param("w", {1.0f})};
  ps[0].grad.data<float>()[0] = 0.5f;
  AdamW opt({0.9, 0.999, 1e-8, 0.01});
  opt.init(ps);
  opt.step(ps, 0.1);
  EXPECT_NEAR(ps[0].value.data<float>()[0], 0.899000002, 1e-7);
  EXPECT_NEAR(opt.exp_avg()[0].data<float>()[0], 0.05, 1e-9);
  EXPECT_NEAR(opt.exp_avg_sq()[0].data<float>()[0], 0.00025, 1e-10);
  EXPECT_EQ(opt.step_count(), 1);
}

TEST(AdamW, ManyStepsMatchDoubleReference) {
  for (double wd : {0.0, 0.05}) {
    std::mt19937 rng(7);
    std::normal_distribution<double> n(0.0, 1.0);
    const int N = 37;
    std::vector<float> init(N);
    for (auto& x : init) x = float(n(rng));
    std::vector<NamedParam> ps = {make_param("a", init)};
    AdamW opt({0.9, 0.999, 1e-8, wd});
    opt.init(ps);
    RefAdamW ref;
    ref.wd = wd;
    ref.p.assign(init.begin(), init.end());
    ref.m.assign(N, 0.0);
    ref.v.assign(N, 0.0);
    ref.m_abs.assign(N, 0.0);
    for (int step = 0; step < 25; ++step) {
      std::vector<double> g(N);
      for (int i = 0; i < N; ++i) {
        // Gradients of mixed scales, some near eps (where ε's placement matters).
        const double scale = i % 3 == 0 ? 1e-8 : i % 3 == 1 ? 1e-3 : 1.0;
        g[i] = double(float(n(rng) * scale));
        ps[0].grad.data<float>()[i] = float(g[i]);
      }
      const double lr = 1e-3 * (1.0 + 0.1 * step);
      opt.step(ps, lr);
      ref.step(g, lr);
    }
    for (int i = 0; i < N; ++i) {
      const double got = ps[0].value.data<float>()[i];
      EXPECT_NEAR(got, ref.p[i], 1e-6 * std::max(1.0, std::fabs(ref.p[i]))) << "i=" << i << " wd=" << wd;
      EXPECT_NEAR(opt.exp_avg()[0].data<float>()[i], ref.m[i], 1e-6 * ref.m_abs[i]);
      EXPECT_NEAR(opt.exp_avg_sq()[0].data<float>()[i], ref.v[i], 1e-5 * std::fabs(ref.v[i]) + 1e-30);
    }
  }
}

TEST(AdamW, LoadStateContinuesIdentically) {
  std::vector<NamedParam> a = {make_param("w", {0.3f, -0.2f, 0.9f})}, b = {make_param("w", {0.3f, -0.2f, 0.9f})};
  AdamW oa, ob;
  oa.init(a);
  ob.init(b);
  auto grads = [](int s) { return std::vector<float>{0.1f * s, -0.3f, 0.05f * s * s}; };
  for (int s = 0; s < 3; ++s) {
    for (int i = 0; i < 3; ++i) a[0].grad.data<float>()[i] = b[0].grad.data<float>()[i] = grads(s)[i];
    oa.step(a, 0.01);
    ob.step(b, 0.01);
  }
  // A copy of b's state into a fresh optimizer must continue bit for bit.
  std::vector<NamedParam> c = {make_param("w", b[0].value.to_f32_vector())};
  AdamW oc;
  oc.init(c);
  oc.load_state({ob.exp_avg()[0].clone()}, {ob.exp_avg_sq()[0].clone()}, ob.step_count());
  for (int i = 0; i < 3; ++i) c[0].grad.data<float>()[i] = a[0].grad.data<float>()[i] = 0.2f;
  oa.step(a, 0.01);
  oc.step(c, 0.01);
  EXPECT_EQ(a[0].value.to_f32_vector(), c[0].value.to_f32_vector());
}

TEST(ClipGradNorm, GlobalNormAcrossParameters) {
  // ‖(3, 4, 12)‖ = 13 over two tensors.
  std::vector<NamedParam> ps = {make_param("a", {0, 0}), make_param("b", {0})};
  auto set = [&] {
    ps[0].grad.data<float>()[0] = 3;
    ps[0].grad.data<float>()[1] = 4;
    ps[1].grad.data<float>()[0] = 12;
  };
  set();
  const float norm = clip_grad_norm(ps, grad_sum_squares(ps), 1.0);
  EXPECT_FLOAT_EQ(norm, 13.0f);
  const double coef = 1.0 / (13.0 + 1e-6);
  EXPECT_NEAR(ps[0].grad.data<float>()[0], 3 * coef, 1e-7);
  EXPECT_NEAR(ps[1].grad.data<float>()[0], 12 * coef, 1e-7);
  set();
  EXPECT_FLOAT_EQ(clip_grad_norm(ps, grad_sum_squares(ps), 100.0), 13.0f);  // under the limit: unchanged
  EXPECT_EQ(ps[1].grad.data<float>()[0], 12.0f);
}

TEST(ClipGradNorm, SumSquaresFlagsNonFinite) {
  std::vector<NamedParam> ps = {make_param("a", {0, 0}), make_param("b", {0})};
  ps[1].grad.data<float>()[0] = INFINITY;
  auto sq = grad_sum_squares(ps);
  EXPECT_TRUE(std::isfinite(sq[0]));
  EXPECT_FALSE(std::isfinite(sq[1]));
  zero_grads(ps);
  EXPECT_EQ(ps[1].grad.data<float>()[0], 0.0f);
}

}  // namespace
}  // namespace slm
