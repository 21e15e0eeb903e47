// Element types of the tensor core and their scalar conversions.
// bf16/f16 are stored as raw uint16_t bits; arithmetic always happens in f32.
// Rounding follows PyTorch: f32 -> bf16 is round-to-nearest-even (NaN kept quiet),
// f32 -> f16 is IEEE round-to-nearest-even with overflow to inf.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace slm {

enum class DType : uint8_t { F32, F16, BF16, I32 };

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::I32: return 4;
    case DType::F16: return 2;
    case DType::BF16: return 2;
  }
  return 0;
}

// Names as safetensors writes them ("F32", "F16", "BF16", "I32").
std::string_view dtype_name(DType t);
// Parses a safetensors dtype name; returns false for names we do not support.
bool dtype_from_name(std::string_view name, DType* out);

inline float bf16_to_f32(uint16_t b) {
  uint32_t u = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

// Rounds an f32 through bf16 and back (what a bf16 tensor would hold).
inline float round_bf16(float f) { return bf16_to_f32(f32_to_bf16(f)); }

}  // namespace slm
