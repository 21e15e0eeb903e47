// embedding and rmsnorm against their references and against values derived by hand.
#include <cmath>

#include "ops_test_util.h"

using namespace slm;
using namespace slm::test;

TEST(Embedding, GathersRowsOfEveryFloatDtype) {
  Tensor table = random_f32({11, 37}, 7);
  Tensor ids = Tensor::from_i32({3, 0, 10, 3, 7}, {5});
  for (DType dt : {DType::F32, DType::BF16, DType::F16}) {
    SCOPED_TRACE(std::string(dtype_name(dt)));
    Tensor tab = table.to(dt);
    Tensor out = embedding(tab, ids), ref = embedding_ref(tab, ids);
    ASSERT_EQ(out.shape(), (Shape{5, 37}));
    EXPECT_EQ(count_bit_diffs(out, ref), 0);
    for (int64_t t = 0; t < 5; ++t)
      for (int64_t c = 0; c < 37; ++c) ASSERT_EQ(out.item_f32({t, c}), tab.item_f32({ids.data<int32_t>()[t], c}));
  }
  // A long id list takes the parallel path.
  std::vector<int32_t> many(1000);
  for (size_t i = 0; i < many.size(); ++i) many[i] = int32_t((i * 7) % 11);
  Tensor big = Tensor::from_i32(many, {1000});
  EXPECT_EQ(count_bit_diffs(embedding(table.to(DType::BF16), big), embedding_ref(table.to(DType::BF16), big)), 0);
}

TEST(Embedding, OutOfRangeIdNamesIdAndVocab) {
  Tensor table = Tensor::zeros({50, 4});
  expect_error_with([&] { embedding(table, Tensor::from_i32({1, 50}, {2})); }, {"token id 50", "50 rows"});
  expect_error_with([&] { embedding(table, Tensor::from_i32({-3}, {1})); }, {"token id -3", "50 rows"});
  expect_error_with([&] { embedding_ref(table, Tensor::from_i32({77}, {1})); }, {"token id 77"});
  expect_error_with([&] { embedding(table, Tensor::from_f32({1}, {1})); }, {"ids", "I32"});
  expect_error_with(
      [&] {
        embedding(Tensor::zeros({50, 4}, DType::I32), Tensor::from_i32({1}, {1}));
      },
      {"embedding table"});
}

TEST(RmsNorm, HandComputed) {
  // x = [3, 4]: mean(x²) = 12.5, rsqrt = 0.28284271; eps = 0.
  Tensor x = Tensor::from_f32({3, 4}, {1, 2});
  Tensor w = Tensor::from_f32({1, 2}, {2});
  const double r = 1.0 / std::sqrt(12.5);
  for (const Tensor& y : {rmsnorm(x, w, 0.0f, false), rmsnorm_ref(x, w, 0.0f, false)}) {
    EXPECT_NEAR(y.item_f32({0, 0}), 3 * r, 1e-6);
    EXPECT_NEAR(y.item_f32({0, 1}), 8 * r, 1e-6);
  }
  // Gemma: (1 + w); w = [0, 1] gives [3r, 8r] as well.
  Tensor wg = Tensor::from_f32({0, 1}, {2});
  for (const Tensor& y : {rmsnorm(x, wg, 0.0f, true), rmsnorm_ref(x, wg, 0.0f, true)}) {
    EXPECT_NEAR(y.item_f32({0, 0}), 3 * r, 1e-6);
    EXPECT_NEAR(y.item_f32({0, 1}), 8 * r, 1e-6);
  }
  // eps matters for small rows: x = [0, 0] stays 0; x = [1e-3, 0] with eps 1e-6: 1e-3 / sqrt(5e-7 + 1e-6).
  Tensor xs = Tensor::from_f32({1e-3f, 0}, {1, 2});
  EXPECT_NEAR(rmsnorm(xs, Tensor::from_f32({1, 1}, {2}), 1e-6f, false).item_f32({0, 0}), 1e-3 / std::sqrt(1.5e-6),
              1e-5);
}

TEST(RmsNorm, MatchesReferenceAndDoubleFormula) {
  for (auto [T, C] : {std::pair<int64_t, int64_t>{1, 1}, {3, 17}, {5, 896}, {4, 2047}, {33, 64}}) {
    SCOPED_TRACE("T=" + std::to_string(T) + " C=" + std::to_string(C));
    Tensor x = random_f32({T, C}, uint32_t(T * 31 + C), -3.0f, 3.0f);
    Tensor w = random_f32({C}, uint32_t(C), 0.5f, 1.5f);
    for (bool gemma : {false, true}) {
      for (DType dt : {DType::F32, DType::BF16}) {
        Tensor wd = w.to(dt);
        Tensor y = rmsnorm(x, wd, 1e-6f, gemma), ref = rmsnorm_ref(x, wd, 1e-6f, gemma);
        // Same f32 operations; only the double sum of squares may round differently: ≤ 2 ulp.
        for (int64_t i = 0; i < y.numel(); ++i) {
          float a = y.data<float>()[i], b = ref.data<float>()[i];
          ASSERT_LE(std::fabs(a - b), 2.5e-7f * std::fabs(b) + 1e-30f) << i;
        }
        // The reference against the formula in double.
        for (int64_t t = 0; t < T; ++t) {
          double ss = 0;
          for (int64_t c = 0; c < C; ++c) ss += double(x.item_f32({t, c})) * x.item_f32({t, c});
          double r = 1.0 / std::sqrt(ss / double(C) + 1e-6);
          for (int64_t c = 0; c < C; ++c) {
            double wv = wd.item_f32({c}) + (gemma ? 1.0 : 0.0);
            double expect = x.item_f32({t, c}) * r * wv;
            ASSERT_NEAR(ref.item_f32({t, c}), expect, 1e-6 * std::fabs(expect) + 1e-7);
          }
        }
      }
    }
  }
}

TEST(RmsNorm, BadArgumentsThrow) {
  expect_error_with([] { rmsnorm(Tensor::zeros({2, 8}), Tensor::zeros({7}), 1e-6f, false); }, {"rmsnorm", "7", "8"});
  expect_error_with([] { rmsnorm(Tensor::zeros({8}), Tensor::zeros({8}), 1e-6f, false); }, {"rmsnorm x"});
  expect_error_with(
      [] {
        rmsnorm(Tensor::zeros({2, 8}), Tensor::zeros({8}, DType::I32), 1e-6f, false);
      },
      {"rmsnorm weight"});
}
