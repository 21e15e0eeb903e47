// Scalar dtype conversions (see dtype.h).
#include "tensor/dtype.h"

#include <cmath>

namespace slm {

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I32: return "I32";
  }
  return "?";
}

bool dtype_from_name(std::string_view name, DType* out) {
  if (name == "F32") *out = DType::F32;
  else if (name == "F16") *out = DType::F16;
  else if (name == "BF16") *out = DType::BF16;
  else if (name == "I32") *out = DType::I32;
  else return false;
  return true;
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t u;
  if (exp == 0) {
    if (mant == 0) {
      u = sign;
    } else {  // subnormal: renormalise
      int e = -1;
      do { mant <<= 1; ++e; } while (!(mant & 0x400));
      u = sign | uint32_t(127 - 15 - e) << 23 | (mant & 0x3ff) << 13;
    }
  } else if (exp == 31) {
    u = sign | 0x7f800000u | mant << 13;
  } else {
    u = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t f32_to_f16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  uint16_t sign = uint16_t((u >> 16) & 0x8000);
  uint32_t absu = u & 0x7fffffffu;
  if (absu > 0x7f800000u) return sign | 0x7e00;          // NaN
  if (absu >= 0x477ff000u) return sign | 0x7c00;         // rounds to >= 65520: inf
  if (absu < 0x38800000u) {                              // below f16 normal range
    // Subnormal: value = m * 2^-24; round to nearest even.
    float a;
    std::memcpy(&a, &absu, 4);
    float scaled = a * 16777216.0f;  // 2^24, exact
    float r = std::nearbyint(scaled);  // default mode: nearest-even
    return sign | uint16_t(r);
  }
  uint32_t exp = (absu >> 23) - 127 + 15;
  uint32_t mant = absu & 0x7fffff;
  uint32_t h = exp << 10 | mant >> 13;
  uint32_t rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) ++h;  // may carry into exponent: correct
  return sign | uint16_t(h);
}

}  // namespace slm
