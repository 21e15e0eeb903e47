// MLC-LLM group quantisation of one 2-D weight, bit-exact with GroupQuantize._quantize / _dequantize
// (mlc-ai/mlc-llm python/mlc_llm/quantization/group_quantization.py) run on the CPU (LLVM) target.
// Groups run along the last axis K of an HF-layout (N, K) weight, the "NK" layout of q4f16_1 / q4f32_1.
// Every kernel has a scalar reference (`*_ref`) that spells out MLC's arithmetic step by step; the fast
// path (OpenMP over rows, AVX-512 under __AVX512F__) is tested against it bit for bit.
// Not here: which tensors of a model get quantised (the family tensor tables), fused qkv / gate_up
// layouts, the KN (`*_0`) layout, int3/int8 presets. Derivation and sources: docs/quantization.md.
#pragma once
#include "quant/block.h"
#include "tensor/tensor.h"

namespace slm::quant {

struct QuantizeOptions {
  // Tie rule of MLC's `round`; TiesToEven matches current TVM, TiesAway MLC builds on TVM before
  // apache/tvm#19368 converting on CPU (e.g. MLC v0.19.0 --device cpu).
  RoundMode round = RoundMode::TiesToEven;
  // 0 = the scheme's (32). Any multiple of 8 is accepted, for tests and future presets.
  int64_t group_size = 0;
  // Threads for the fast path: 0 = OpenMP's default, 1 = the calling thread only (callers that overlap
  // quantisation with other work on the remaining cores, like the export pipeline).
  int threads = 0;
};

// w (N, K) F32/BF16/F16, contiguous. The weight is first cast to the scheme's model dtype with
// round-to-nearest-even (numpy astype in MLC's loader), then quantised in that dtype: for q4f16_1 every
// intermediate (scale, w/scale, +7) is rounded to f16 as TVM's f16 arithmetic does. A NaN in w throws
// slm::Error (MLC's result would depend on the device's max/reduction order). q0 schemes only cast.
QuantizedWeight quantize(const Tensor& w, Scheme scheme, const QuantizeOptions& opt = {});
QuantizedWeight quantize_ref(const Tensor& w, Scheme scheme, const QuantizeOptions& opt = {});

// (N, K) F32: w = (code - 7) * scale, computed in the model dtype (q4f16_1 rounds the product to f16),
// exactly what MLC's compiled `dequantize` produces, widened to f32.
Tensor dequantize(const QuantizedWeight& q);
Tensor dequantize_ref(const QuantizedWeight& q);

// Row n (K values) of dequantize(q) into `out`, for a q4 scheme (no checks: callers validated q).
// What int4_linear and a quantised embedding lookup use to avoid the full f32 weight.
void dequantize_row(const QuantizedWeight& q, int64_t n, float* out);

// Throws slm::Error unless q is a consistent q4 / q0 weight (shapes, dtypes, group size).
void check_quantized(const QuantizedWeight& q, const char* what);

// MLC's scale of a group whose largest |w| is `max_abs` (already in the model dtype):
// model_dtype(max_abs / 7). F16 rounds the quotient to f16; returned widened to f32.
float group_scale(float max_abs, DType model_dtype);

// The stored code of one element: clamp(round(w/scale + 7), 0, 14) with MLC's operation order, f16
// rounding after each operation when model_dtype is F16, and LLVM's select-based max/min (NaN -> 0).
uint32_t quantize_code(float w, float scale, DType model_dtype, RoundMode round);

}  // namespace slm::quant
