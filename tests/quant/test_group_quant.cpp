// MLC group quantisation: hand-derived cases from MLC's formulas (group_quantization.py _quantize /
// _dequantize, utils.py pack_weight) and properties of the reference. Every case runs through both
// quantize_ref and the fast quantize.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "quant/group_quant.h"
#include "quant_test_util.h"
#include "tensor/error.h"

namespace slm::test {
namespace {

using quant::QuantizedWeight;
using quant::QuantizeOptions;
using quant::RoundMode;
using quant::Scheme;

QuantizedWeight both(const Tensor& w, Scheme s, QuantizeOptions opt = {}) {
  QuantizedWeight r = quant::quantize_ref(w, s, opt);
  QuantizedWeight f = quant::quantize(w, s, opt);
  expect_same_bits(r, f);
  return r;
}

TEST(QuantScheme, RegistryMatchesMlc) {
  const auto& a = quant::scheme_info(Scheme::Q4F16_1);
  EXPECT_STREQ(a.name, "q4f16_1");
  EXPECT_EQ(a.group_size, 32);
  EXPECT_EQ(a.elems_per_word, 8);
  EXPECT_EQ(a.max_int, 7);
  EXPECT_EQ(a.model_dtype, DType::F16);
  EXPECT_TRUE(a.quantize_embedding && a.quantize_final_fc);
  EXPECT_EQ(quant::scheme_info(Scheme::Q4F32_1).model_dtype, DType::F32);
  Scheme s;
  ASSERT_TRUE(quant::scheme_from_name("q0f32", &s));
  EXPECT_EQ(s, Scheme::Q0F32);
  EXPECT_FALSE(quant::scheme_from_name("q4f16_0", &s));  // KN layout: not implemented
  EXPECT_EQ(quant::mlc_param_names(Scheme::Q4F16_1, "lm_head"),
            (std::vector<std::string>{"lm_head.q_weight", "lm_head.q_scale"}));
  EXPECT_EQ(quant::mlc_param_names(Scheme::Q0F16, "lm_head"), (std::vector<std::string>{"lm_head.weight"}));
}

// One group of 32: w = [7, -7, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0 x 24].
// max_abs = 7 -> scale = 7/7 = 1 exactly (f16 0x3C00, f32 0x3F800000), so w/scale + 7 = w + 7 exactly:
//   [14, 0, 7.5, 8.5, 9.5, 6.5, 5.5, 4.5, 7 x 24]
// ties to even : [14, 0, 8, 8, 10, 6, 6, 4]  -> nibbles c7..c0 = 4 6 6 A 8 8 0 E -> 0x466A880E
// ties away    : [14, 0, 8, 9, 10, 7, 6, 5]  -> nibbles c7..c0 = 5 6 7 A 9 8 0 E -> 0x567A980E
// zeros give code 7 -> words 1..3 = 0x77777777.
std::vector<float> tie_group() {
  std::vector<float> v = {7, -7, 0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f};
  v.resize(32, 0.0f);
  return v;
}

TEST(QuantHand, TiesToEvenPackingQ4F16) {
  QuantizedWeight q = both(weight_from(tie_group(), 1, 32), Scheme::Q4F16_1);
  ASSERT_EQ(q.q_weight.shape(), Shape({1, 4}));
  ASSERT_EQ(q.q_scale.shape(), Shape({1, 1}));
  EXPECT_EQ(q.q_scale.dtype(), DType::F16);
  EXPECT_EQ(scale_bits(q, 0, 0), 0x3C00u);
  EXPECT_EQ(word_at(q, 0, 0), 0x466A880Eu);
  for (int j = 1; j < 4; ++j) EXPECT_EQ(word_at(q, 0, j), 0x77777777u);
}

TEST(QuantHand, TiesAwayPackingQ4F32) {
  QuantizeOptions opt;
  opt.round = RoundMode::TiesAway;
  QuantizedWeight q = both(weight_from(tie_group(), 1, 32), Scheme::Q4F32_1, opt);
  EXPECT_EQ(q.q_scale.dtype(), DType::F32);
  EXPECT_EQ(scale_bits(q, 0, 0), 0x3F800000u);
  EXPECT_EQ(word_at(q, 0, 0), 0x567A980Eu);
  // Dequantised: (code - 7) * 1 -> 7, -7, 1, 2, 3, 0, -1, -2.
  Tensor d = quant::dequantize(q);
  const float want[8] = {7, -7, 1, 2, 3, 0, -1, -2};
  for (int k = 0; k < 8; ++k) EXPECT_EQ(d.data<float>()[k], want[k]) << k;
}

// f16 rounds after each operation. w = [7, 1.5 + 2^-10, 0 x 30], scale 1:
//   exact: 1.5009765625 + 7 = 8.5009765625 -> code 9 (not a tie) — what q4f32_1 gives.
//   f16:   8.5009765625 is not an f16 (spacing 2^-7 in [8, 16)): rounds to 8.5, a tie -> 8 (even), 9 (away).
TEST(QuantHand, F16IntermediateRoundingCreatesTies) {
  std::vector<float> v = {7, 1.5f + 0.0009765625f};
  v.resize(32, 0.0f);
  Tensor w = weight_from(v, 1, 32);
  EXPECT_EQ((word_at(both(w, Scheme::Q4F16_1), 0, 0) >> 4) & 0xF, 8u);
  EXPECT_EQ((word_at(both(w, Scheme::Q4F32_1), 0, 0) >> 4) & 0xF, 9u);
  QuantizeOptions away;
  away.round = RoundMode::TiesAway;
  EXPECT_EQ((word_at(both(w, Scheme::Q4F16_1, away), 0, 0) >> 4) & 0xF, 9u);
}

// All-zero group: max_abs = 0 -> scale = 0; w/scale = 0/0 = NaN; NaN + 7 = NaN; round(NaN) = NaN;
// max(NaN, 0) = select(NaN > 0, NaN, 0) = 0; min(0, 14) = 0 -> every code 0, every word 0 (not 0x77777777).
// Dequantised: (0 - 7) * 0 = -0.0 (sign bit set).
TEST(QuantHand, AllZeroGroupGivesCodeZeroAndNegativeZero) {
  for (Scheme s : {Scheme::Q4F16_1, Scheme::Q4F32_1}) {
    QuantizedWeight q = both(Tensor::zeros({2, 40}), s);
    ASSERT_EQ(q.q_weight.shape(), Shape({2, 8}));
    for (int64_t n = 0; n < 2; ++n) {
      for (int64_t j = 0; j < 8; ++j) EXPECT_EQ(word_at(q, n, j), 0u);
      for (int64_t g = 0; g < 2; ++g) EXPECT_EQ(scale_bits(q, n, g), 0u);
    }
    for (const Tensor& d : {quant::dequantize(q), quant::dequantize_ref(q)})
      for (int64_t i = 0; i < d.numel(); ++i) EXPECT_EQ(f32_bits(d.data<float>()[i]), 0x80000000u) << i;
  }
}

// f16 scale underflow. max_abs = 2^-24 (smallest f16 subnormal): 2^-24 / 7 < 2^-25 rounds to scale 0.
// Then w = +2^-24 -> +inf -> 14; w = -2^-24 -> -inf -> max(-inf, 0) = 0; w = 0 -> NaN -> 0.
// q4f32_1 keeps a normal f32 scale: codes 14, 0, 7.
TEST(QuantHand, F16ScaleUnderflowToZero) {
  const float t = std::ldexp(1.0f, -24);
  std::vector<float> v = {t, -t, 0.0f};
  v.resize(32, 0.0f);
  Tensor w = weight_from(v, 1, 32);
  QuantizedWeight h = both(w, Scheme::Q4F16_1);
  EXPECT_EQ(scale_bits(h, 0, 0), 0u);
  EXPECT_EQ(word_at(h, 0, 0), 0x0000000Eu);
  QuantizedWeight f = both(w, Scheme::Q4F32_1);
  EXPECT_EQ(word_at(f, 0, 0), 0x7777770Eu);
  // max_abs = 4 * 2^-24: 4/7 * 2^-24 rounds to the subnormal 2^-24 (f16 0x0001); w/scale = 4 -> code 11,
  // dequantised exactly back to 4 * 2^-24.
  std::vector<float> u = {4 * t};
  u.resize(32, 0.0f);
  QuantizedWeight s = both(weight_from(u, 1, 32), Scheme::Q4F16_1);
  EXPECT_EQ(scale_bits(s, 0, 0), 0x0001u);
  EXPECT_EQ(word_at(s, 0, 0) & 0xF, 11u);
  EXPECT_EQ(quant::dequantize(s).data<float>()[0], 4 * t);
}

// f16 overflow: 70000 is past f16's 65504, so the cast makes it +inf; max_abs = inf, scale = inf (0x7C00).
// inf/inf = NaN -> code 0; finite/inf = ±0 -> code 7. Dequantised: (0-7)*inf = -inf, (7-7)*inf = NaN.
// This is what MLC stores; the test pins it so a change is deliberate.
TEST(QuantHand, F16OverflowPoisonsTheGroup) {
  std::vector<float> v = {70000.0f, 1.0f, -1.0f};
  v.resize(32, 0.0f);
  QuantizedWeight q = both(weight_from(v, 1, 32), Scheme::Q4F16_1);
  EXPECT_EQ(scale_bits(q, 0, 0), 0x7C00u);
  EXPECT_EQ(word_at(q, 0, 0), 0x77777770u);
  Tensor d = quant::dequantize(q);
  EXPECT_TRUE(std::isinf(d.data<float>()[0]) && d.data<float>()[0] < 0);
  EXPECT_TRUE(std::isnan(d.data<float>()[1]));
  // The largest finite f16: scale = f16(65504/7 = 9357.71) = 9360; 65504/9360 = 6.99829 -> f16 7.0 -> 14.
  std::vector<float> m = {65504.0f};
  m.resize(32, 0.0f);
  QuantizedWeight big = both(weight_from(m, 1, 32), Scheme::Q4F16_1);
  EXPECT_EQ(f16_to_f32(uint16_t(scale_bits(big, 0, 0))), 9360.0f);
  EXPECT_EQ(word_at(big, 0, 0) & 0xF, 14u);
}

// K = 37: two groups (ceil(37/32)), 8 words per row (4 per group). Group 1 covers k = 32..36 only: its
// max_abs ignores the padding lanes (te.min_value), word 4 holds 5 codes and zero nibbles above them,
// words 5..7 are 0 (pack_weight adds 0 past K) — padding is 0 bits, not code 7.
TEST(QuantPadding, PartialGroupAndWord) {
  std::vector<float> v(2 * 37);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t k = 0; k < 37; ++k) v[size_t(n * 37 + k)] = k < 32 ? 100.0f : float(k - 32) - 2.0f - float(n);
  // Row 0 group 1: [-2, -1, 0, 1, 2] -> max_abs 2, scale 2/7; codes round(w*3.5 + 7) = [0, 3.5->4, 7, 10.5->10, 14].
  for (Scheme s : {Scheme::Q4F16_1, Scheme::Q4F32_1}) {
    QuantizedWeight q = both(weight_from(v, 2, 37), s);
    ASSERT_EQ(q.q_weight.shape(), Shape({2, 8}));
    ASSERT_EQ(q.q_scale.shape(), Shape({2, 2}));
    EXPECT_EQ(q.scale(0, 1), quant::group_scale(2.0f, quant::scheme_info(s).model_dtype));
    for (int64_t n = 0; n < 2; ++n) {
      EXPECT_EQ(word_at(q, n, 4) >> 20, 0u) << "nibbles past K must be 0";
      for (int64_t j = 5; j < 8; ++j) EXPECT_EQ(word_at(q, n, j), 0u);
    }
    Tensor d = quant::dequantize(q);
    EXPECT_EQ(d.shape(), Shape({2, 37}));
    EXPECT_EQ(0, std::memcmp(d.raw(), quant::dequantize_ref(q).raw(), d.nbytes()));
  }
  // Row 0, word 4 = codes [0, 4, 7, 10, 14] -> nibbles c4..c0 = E A 7 4 0 -> 0x000EA740 in both schemes:
  //  f32: scale = fl(2/7) = 0.28571430 > 2/7, so -1/scale + 7 = 3.5000001 -> 4 (no tie), 1/scale + 7 =
  //       10.4999999 rounds to the f32 10.5 -> tie -> 10, 2/scale + 7 = 13.9999998 -> f32 14.0 -> 14.
  //  f16: scale = f16(2/7) = 1170 * 2^-12 = 0.28564453; -1/scale = -3.50085 -> f16 -3.5 -> 3.5 tie -> 4,
  //       1/scale -> 3.5 -> 10.5 tie -> 10, 2/scale = 7.0017 -> f16 7.0 -> 14.
  for (Scheme s : {Scheme::Q4F16_1, Scheme::Q4F32_1})
    EXPECT_EQ(word_at(both(weight_from(v, 2, 37), s), 0, 4), 0x000EA740u);
}

TEST(QuantRoundTrip, ErrorWithinHalfScale) {
  const int64_t N = 16, K = 100;
  std::vector<float> v = uniform(size_t(N * K), 7, -3.0f, 3.0f);
  for (int64_t k = 0; k < K; k += 9) v[size_t(k)] *= 40.0f;  // outliers: groups with very different scales
  for (Scheme s : {Scheme::Q4F16_1, Scheme::Q4F32_1}) {
    const bool f16 = s == Scheme::Q4F16_1;
    const double u = f16 ? std::ldexp(1.0, -11) : std::ldexp(1.0, -24);  // unit roundoff of the model dtype
    QuantizedWeight q = both(weight_from(v, N, K), s);
    Tensor d = quant::dequantize(q);
    int64_t within_half = 0;
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t k = 0; k < K; ++k) {
        const double w = f16 ? double(f16_to_f32(f32_to_f16(v[size_t(n * K + k)]))) : v[size_t(n * K + k)];
        const double dq = d.data<float>()[n * K + k], scale = q.scale(n, k / 32);
        // |w - dq| <= scale/2 in exact arithmetic; MLC's roundings (w/scale, +7, the product) add at most
        // scale * 22u + |dq| * u.
        const double err = std::fabs(w - dq);
        EXPECT_LE(err, scale * (0.5 + 22 * u) + std::fabs(dq) * u) << n << "," << k;
        within_half += err <= scale / 2;
      }
    }
    EXPECT_GT(within_half, N * K * 9 / 10);
  }
}

