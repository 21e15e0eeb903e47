// Tensor views, copies and dtype conversions.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "tensor/error.h"
#include "tensor/tensor.h"

using namespace slm;

TEST(Tensor, ViewsShareStorage) {
  Tensor t = Tensor::from_f32({0, 1, 2, 3, 4, 5}, {2, 3});
  Tensor col = t.narrow(1, 1, 2);
  EXPECT_FALSE(col.is_contiguous());
  EXPECT_EQ(col.shape(), (Shape{2, 2}));
  EXPECT_EQ(col.item_f32({1, 0}), 4.0f);
  col.data<float>()[0] = 42.0f;  // element (0,1) of t
  EXPECT_EQ(t.item_f32({0, 1}), 42.0f);
  Tensor tr = t.transpose(0, 1);
  EXPECT_EQ(tr.shape(), (Shape{3, 2}));
  EXPECT_EQ(tr.item_f32({2, 1}), 5.0f);
  Tensor c = tr.contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_EQ(c.to_f32_vector(), (std::vector<float>{0, 3, 42, 4, 2, 5}));
  Tensor row = t.select(0, 1);
  EXPECT_EQ(row.shape(), (Shape{3}));
  EXPECT_EQ(row.to_f32_vector(), (std::vector<float>{3, 4, 5}));
}

TEST(Tensor, ReshapeChecks) {
  Tensor t = Tensor::zeros({4, 6});
  EXPECT_EQ(t.reshape({2, -1, 3}).shape(), (Shape{2, 4, 3}));
  EXPECT_THROW(t.reshape({5, 5}), Error);
  EXPECT_THROW(t.transpose(0, 1).reshape({24}), Error);
  EXPECT_THROW(t.narrow(0, 3, 2), Error);
}

TEST(DType, Bf16RoundsToNearestEven) {
  // 1 + 2^-8 is exactly halfway between bf16 1.0 and 1 + 2^-7: ties to even (1.0).
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + 1.0f / 256)), 1.0f);
  // 1 + 3·2^-8 is halfway between 1+2^-7 (odd mantissa) and 1+2^-6: ties to even (1+2^-6).
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + 3.0f / 256)), 1.0f + 1.0f / 64);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(-3.5f)), -3.5f);
}

TEST(DType, F16RoundTripAndEdges) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    float f = f16_to_f32(uint16_t(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(f32_to_f16(f), uint16_t(h)) << "half bits " << h;
  }
  EXPECT_EQ(f16_to_f32(f32_to_f16(65504.0f)), 65504.0f);
  EXPECT_TRUE(std::isinf(f16_to_f32(f32_to_f16(65520.0f))));
  EXPECT_EQ(f16_to_f32(f32_to_f16(65519.0f)), 65504.0f);
  EXPECT_EQ(f16_to_f32(f32_to_f16(5.96e-8f)), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(f32_to_f16(1e-9f), 0);
}

TEST(Tensor, DtypeConversionCopies) {
  Tensor t = Tensor::from_f32({1.5f, -2.25f, 1e-3f}, {3});
  Tensor b = t.to(DType::BF16);
  EXPECT_EQ(b.dtype(), DType::BF16);
  EXPECT_EQ(b.item_f32({0}), 1.5f);
  EXPECT_EQ(b.item_f32({2}), round_bf16(1e-3f));
  Tensor h = t.to(DType::F16);
  EXPECT_EQ(h.item_f32({1}), -2.25f);
  EXPECT_THROW(check_tensor(t, DType::BF16, {3}, "t"), Error);
  EXPECT_NO_THROW(check_tensor(t, DType::F32, {-1}, "t"));
}

TEST(Tensor, CopyOfRowSlicesAndTransposesMatchesElementwise) {
  std::vector<float> v(2 * 3 * 5);
  for (size_t i = 0; i < v.size(); ++i) v[i] = float(i);
  Tensor t = Tensor::from_f32(v, {2, 3, 5});
  Tensor slice = t.narrow(2, 1, 3).contiguous();  // unit inner stride: row copies
  Tensor tr = t.transpose(1, 2).contiguous();     // strided inner dimension: element copies
  for (int64_t a = 0; a < 2; ++a)
    for (int64_t b = 0; b < 3; ++b)
      for (int64_t c = 0; c < 5; ++c) {
        const float want = float(a * 15 + b * 5 + c);
        if (c >= 1 && c < 4) EXPECT_EQ(slice.item_f32({a, b, c - 1}), want);
        EXPECT_EQ(tr.item_f32({a, c, b}), want);
      }
  Tensor bf = t.narrow(2, 1, 3).to(DType::BF16);  // dtype change: element path
  EXPECT_EQ(bf.item_f32({1, 2, 2}), float(1 * 15 + 2 * 5 + 3));
}
