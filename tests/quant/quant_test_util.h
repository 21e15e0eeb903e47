// Helpers for the quant tests: building weights from literal values and reading stored bits.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "quant/group_quant.h"
#include "tensor/dtype.h"
#include "tensor/tensor.h"

namespace slm::test {

// (N, K) tensor of `dtype` from f32 values (rounded RNE for F16/BF16).
inline Tensor weight_from(const std::vector<float>& v, int64_t N, int64_t K, DType dtype = DType::F32) {
  return Tensor::from_f32(v, {N, K}).to(dtype);
}

inline uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

inline uint32_t word_at(const quant::QuantizedWeight& q, int64_t n, int64_t j) {
  return q.words()[n * q.words_per_row() + j];
}

// Raw scale bits: f16 bits for q4f16_1, f32 bits for q4f32_1.
inline uint32_t scale_bits(const quant::QuantizedWeight& q, int64_t n, int64_t g) {
  const int64_t i = n * q.num_groups() + g;
  if (q.q_scale.dtype() == DType::F16) return q.q_scale.data<uint16_t>()[i];
  return f32_bits(q.q_scale.data<float>()[i]);
}

// Same scheme, shapes, and identical bytes in both planes.
inline void expect_same_bits(const quant::QuantizedWeight& a, const quant::QuantizedWeight& b) {
  ASSERT_EQ(a.q_weight.shape(), b.q_weight.shape());
  ASSERT_EQ(a.q_scale.shape(), b.q_scale.shape());
  EXPECT_EQ(0, std::memcmp(a.q_weight.raw(), b.q_weight.raw(), a.q_weight.nbytes())) << "q_weight differs";
  EXPECT_EQ(0, std::memcmp(a.q_scale.raw(), b.q_scale.raw(), a.q_scale.nbytes())) << "q_scale differs";
}

// Uniform values in [lo, hi) from a fixed seed.
inline std::vector<float> uniform(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

}  // namespace slm::test
