// y (T, N) = x (T, K) · dequantize(W)ᵀ + bias for an MLC q4 weight W (N, K), on the CPU, without
// materialising the f32 weight: decode (T <= 4) dequantises in registers and runs AVX-512 FMAs (under
// __AVX512F__); larger T dequantises ~1 MiB blocks of rows and multiplies them with slm::linear (oneDNN).
// Semantics: activations f32, weights exactly dequantize(W) (f16-rounded for q4f16_1), accumulation f32.
// MLC's compiled kernel computes in the model dtype (f16 activations for q4f16_1); we do not emulate that.
// Not here: KN layout, fused epilogues, GPU kernels. Oracle: int4_linear_ref = dequantize_ref + linear_ref.
#pragma once
#include "quant/block.h"
#include "tensor/tensor.h"

namespace slm::quant {

// x (T, K) F32 contiguous; w a q4 scheme with w.cols == K; bias (N) F32/BF16/F16 or undefined.
Tensor int4_linear(const Tensor& x, const QuantizedWeight& w, const Tensor& bias = Tensor());
Tensor int4_linear_ref(const Tensor& x, const QuantizedWeight& w, const Tensor& bias = Tensor());

}  // namespace slm::quant
