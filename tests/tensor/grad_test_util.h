// Helpers for the fast-vs-reference gradient tests (test_grad_fast*.cpp): error of an f32 result against a
// double reference, relative to the reference's largest entry, printed so the report can quote it.
#pragma once
#include <cmath>
#include <cstdio>
#include <string>

#include "ops_test_util.h"
#include "tensor/ref/grad_ref.h"

namespace slm::test {

// max |got - want| / max |want| (0 when both are all zeros).
inline double rel_err(const Tensor& got, const ref::DArray& want) {
  EXPECT_EQ(got.shape(), want.shape);
  std::vector<float> g = got.to_f32_vector();
  double err = 0.0, scale = 0.0;
  for (size_t i = 0; i < g.size() && i < want.v.size(); ++i) {
    const double d = std::fabs(double(g[i]) - want.v[i]);
    if (std::isnan(d)) return INFINITY;
    err = std::max(err, d);
    scale = std::max(scale, std::fabs(want.v[i]));
  }
  return scale > 0.0 ? err / scale : err;
}

// Expects rel_err <= tol and prints the measured error under `what`.
inline void expect_close(const std::string& what, const Tensor& got, const ref::DArray& want, double tol) {
  const double e = rel_err(got, want);
  EXPECT_LE(e, tol) << what;
  std::printf("  [%s] max rel err %.2e (tol %.0e)\n", what.c_str(), e, tol);
}

}  // namespace slm::test
