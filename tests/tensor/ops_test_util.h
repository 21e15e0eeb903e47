// Helpers for the kernel tests: seeded random tensors and error measures.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>

#include "tensor/error.h"
#include "tensor/ops.h"
#include "tensor/tensor.h"

namespace slm::test {

// Uniform values in [lo, hi), f32, from a fixed seed (tests are deterministic).
inline Tensor random_f32(const Shape& shape, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

// Largest |a - b| over all elements (same shape, any float dtype).
inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  std::vector<float> x = a.to_f32_vector(), y = b.to_f32_vector();
  double m = 0.0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
    double d = std::fabs(double(x[i]) - double(y[i]));
    if (std::isnan(d)) return INFINITY;
    m = std::max(m, d);
  }
  return m;
}

// Number of elements whose bits differ.
inline int64_t count_bit_diffs(const Tensor& a, const Tensor& b) {
  std::vector<float> x = a.to_f32_vector(), y = b.to_f32_vector();
  int64_t n = 0;
  for (size_t i = 0; i < x.size(); ++i) n += std::memcmp(&x[i], &y[i], 4) != 0;
  return n;
}

// Runs f, expects slm::Error whose message contains every one of `needles`.
template <class F>
void expect_error_with(F f, std::initializer_list<std::string> needles) {
  try {
    f();
    ADD_FAILURE() << "expected slm::Error";
  } catch (const Error& e) {
    for (const std::string& n : needles)
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << "message: " << e.what() << "\nmissing: " << n;
  }
}

}  // namespace slm::test
