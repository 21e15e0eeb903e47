// linear: fast paths (AVX-512 GEMV for T == 1, oneDNN otherwise) against linear_ref, plus hand-derived cases.
#include <cmath>
#include <cstring>
#include <tuple>

#include "ops_test_util.h"
#include "tensor/matmul_paths.h"
#include "tensor/onednn_gemm.h"

namespace slm {
void gemv_bf16_widen(const float* x, const uint16_t* w, float* y, int64_t K, int64_t N);  // gemv.cpp
}  // namespace slm

using namespace slm;
using namespace slm::test;

namespace {

// Per element: |y - ref| <= 1e-5 · Σ_k |x_k w_k| (+ a tiny floor): f32 accumulation in any order stays well
// inside this for K up to a few thousand.
void expect_close_to_ref(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y) {
  Tensor ref = linear_ref(x, w, bias);
  ASSERT_EQ(y.shape(), ref.shape());
  const int64_t T = x.size(0), K = x.size(1), N = w.size(0);
  Tensor wf = w.to(DType::F32);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = 0; n < N; ++n) {
      double mag = 0.0;
      for (int64_t k = 0; k < K; ++k) mag += std::fabs(x.data<float>()[t * K + k] * wf.data<float>()[n * K + k]);
      double err = std::fabs(double(y.item_f32({t, n})) - double(ref.item_f32({t, n})));
      ASSERT_LE(err, 1e-5 * mag + 1e-6) << "t=" << t << " n=" << n << " K=" << K;
    }
}

}  // namespace

TEST(Linear, HandComputed) {
  Tensor x = Tensor::from_f32({1, 2}, {1, 2});
  Tensor w = Tensor::from_f32({3, 4, 5, 6}, {2, 2});  // (N=2, K=2)
  Tensor b = Tensor::from_f32({0.5f, -1.0f}, {2});
  for (const Tensor& y : {linear(x, w, b), linear_ref(x, w, b)}) {
    EXPECT_EQ(y.item_f32({0, 0}), 11.5f);  // 1·3 + 2·4 + 0.5
    EXPECT_EQ(y.item_f32({0, 1}), 16.0f);  // 1·5 + 2·6 - 1
  }
  Tensor x2 = Tensor::from_f32({1, 2, -1, 0.5f, 0, 3}, {3, 2});
  Tensor y2 = linear(x2, w);  // oneDNN path
  EXPECT_EQ(y2.to_f32_vector(), (std::vector<float>{11, 17, -1, -2, 12, 18}));
}

TEST(Linear, Bf16WeightsRoundXToBf16) {
  // 1 + 2^-9 is not representable in bf16 (rounds to 1.0); with f32 weights it survives.
  const float xv = 1.0f + 1.0f / 512;
  Tensor x = Tensor::from_f32({xv, xv}, {1, 2});
  Tensor x3 = Tensor::from_f32({xv, xv, xv, xv, xv, xv}, {3, 2});
  Tensor w = Tensor::from_f32({1, 1}, {1, 2});
  Tensor wb = w.to(DType::BF16);
  EXPECT_EQ(linear(x, w).item_f32({0, 0}), 2 * xv);
  EXPECT_EQ(linear(x, wb).item_f32({0, 0}), 2.0f);
  EXPECT_EQ(linear_ref(x, wb).item_f32({0, 0}), 2.0f);
  EXPECT_EQ(linear(x3, wb).item_f32({2, 0}), 2.0f);
  EXPECT_EQ(linear(x3, w).item_f32({2, 0}), 2 * xv);
}

class LinearShapes : public ::testing::TestWithParam<std::tuple<int64_t, int64_t, int64_t>> {};

