// int4_linear (dequantise per row block on the fly, AVX-512 dots) against int4_linear_ref
// (dequantize_ref + linear_ref, double accumulation) at odd shapes, with and without bias.
#include <gtest/gtest.h>

#include <cmath>

#include "quant/group_quant.h"
#include "quant/int4_matmul.h"
#include "quant_test_util.h"
#include "tensor/error.h"

namespace slm::test {
namespace {

using quant::QuantizedWeight;
using quant::Scheme;

TEST(Int4Matmul, MatchesReferenceAtOddShapes) {
  const int64_t shapes[][3] = {{1, 1, 1},  {1, 7, 33},   {3, 5, 37},    {5, 13, 100},  {2, 9, 256}, {17, 6, 64},
                               {4, 3, 15}, {1, 64, 896}, {9, 40, 1000}, {6, 300, 2000}};  // last: 3 row blocks
  uint32_t seed = 100;
  for (const auto& s : shapes) {
    const int64_t T = s[0], N = s[1], K = s[2];
    Tensor x = Tensor::from_f32(uniform(size_t(T * K), seed++), {T, K});
    Tensor w = weight_from(uniform(size_t(N * K), seed++, -0.2f, 0.2f), N, K);
    Tensor bias = Tensor::from_f32(uniform(size_t(N), seed++), {N});
    for (Scheme sc : {Scheme::Q4F16_1, Scheme::Q4F32_1}) {
      QuantizedWeight q = quant::quantize(w, sc);
      Tensor wd = quant::dequantize_ref(q);
      for (bool with_bias : {false, true}) {
        SCOPED_TRACE(testing::Message() << "T=" << T << " N=" << N << " K=" << K << " " << quant::scheme_info(sc).name
                                        << " bias=" << with_bias);
        Tensor b = with_bias ? bias : Tensor();
        Tensor yf = quant::int4_linear(x, q, b), yr = quant::int4_linear_ref(x, q, b);
        ASSERT_EQ(yf.shape(), Shape({T, N}));
        for (int64_t t = 0; t < T; ++t) {
          for (int64_t n = 0; n < N; ++n) {
            double mag = 0;  // sum |x||w|: the f32 accumulation error scales with it
            for (int64_t k = 0; k < K; ++k) mag += std::fabs(x.data<float>()[t * K + k] * wd.data<float>()[n * K + k]);
            EXPECT_NEAR(yf.data<float>()[t * N + n], yr.data<float>()[t * N + n], 1e-6 * mag + 1e-6) << t << "," << n;
          }
        }
      }
    }
  }
}

TEST(Int4Matmul, ExactOnSmallIntegers) {
  // Weights k/2-ish with scale 1 (max_abs 7) and integer activations: every product and sum is exact, so
  // the fast path must equal the reference exactly. Row n: [7, n - 3, 0, ...].
  const int64_t T = 3, N = 5, K = 40;
  std::vector<float> wv(N * K, 0.0f), xv(T * K);
  for (int64_t n = 0; n < N; ++n) {
    wv[size_t(n * K)] = 7;
    wv[size_t(n * K + 1)] = float(n - 3);
    wv[size_t(n * K + 35)] = -7;
  }
  for (int64_t i = 0; i < T * K; ++i) xv[size_t(i)] = float(i % 5 - 2);
  QuantizedWeight q = quant::quantize(weight_from(wv, N, K), Scheme::Q4F16_1);
  Tensor x = Tensor::from_f32(xv, {T, K});
  Tensor yf = quant::int4_linear(x, q), yr = quant::int4_linear_ref(x, q);
  EXPECT_EQ(0, std::memcmp(yf.raw(), yr.raw(), yf.nbytes()));
  // y[0][n] = 7 * x[0][0] + (n - 3) * x[0][1] - 7 * x[0][35] = 7*(-2) + (n-3)*(-1) - 7*(-2) = 3 - n.
  for (int64_t n = 0; n < N; ++n) EXPECT_EQ(yf.data<float>()[n], float(3 - n)) << n;
}

// The decode path (T <= 4) runs blocks of 4 / T rows with the codes of each pair of words in a permuted order;
// every T, every row tail (N % 4), a parallel split (N * K >= 2^15) and the general K % 32 != 0 path.
TEST(Int4Matmul, DecodePathMatchesReferenceForEveryTAndRowTail) {
  uint32_t seed = 500;
  for (int64_t T = 1; T <= 4; ++T)
    for (int64_t N : {1, 3, 6, 7, 203})
      for (int64_t K : {32, 96, 896, 40}) {
        Tensor x = Tensor::from_f32(uniform(size_t(T * K), seed++), {T, K});
        Tensor w = weight_from(uniform(size_t(N * K), seed++, -0.2f, 0.2f), N, K);
        Tensor bias = Tensor::from_f32(uniform(size_t(N), seed++), {N});
        for (Scheme sc : {Scheme::Q4F16_1, Scheme::Q4F32_1}) {
          SCOPED_TRACE(testing::Message()
                       << "T=" << T << " N=" << N << " K=" << K << " " << quant::scheme_info(sc).name);
          QuantizedWeight q = quant::quantize(w, sc);
          Tensor wd = quant::dequantize_ref(q);
          Tensor yf = quant::int4_linear(x, q, bias), yr = quant::int4_linear_ref(x, q, bias);
          for (int64_t t = 0; t < T; ++t)
            for (int64_t n = 0; n < N; ++n) {
              double mag = std::fabs(bias.data<float>()[n]);
              for (int64_t k = 0; k < K; ++k)
                mag += std::fabs(x.data<float>()[t * K + k] * wd.data<float>()[n * K + k]);
              ASSERT_NEAR(yf.data<float>()[t * N + n], yr.data<float>()[t * N + n], 1e-6 * mag + 1e-6) << t << "," << n;
            }
        }
      }
}

// One-hot rows of x pick single weights: the fast path must return dequantize_ref's value bit for bit, for
// every code 0..15 (15 never comes out of quantize but may be in a foreign file), scales whose products
// need f16 rounding (1 + 2^-10: 7 * s has 13 significant bits) and scales outside the f16 table's range.
TEST(Int4Matmul, OneHotRowsReturnDequantizedWeightsExactly) {
  const int64_t N = 24, K = 64, T = 4;
  std::mt19937 rng(77);
  for (Scheme sc : {Scheme::Q4F16_1, Scheme::Q4F32_1}) {
    QuantizedWeight q = quant::quantize(Tensor::zeros({N, K}), sc);
    for (int64_t i = 0; i < q.q_weight.numel(); ++i) q.q_weight.data<int32_t>()[i] = int32_t(rng());
    // f16 scales at the edges of the kernel's table (exponent fields 1..26) and past them: zero, subnormal,
    // the smallest normal, the largest in-table exponent, large and negative ones (products stay finite).
    const float edge[] = {0.0f, 9.5367432e-07f, 6.1035156e-05f, -6.1035156e-05f, 4095.0f, 4096.0f, 8000.0f, -5000.0f};
    for (int64_t i = 0; i < q.q_scale.numel(); ++i) {
      const float s = i % 3 == 0   ? 1.0009765625f
                      : i % 3 == 1 ? edge[size_t(i / 3) % 8]
                                   : std::uniform_real_distribution<float>(-3.0f, 3.0f)(rng);
      if (sc == Scheme::Q4F16_1)
        q.q_scale.data<uint16_t>()[i] = f32_to_f16(s);
      else
        q.q_scale.data<float>()[i] = s;
    }
    Tensor wd = quant::dequantize_ref(q);
    for (int64_t k0 = 0; k0 < K; k0 += T) {
      std::vector<float> xv(size_t(T * K), 0.0f);
      for (int64_t t = 0; t < T; ++t) xv[size_t(t * K + k0 + t)] = 1.0f;
      for (int64_t rows = 1; rows <= T; ++rows) {  // every decode T
        Tensor y =
            quant::int4_linear(Tensor::from_f32(std::vector<float>(xv.begin(), xv.begin() + rows * K), {rows, K}), q);
        for (int64_t t = 0; t < rows; ++t)
          for (int64_t n = 0; n < N; ++n)
            ASSERT_EQ(y.data<float>()[t * N + n], wd.data<float>()[n * K + k0 + t])  // == : -0 sums to +0
                << quant::scheme_info(sc).name << " T=" << rows << " n=" << n << " k=" << k0 + t;
      }
    }
  }
}

TEST(Int4Matmul, Errors) {
  QuantizedWeight q = quant::quantize(Tensor::zeros({4, 32}), Scheme::Q4F32_1);
  try {
    quant::int4_linear(Tensor::zeros({2, 31}), q);
    ADD_FAILURE() << "K mismatch accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("K = 32"), std::string::npos) << e.what();
  }
  EXPECT_THROW(quant::int4_linear(Tensor::zeros({2, 32}), q, Tensor::zeros({3})), Error);
  EXPECT_THROW(quant::int4_linear(Tensor::zeros({2, 32}), quant::quantize(Tensor::zeros({4, 32}), Scheme::Q0F16)),
               Error);
}

}  // namespace
}  // namespace slm::test
