// Elementwise kernels: activation formulas against independently known values, fast paths against the
// references, softmax/softcap against double, add/scale against direct arithmetic.
#include <cmath>

#include "ops_test_util.h"
#include "tensor/ref/activation.h"

using namespace slm;
using namespace slm::test;

TEST(Activation, FormulasMatchKnownValues) {
  // silu(x) = x·σ(x): σ(1) = 0.7310585786300049, σ(-2) = 0.11920292202211755.
  EXPECT_NEAR(detail::silu_f32(1.0f), 0.7310585786300049, 1e-7);
  EXPECT_NEAR(detail::silu_f32(-2.0f), -2 * 0.11920292202211755, 1e-7);
  EXPECT_EQ(detail::silu_f32(0.0f), 0.0f);
  // gelu(erf)(x) = x·Φ(x): Φ(1) = 0.8413447460685429, Φ(-1) = 0.15865525393145707.
  EXPECT_NEAR(detail::gelu_erf_f32(1.0f), 0.8413447460685429, 1e-7);
  EXPECT_NEAR(detail::gelu_erf_f32(-1.0f), -0.15865525393145707, 1e-7);
  // gelu(tanh) vs the double formula 0.5x(1 + tanh(sqrt(2/π)(x + 0.044715x³))).
  for (float x : {-5.0f, -1.0f, -0.1f, 0.0f, 0.3f, 1.0f, 2.5f, 8.0f}) {
    double xd = x, want = 0.5 * xd * (1 + std::tanh(std::sqrt(2 / M_PI) * (xd + 0.044715 * xd * xd * xd)));
    EXPECT_NEAR(detail::gelu_tanh_f32(x), want, 2e-7 * std::max(1.0, std::fabs(want))) << x;
  }
  // tanh approximation is close to, but not, the erf form.
  EXPECT_NEAR(detail::gelu_tanh_f32(1.0f), 0.8411919906082768, 1e-7);
}

TEST(Activation, NamesFromHfConfigs) {
  EXPECT_EQ(activation_from_name("silu"), Activation::SiLU);
  EXPECT_EQ(activation_from_name("swish"), Activation::SiLU);
  EXPECT_EQ(activation_from_name("gelu_pytorch_tanh"), Activation::GeluTanh);
  EXPECT_EQ(activation_from_name("gelu_new"), Activation::GeluTanh);
  EXPECT_EQ(activation_from_name("gelu"), Activation::Gelu);
  expect_error_with([] { activation_from_name("relu2"); }, {"'relu2'"});
}

TEST(GatedAct, MatchesReferenceAndFormula) {
  for (auto [T, F] : {std::pair<int64_t, int64_t>{1, 1}, {3, 17}, {5, 4864}, {64, 513}}) {
    Tensor gate = random_f32({T, F}, uint32_t(T + F), -6, 6), up = random_f32({T, F}, uint32_t(T * F), -2, 2);
    for (Activation a : {Activation::SiLU, Activation::GeluTanh, Activation::Gelu}) {
      Tensor out = gated_act(gate, up, a), ref = gated_act_ref(gate, up, a);
      // SIMD exp/tanh (≈1.2 ulp) vs libm: a few ulp of the result, plus tanh's error carried by 0.5·|g·u|
      // where 1 + tanh cancels (large negative gates).
      for (int64_t i = 0; i < T * F; ++i) {
        float o = out.data<float>()[i], r = ref.data<float>()[i];
        float gu = std::fabs(gate.data<float>()[i] * up.data<float>()[i]);
        ASSERT_LE(std::fabs(o - r), 5e-7f * std::fabs(r) + 2.5e-7f * gu) << i << " act " << int(a);
      }
      for (int64_t i = 0; i < T * F; i += 7) {
        double g = gate.data<float>()[i], u = up.data<float>()[i];
        double act = a == Activation::SiLU ? g / (1 + std::exp(-g))
                     : a == Activation::Gelu
                         ? 0.5 * g * (1 + std::erf(g / std::sqrt(2.0)))
                         : 0.5 * g * (1 + std::tanh(std::sqrt(2 / M_PI) * (g + 0.044715 * g * g * g)));
        ASSERT_NEAR(ref.data<float>()[i], act * u, 1e-6 * std::max(1.0, std::fabs(act * u))) << i;
      }
    }
  }
  expect_error_with(
      [] {
        gated_act(Tensor::zeros({2, 3}), Tensor::zeros({3, 2}), Activation::SiLU);
      },
      {"gated_act", "[2, 3]", "[3, 2]"});
}