TEST_P(LinearShapes, MatchesReference) {
  auto [T, K, N] = GetParam();
  uint32_t seed = uint32_t(T * 1000003 + K * 1009 + N);
  Tensor x = random_f32({T, K}, seed, -2.0f, 2.0f);
  Tensor w = random_f32({N, K}, seed + 1);
  Tensor b = random_f32({N}, seed + 2);
  for (DType dt : {DType::F32, DType::BF16}) {
    SCOPED_TRACE(std::string(dtype_name(dt)));
    Tensor wd = w.to(dt);
    expect_close_to_ref(x, wd, Tensor(), linear(x, wd));
    expect_close_to_ref(x, wd, b, linear(x, wd, b));
    expect_close_to_ref(x, wd, b.to(DType::BF16), linear(x, wd, b.to(DType::BF16)));
    expect_close_to_ref(x, wd, Tensor(), detail::linear_onednn(x, wd));
    if (dt == DType::F32 && K <= detail::kSmallK) expect_close_to_ref(x, wd, b, detail::linear_small_k(x, wd, b));
    {  // linear_add: y0 + x wᵀ; (y0 + p) - y0 recovers p to within an ulp of |y0| + |p|
      Tensor y0 = random_f32({T, N}, seed + 3), y = y0.clone();
      linear_add(x, wd, y);
      const float* a = y.data<float>();
      const float* z = y0.data<float>();
      std::vector<float> diff(size_t(T * N));
      for (size_t i = 0; i < diff.size(); ++i) diff[i] = a[i] - z[i];
      expect_close_to_ref(x, wd, Tensor(), Tensor::from_f32(diff, {T, N}));
    }
    if (T == 1) expect_close_to_ref(x, wd, Tensor(), detail::linear_gemv(x, wd));
    if (T == 1 && dt == DType::BF16) {  // the widening GEMV, used where the CPU lacks AVX512_BF16
      Tensor xr = x.to(DType::BF16).to(DType::F32), y = Tensor::empty({1, N});
      gemv_bf16_widen(xr.data<float>(), wd.data<uint16_t>(), y.data<float>(), K, N);
      expect_close_to_ref(x, wd, Tensor(), y);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, LinearShapes,
                         ::testing::Values(std::make_tuple(1, 1, 1), std::make_tuple(1, 17, 5),
                                           std::make_tuple(1, 16, 4), std::make_tuple(1, 33, 7),
                                           std::make_tuple(1, 896, 257), std::make_tuple(1, 896, 4864),
                                           // the GEMV's row-by-row loops with their tails, and its
                                           // interleaved one (x past 16 KB in f32 and in bf16)
                                           std::make_tuple(1, 200, 7), std::make_tuple(1, 8200, 9),
                                           std::make_tuple(2, 3, 2), std::make_tuple(3, 17, 5),
                                           std::make_tuple(7, 100, 31), std::make_tuple(64, 128, 96),
                                           std::make_tuple(33, 896, 67),
                                           // K <= kSmallK (LoRA's rank): the short-reduction kernel, with row and
                                           // column tails and several 64-row tasks
                                           std::make_tuple(37, 16, 100), std::make_tuple(130, 32, 77),
                                           std::make_tuple(9, 1, 64)));

TEST(Linear, Bf16RoundingMatchesScalarBitForBit) {
  // The vector f32 -> bf16 rounding that feeds oneDNN: ties to even, NaN kept quiet, inf, denormals, and a row
  // stride with a tail shorter than a vector.
  std::vector<uint32_t> bits = {0x3f808000u, 0x3f818000u, 0x3f80ffffu, 0x7f800000u, 0xff800000u, 0x7fc00001u,
                                0x7f800001u, 0xffffffffu, 0x00000001u, 0x80008000u, 0x7f7fffffu, 0x00000000u};
  uint32_t z = 12345;
  while (bits.size() < 3 * 37) bits.push_back(z = z * 1664525u + 1013904223u);
  std::vector<float> x(bits.size());
  std::memcpy(x.data(), bits.data(), bits.size() * 4);
  const int64_t rows = 3, cols = 29, ld = 37;  // the last 8 of each 37 are skipped
  std::vector<uint16_t> got(size_t(rows * cols));
  detail::round_to_bf16(x.data(), rows, cols, ld, got.data());
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      ASSERT_EQ(got[size_t(i * cols + j)], f32_to_bf16(x[size_t(i * ld + j)]))
          << "bits " << std::hex << bits[size_t(i * ld + j)];
}

TEST(Linear, EmptyExtents) {
  Tensor y = linear(Tensor::zeros({0, 8}), Tensor::zeros({4, 8}));
  EXPECT_EQ(y.shape(), (Shape{0, 4}));
  Tensor z = linear(Tensor::zeros({2, 0}), Tensor::zeros({3, 0}), Tensor::from_f32({1, 2, 3}, {3}));
  EXPECT_EQ(z.to_f32_vector(), (std::vector<float>{1, 2, 3, 1, 2, 3}));
}

TEST(Linear, BadArgumentsThrow) {
  Tensor x = Tensor::zeros({2, 8});
  expect_error_with([&] { linear(x, Tensor::zeros({4, 7})); }, {"linear", "8", "[4, 7]"});
  expect_error_with([&] { linear(x, Tensor::zeros({4, 8}, DType::I32)); }, {"linear weight", "I32"});
  expect_error_with([&] { linear(x, Tensor::zeros({4, 8}), Tensor::zeros({5})); }, {"bias", "5"});
  expect_error_with([&] { linear(Tensor::zeros({8, 2}).transpose(0, 1), Tensor::zeros({4, 8})); }, {"contiguous"});
  expect_error_with([&] { linear(Tensor::zeros({2, 8}, DType::BF16), Tensor::zeros({4, 8})); }, {"linear x"});
  expect_error_with([&] { linear(Tensor(), Tensor::zeros({4, 8})); }, {"undefined"});
}
