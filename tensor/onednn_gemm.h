// The one place the tensor core calls oneDNN's matmul: C (M, N) = A (M, K) · B (K, N), or C += A · B, with A and
// B given as strided f32 or bf16 views (a transpose is a stride swap, never a copy) and C a row-major f32 matrix.
// Primitives are cached per (shape, dtypes, strides, accumulate); M below kRuntimeMBelow shares one primitive
// with a run-time M, because creating one costs 1-4 ms. bf16 operands accumulate in f32 (AMX or AVX512-BF16).
// B views inside a registered frozen weight (FrozenWeights, ops.h) of at most kFrozenPackMaxBytes are packed once
// into the layout the primitive prefers: oneDNN 2.6's brgemm otherwise repacks a plain B on every call.
// Also the f32 -> bf16 rounding the bf16 paths feed oneDNN with (round to nearest even, as f32_to_bf16).
// Not public: tensor/matmul.cpp (linear) and tensor/grad_matmul.cpp (its gradients) are the callers; their
// scalar references (tensor/ref/) are what these paths are tested against.
#pragma once
#include <cstdint>

#include "tensor/ops.h"
#include "tensor/tensor.h"

namespace slm::detail {

// A row-major-or-strided matrix operand: element (i, j) at data + i * rs + j * cs (in elements).
struct GemmOperand {
  const void* data;
  DType dtype;  // F32 or BF16 (A and B must agree)
  int64_t rs, cs;
};

constexpr int64_t kRuntimeMBelow = 128;

// C (M, N), row stride ldc: C = A · B, or C += A · B when accumulate.
void onednn_gemm(int64_t M, int64_t N, int64_t K, const GemmOperand& A, const GemmOperand& B, float* C, int64_t ldc,
                 bool accumulate);

// Registers (add) or releases the bytes of a frozen weight (see FrozenWeights in ops.h): GEMMs with M >= kRuntimeMBelow
// whose B lies inside use a copy packed once into oneDNN's preferred layout. Registrations of one range nest.
void frozen_register(const void* data, size_t bytes, bool add);
// Bytes held in packed copies of frozen weights (tests, memory reports).
size_t frozen_packed_bytes();

// x (rows, cols) f32 with row stride ld -> dst (rows, cols) bf16 contiguous, rounded to nearest even.
void round_to_bf16(const float* x, int64_t rows, int64_t cols, int64_t ld, uint16_t* dst);

}  // namespace slm::detail
