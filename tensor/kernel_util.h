// Internal helpers shared by the CPU kernels and their scalar references (tensor/*.cpp, tensor/ref/*.cpp):
// argument checks that throw slm::Error with the kernel's name, and scalar loads of float weights.
// Not a public API: models include tensor/ops.h, never this file.
#pragma once
#include <cstdint>
#include <string>

#include "tensor/dtype.h"
#include "tensor/error.h"
#include "tensor/tensor.h"

namespace slm::detail {

// `t` must be a defined, contiguous F32 tensor of rank `rank`.
inline void check_f32(const Tensor& t, int64_t rank, const char* what) {
  SLM_CHECK(t.defined(), std::string("[tensor] ") + what + ": undefined tensor");
  SLM_CHECK(t.dtype() == DType::F32 && t.dim() == rank,
            std::string("[tensor] ") + what + ": expected a rank-" + std::to_string(rank) + " F32 tensor, got " +
                std::string(dtype_name(t.dtype())) + " " + shape_str(t.shape()));
  SLM_CHECK(t.is_contiguous(), std::string("[tensor] ") + what + ": needs a contiguous tensor, got a strided view " +
                                   shape_str(t.shape()) + "; call .contiguous() first");
}

// A float tensor (F32/BF16, or F16 when `allow_f16`), contiguous, of rank `rank`.
inline void check_float(const Tensor& t, int64_t rank, const char* what, bool allow_f16 = false) {
  SLM_CHECK(t.defined(), std::string("[tensor] ") + what + ": undefined tensor");
  bool ok = t.dtype() == DType::F32 || t.dtype() == DType::BF16 || (allow_f16 && t.dtype() == DType::F16);
  SLM_CHECK(ok && t.dim() == rank, std::string("[tensor] ") + what + ": expected a rank-" + std::to_string(rank) +
                                       (allow_f16 ? " F32/BF16/F16" : " F32/BF16") + " tensor, got " +
                                       std::string(dtype_name(t.dtype())) + " " + shape_str(t.shape()));
  SLM_CHECK(t.is_contiguous(), std::string("[tensor] ") + what + ": needs a contiguous tensor, got a strided view " +
                                   shape_str(t.shape()) + "; call .contiguous() first");
}

// Element i of a float tensor's data, as f32 (exact for BF16/F16).
inline float load_float(const void* data, DType t, int64_t i) {
  switch (t) {
    case DType::F32:
      return static_cast<const float*>(data)[i];
    case DType::BF16:
      return bf16_to_f32(static_cast<const uint16_t*>(data)[i]);
    case DType::F16:
      return f16_to_f32(static_cast<const uint16_t*>(data)[i]);
    case DType::I32:
      return float(static_cast<const int32_t*>(data)[i]);
  }
  return 0.0f;
}

// Same extents, element by element.
inline void check_same_shape(const Tensor& a, const Tensor& b, const char* what) {
  SLM_CHECK(a.shape() == b.shape(), std::string("[tensor] ") + what + ": shapes differ, " + shape_str(a.shape()) +
                                        " vs " + shape_str(b.shape()));
}

}  // namespace slm::detail