TEST(Softcap, MatchesReferenceAndDouble) {
  Tensor x = random_f32({37, 1000}, 9, -200, 200);
  Tensor fast = x.clone(), ref = x.clone();
  softcap_inplace(fast, 30.0f);
  softcap_inplace_ref(ref, 30.0f);
  EXPECT_EQ(count_bit_diffs(fast, ref), 0);
  for (int64_t i = 0; i < x.numel(); i += 13) {
    double want = 30.0 * std::tanh(double(x.data<float>()[i]) / 30.0);
    ASSERT_NEAR(ref.data<float>()[i], want, 4e-6);
    ASSERT_LT(std::fabs(ref.data<float>()[i]), 30.0f + 1e-5f);
  }
  Tensor y = Tensor::zeros({2});
  expect_error_with([&] { softcap_inplace(y, 0.0f); }, {"softcap", "positive"});
}

TEST(Softmax, RowsMatchDoubleAndReference) {
  for (auto [R, N] : {std::pair<int64_t, int64_t>{1, 1}, {3, 7}, {100, 513}, {4, 32000}}) {
    Tensor x = random_f32({R, N}, uint32_t(R * N), -20, 20);
    if (N > 3) x.data<float>()[2] = -INFINITY;  // a masked entry
    Tensor fast = x.clone(), ref = x.clone();
    softmax_inplace(fast);
    softmax_inplace_ref(ref);
    EXPECT_LE(max_abs_diff(fast, ref), 1e-7);
    for (int64_t r = 0; r < R; ++r) {
      double mx = -INFINITY, sum = 0, total = 0;
      for (int64_t i = 0; i < N; ++i) mx = std::max(mx, double(x.item_f32({r, i})));
      for (int64_t i = 0; i < N; ++i) sum += std::exp(double(x.item_f32({r, i})) - mx);
      for (int64_t i = 0; i < N; ++i) {
        double want = std::exp(double(x.item_f32({r, i})) - mx) / sum;
        ASSERT_NEAR(ref.item_f32({r, i}), want, 1e-6 * want + 1e-9);
        total += ref.item_f32({r, i});
      }
      EXPECT_NEAR(total, 1.0, 1e-5);
    }
    if (N > 3) EXPECT_EQ(ref.item_f32({0, 2}), 0.0f);
  }
}

TEST(AddScale, InPlaceArithmetic) {
  Tensor a = random_f32({3, 50000}, 1), b = random_f32({3, 50000}, 2);
  Tensor sum = a.clone();
  add_inplace(sum, b);
  Tensor scaled = a.clone();
  scale_inplace(scaled, -0.125f);
  for (int64_t i = 0; i < a.numel(); ++i) {
    ASSERT_EQ(sum.data<float>()[i], a.data<float>()[i] + b.data<float>()[i]);
    ASSERT_EQ(scaled.data<float>()[i], a.data<float>()[i] * -0.125f);
  }
  Tensor small = Tensor::from_f32({1, 2, 3}, {3});
  add_inplace(small, Tensor::from_f32({10, 20, 30}, {3}));
  EXPECT_EQ(small.to_f32_vector(), (std::vector<float>{11, 22, 33}));
  scale_inplace(small, 2.0f);
  EXPECT_EQ(small.to_f32_vector(), (std::vector<float>{22, 44, 66}));
  expect_error_with([&] { add_inplace(small, Tensor::zeros({4})); }, {"add_inplace", "[3]", "[4]"});
  Tensor bf = Tensor::zeros({3}, DType::BF16);
  expect_error_with([&] { scale_inplace(bf, 2.0f); }, {"scale_inplace", "BF16"});
}
