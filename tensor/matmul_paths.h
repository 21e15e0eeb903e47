// The two paths behind slm::linear, exposed so tests can check each against linear_ref and benches can
// compare them at the same shape: linear() picks the GEMV for T == 1 and oneDNN otherwise.
#pragma once
#include "tensor/tensor.h"

namespace slm::detail {

Tensor linear_onednn(const Tensor& x, const Tensor& w);  // any T; no bias
Tensor linear_gemv(const Tensor& x, const Tensor& w);    // T == 1; no bias

}  // namespace slm::detail
