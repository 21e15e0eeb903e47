// The AVX-512 exp / tanh of tensor/simd_math.h against libm over dense ranges (ulp-level agreement), and their
// edge values (overflow, underflow, NaN, signed zero).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "tensor/simd_math.h"

#ifdef __AVX512F__
namespace {

template <class F>
float lane0(F f, float x) {
  float out[16];
  _mm512_storeu_ps(out, f(_mm512_set1_ps(x)));
  return out[0];
}

// |a - b| in units of b's ulp (f32 spacing at |b|).
double ulps(float a, double b) {
  double spacing = std::ldexp(1.0, std::ilogb(std::max(std::fabs(b), double(std::numeric_limits<float>::min()))) - 23);
  return std::fabs(double(a) - b) / spacing;
}

}  // namespace

TEST(SimdMath, ExpWithinUlpAndAHalfOfDouble) {
  double worst = 0;
  for (float x = -87.0f; x <= 88.5f; x += 0.00731f) {
    float got = lane0(slm::simd::exp_ps, x);
    worst = std::max(worst, ulps(got, std::exp(double(x))));
  }
  EXPECT_LE(worst, 1.5);  // measured 1.23
  EXPECT_EQ(lane0(slm::simd::exp_ps, 0.0f), 1.0f);
  EXPECT_EQ(lane0(slm::simd::exp_ps, 100.0f), INFINITY);
  EXPECT_EQ(lane0(slm::simd::exp_ps, -200.0f), 0.0f);
  EXPECT_EQ(lane0(slm::simd::exp_ps, -INFINITY), 0.0f);
  EXPECT_TRUE(std::isnan(lane0(slm::simd::exp_ps, NAN)));
  // Denormal results keep their value (scalef does not flush): exp(-100) = 3.72e-44.
  EXPECT_NEAR(lane0(slm::simd::exp_ps, -100.0f), std::exp(-100.0), 2e-45);
}

TEST(SimdMath, TanhWithinUlpAndAHalfOfDouble) {
  double worst = 0;
  for (float x = -12.0f; x <= 12.0f; x += 0.000913f) {
    float got = lane0(slm::simd::tanh_ps, x);
    worst = std::max(worst, ulps(got, std::tanh(double(x))));
  }
  EXPECT_LE(worst, 1.5);  // measured 1.23 (glibc tanhf: 1.97)
  EXPECT_EQ(lane0(slm::simd::tanh_ps, 30.0f), 1.0f);
  EXPECT_EQ(lane0(slm::simd::tanh_ps, -1e30f), -1.0f);
  EXPECT_EQ(lane0(slm::simd::tanh_ps, 0.0f), 0.0f);
  EXPECT_TRUE(std::signbit(lane0(slm::simd::tanh_ps, -0.0f)));
  EXPECT_TRUE(std::isnan(lane0(slm::simd::tanh_ps, NAN)));
  EXPECT_NEAR(lane0(slm::simd::tanh_ps, 1e-20f), 1e-20, 1e-27);
}
#endif