TEST(QuantInput, Bf16AndF16InputsCastLikeNumpy) {
  std::vector<float> v = uniform(3 * 64, 11);
  for (DType dt : {DType::BF16, DType::F16}) {
    Tensor w = weight_from(v, 3, 64, dt);
    // Quantising the bf16/f16 tensor equals quantising its exact f32 widening.
    for (Scheme s : {Scheme::Q4F16_1, Scheme::Q4F32_1})
      expect_same_bits(both(w, s), quant::quantize_ref(w.to(DType::F32), s));
  }
}

TEST(QuantInput, NoQuantSchemesOnlyCast) {
  Tensor w = weight_from(uniform(6, 3), 2, 3);
  QuantizedWeight q = quant::quantize(w, Scheme::Q0F16);
  EXPECT_EQ(q.q_weight.dtype(), DType::F16);
  EXPECT_FALSE(q.q_scale.defined());
  Tensor d = quant::dequantize(q);
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(d.data<float>()[i], f16_to_f32(f32_to_f16(w.data<float>()[i])));
  EXPECT_EQ(quant::quantize(w, Scheme::Q0F32).q_weight.dtype(), DType::F32);
}

TEST(QuantInput, Errors) {
  std::vector<float> v(64, 1.0f);
  v[40] = std::numeric_limits<float>::quiet_NaN();
  Tensor w = weight_from(v, 2, 32);
  for (auto f : {&quant::quantize, &quant::quantize_ref}) {
    try {
      f(w, Scheme::Q4F16_1, {});
      ADD_FAILURE() << "NaN accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("(1, 8) is NaN"), std::string::npos) << e.what();
    }
  }
  // Large enough for the parallel path: the first NaN in row-major order is reported, whichever thread saw it.
  std::vector<float> big(64 * 1024, 0.5f);
  big[50 * 1024 + 3] = big[40 * 1024 + 100] = std::numeric_limits<float>::quiet_NaN();
  try {
    quant::quantize(weight_from(big, 64, 1024), Scheme::Q4F32_1);
    ADD_FAILURE() << "NaN accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("(40, 100) is NaN"), std::string::npos) << e.what();
  }
  QuantizeOptions bad;
  bad.group_size = 12;
  EXPECT_THROW(quant::quantize(Tensor::zeros({2, 32}), Scheme::Q4F16_1, bad), Error);
  EXPECT_THROW(quant::quantize(Tensor::zeros({2, 3, 4}), Scheme::Q4F16_1), Error);
  QuantizedWeight q = quant::quantize(Tensor::zeros({2, 32}), Scheme::Q4F16_1);
  q.q_scale = Tensor::zeros({2, 1}, DType::F32);  // wrong dtype for q4f16_1
  EXPECT_THROW(quant::dequantize(q), Error);
}

}  // namespace
}  // namespace slm::test
