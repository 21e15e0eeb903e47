// The two paths behind slm::linear, exposed so tests can check each against linear_ref and benches can
// compare them at the same shape: linear() picks the GEMV for T == 1 and oneDNN otherwise.
#pragma once
#include "tensor/tensor.h"

namespace slm::detail {

Tensor linear_onednn(const Tensor& x, const Tensor& w);  // any T; no bias
Tensor linear_gemv(const Tensor& x, const Tensor& w);    // T == 1; no bias
// y (T, N) = x · wᵀ, or y += x · wᵀ when accumulate; y allocated F32 by the caller.
void linear_onednn_into(const Tensor& x, const Tensor& w, Tensor& y, bool accumulate);

}  // namespace slm::detail
