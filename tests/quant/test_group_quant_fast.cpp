// The fast quantize / dequantize (OpenMP, AVX-512) against the scalar references, bit for bit, over odd
// shapes, every input dtype, both schemes, both tie rules and several group sizes.
#include <gtest/gtest.h>

#include <cmath>

#include "quant/group_quant.h"
#include "quant_test_util.h"

namespace slm::test {
namespace {

using quant::QuantizedWeight;
using quant::QuantizeOptions;
using quant::RoundMode;
using quant::Scheme;

// Values on a grid of halves times powers of two hit exact ties often; mixed with random values and zeros.
std::vector<float> tricky(size_t n, uint32_t seed) {
  std::vector<float> v = uniform(n, seed, -2.0f, 2.0f);
  std::mt19937 rng(seed + 1);
  for (size_t i = 0; i < n; ++i) {
    switch (rng() % 5) {
      case 0:
        v[i] = float(int(rng() % 29) - 14) * 0.5f;
        break;  // k/2
      case 1:
        v[i] = std::ldexp(v[i], int(rng() % 40) - 30);
        break;  // tiny and large magnitudes
      case 2:
        if (rng() % 4 == 0) v[i] = 0.0f;
        break;
      default:
        break;
    }
  }
  return v;
}

TEST(QuantFast, BitExactWithReference) {
  const int64_t shapes[][2] = {
      {1, 1},  {3, 5},   {2, 8},   {5, 31},   {4, 32},
      {7, 33}, {3, 100}, {9, 257}, {2, 1000}, {70, 600}};  // the last is large enough to run in parallel
  uint32_t seed = 1;
  for (const auto& nk : shapes) {
    const int64_t N = nk[0], K = nk[1];
    std::vector<float> v = tricky(size_t(N * K), seed++);
    for (DType dt : {DType::F32, DType::BF16, DType::F16}) {
      Tensor w = weight_from(v, N, K, dt);
      for (Scheme s : {Scheme::Q4F16_1, Scheme::Q4F32_1}) {
        for (RoundMode rm : {RoundMode::TiesToEven, RoundMode::TiesAway}) {
          for (int64_t gs : {32, 8, 16, 64}) {
            SCOPED_TRACE(testing::Message() << "N=" << N << " K=" << K << " dtype=" << dtype_name(dt)
                                            << " scheme=" << quant::scheme_info(s).name << " gs=" << gs
                                            << " ties_away=" << (rm == RoundMode::TiesAway));
            QuantizeOptions opt;
            opt.round = rm;
            opt.group_size = gs;
            QuantizedWeight r = quant::quantize_ref(w, s, opt);
            QuantizedWeight f = quant::quantize(w, s, opt);
            expect_same_bits(r, f);
            EXPECT_EQ(f.group_size, gs);
            Tensor dr = quant::dequantize_ref(r), df = quant::dequantize(f);
            ASSERT_EQ(dr.shape(), Shape({N, K}));
            EXPECT_EQ(0, std::memcmp(dr.raw(), df.raw(), dr.nbytes())) << "dequantize differs";
          }
        }
      }
    }
  }
}

// Values at the edges of f16 (the f16 kernel computes in f16 arithmetic): past 65504 (inf after the cast),
// infinities, f16 subnormals and the smallest normal, all-zero groups, a lone outlier, odd tails.
TEST(QuantFast, BitExactWithReferenceAtF16Edges) {
  const float edge[] = {70000.0f, 65504.0f, 65520.0f, -65519.0f, INFINITY, -INFINITY, 6.1035156e-05f, 5.9604645e-08f,
                        -2.9802322e-08f, 1e-10f, 0.0f, -0.0f, 1.0f, 1.0009765625f, 3.5f, -7.0f, 1000.0f, 1e-3f};
  const int64_t N = 37, K = 100;  // groups of 32 with a tail of 4
  std::mt19937 rng(9);
  std::vector<float> v = uniform(size_t(N * K), 10, -1.0f, 1.0f);
  for (int64_t n = 0; n < N; ++n) {
    if (n % 5 == 0)
      for (int64_t k = 32; k < 64; ++k) v[size_t(n * K + k)] = 0.0f;  // an all-zero group
    for (int i = 0; i < 6; ++i) v[size_t(n * K + int64_t(rng() % K))] = edge[rng() % (sizeof edge / sizeof *edge)];
  }
  for (DType dt : {DType::F32, DType::BF16, DType::F16}) {
    Tensor w = weight_from(v, N, K, dt);
    for (Scheme s : {Scheme::Q4F16_1, Scheme::Q4F32_1})
      for (RoundMode rm : {RoundMode::TiesToEven, RoundMode::TiesAway}) {
        SCOPED_TRACE(testing::Message() << dtype_name(dt) << " " << quant::scheme_info(s).name
                                        << " away=" << (rm == RoundMode::TiesAway));
        QuantizeOptions opt;
        opt.round = rm;
        expect_same_bits(quant::quantize_ref(w, s, opt), quant::quantize(w, s, opt));
        opt.threads = 1;
        expect_same_bits(quant::quantize_ref(w, s, opt), quant::quantize(w, s, opt));
      }
  }
}

// Ties are common under f16 (w/scale + 7 rounded to 2^-7 in [8, 16)), so the tie rule changes real codes:
// the choice between current TVM (even) and older TVM on CPU (away) matters for bit-exactness.
TEST(QuantFast, TieRuleMattersOnRandomWeights) {
  Tensor w = weight_from(uniform(64 * 256, 5), 64, 256);
  QuantizeOptions away;
  away.round = RoundMode::TiesAway;
  QuantizedWeight e = quant::quantize(w, Scheme::Q4F16_1), a = quant::quantize(w, Scheme::Q4F16_1, away);
  int64_t differ = 0;
  for (int64_t i = 0; i < e.q_weight.numel(); ++i) differ += e.words()[i] != a.words()[i];
  EXPECT_GT(differ, 0);
  EXPECT_EQ(0, std::memcmp(e.q_scale.raw(), a.q_scale.raw(), e.q_scale.nbytes()));  // scales do not round
}

TEST(QuantFast, DequantizeRowMatchesFullDequantize) {
  QuantizedWeight q = quant::quantize(weight_from(uniform(5 * 77, 9), 5, 77), Scheme::Q4F32_1);
  Tensor d = quant::dequantize_ref(q);
  std::vector<float> row(77);
  for (int64_t n = 0; n < 5; ++n) {
    quant::dequantize_row(q, n, row.data());
    EXPECT_EQ(0, std::memcmp(row.data(), d.data<float>() + n * 77, 77 * 4)) << n;
  }
}

}  // namespace
}  // namespace slm::test
