// MLC group quantisation: scheme registry, scalar references and the fast path (see group_quant.h).
// The reference follows GroupQuantize._quantize's TE stages one by one (max_abs_value, scale, the
// scaled weight, pack_weight); the fast path computes the same values with AVX-512, f16 rounding done by
// vcvtps2ph (round-to-nearest-even, like TVM's f16 ops on LLVM) and MLC's max/min as vmaxps/vminps, whose
// "second operand when unordered" rule is LLVM's select(a > b, a, b).
#include "quant/group_quant.h"

#include <omp.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "quant/q4_simd.h"

#include "tensor/dtype.h"
#include "tensor/error.h"

namespace slm::quant {

namespace {

const SchemeInfo kSchemes[] = {
    {"q4f16_1", true, 32, 4, 8, 7, DType::F16, true, true},
    {"q4f32_1", true, 32, 4, 8, 7, DType::F32, true, true},
    {"q0f16", false, 0, 0, 0, 0, DType::F16, false, false},
    {"q0f32", false, 0, 0, 0, 0, DType::F32, false, false},
};

// Below this many weights a parallel region costs more than it saves.
constexpr int64_t kParallelMin = 1 << 15;

inline float round_f16(float x) { return f16_to_f32(f32_to_f16(x)); }

int64_t resolve_group_size(const SchemeInfo& info, const QuantizeOptions& opt) {
  int64_t gs = opt.group_size ? opt.group_size : info.group_size;
  SLM_CHECK(gs > 0 && gs % info.elems_per_word == 0, std::string("[quant] ") + info.name + ": group size " +
                                                         std::to_string(gs) + " is not a positive multiple of " +
                                                         std::to_string(info.elems_per_word) +
                                                         " (values per uint32 word); use 32, MLC's q4 group size");
  return gs;
}

void check_weight(const Tensor& w, const char* what) {
  SLM_CHECK(w.defined(), std::string("[quant] ") + what + ": undefined weight");
  bool ok = w.dtype() == DType::F32 || w.dtype() == DType::BF16 || w.dtype() == DType::F16;
  SLM_CHECK(ok && w.dim() == 2, std::string("[quant] ") + what + ": expected an (N, K) F32/BF16/F16 weight, got " +
                                    std::string(dtype_name(w.dtype())) + " " + shape_str(w.shape()));
  SLM_CHECK(w.is_contiguous(), std::string("[quant] ") + what + ": needs a contiguous weight, got a strided view " +
                                   shape_str(w.shape()) + "; call .contiguous() first");
}

// Row n of w cast to the model dtype (RNE, as numpy astype), widened to f32 into `out` (K values).
void load_row_ref(const Tensor& w, int64_t n, bool f16, float* out) {
  const int64_t K = w.size(1);
  for (int64_t k = 0; k < K; ++k) {
    float v;
    switch (w.dtype()) {
      case DType::F32:
        v = w.data<float>()[n * K + k];
        break;
      case DType::BF16:
        v = bf16_to_f32(w.data<uint16_t>()[n * K + k]);
        break;
      default:
        v = f16_to_f32(w.data<uint16_t>()[n * K + k]);
        break;
    }
    out[k] = f16 ? round_f16(v) : v;
  }
}

[[noreturn]] void throw_nan(const char* what, int64_t n, int64_t k) {
  throw Error(std::string("[quant] ") + what + ": weight element (" + std::to_string(n) + ", " + std::to_string(k) +
              ") is NaN — the checkpoint is corrupt (MLC's codes for NaN depend on the device); fix the weights");
}

// Eight codes (each <= 15, one per byte, lowest K index in the lowest byte) -> one uint32 word with code r
// in bits [4r, 4r+4): pack_weight's sum of q << (r * 4).
inline uint32_t pack8(const uint8_t* codes) {
  uint64_t v;
  std::memcpy(&v, codes, 8);
  v = (v | (v >> 4)) & 0x00FF00FF00FF00FFull;
  v = (v | (v >> 8)) & 0x0000FFFF0000FFFFull;
  v = (v | (v >> 16)) & 0x00000000FFFFFFFFull;
  return uint32_t(v);
}

// zero: the reference ORs codes into the words; the fast paths write every word and scale themselves.
QuantizedWeight make_result(Scheme scheme, const SchemeInfo& info, int64_t gs, int64_t N, int64_t K, bool zero) {
  QuantizedWeight q;
  q.scheme = scheme;
  q.group_size = gs;
  q.rows = N;
  q.cols = K;
  const int64_t G = (K + gs - 1) / gs;
  q.q_weight = zero ? Tensor::zeros({N, G * gs / info.elems_per_word}, DType::I32)
                   : Tensor::empty({N, G * gs / info.elems_per_word}, DType::I32);
  q.q_scale = zero ? Tensor::zeros({N, G}, info.model_dtype) : Tensor::empty({N, G}, info.model_dtype);
  return q;
}

QuantizedWeight cast_only(const Tensor& w, Scheme scheme, const SchemeInfo& info) {
  QuantizedWeight q;
  q.scheme = scheme;
  q.rows = w.size(0);
  q.cols = w.size(1);
  q.q_weight = w.to(info.model_dtype);
  return q;
}

void store_scale(QuantizedWeight& q, int64_t i, float s) {
  if (q.q_scale.dtype() == DType::F16)
    q.q_scale.data<uint16_t>()[i] = f32_to_f16(s);
  else
    q.q_scale.data<float>()[i] = s;
}

}  // namespace

void check_quantized(const QuantizedWeight& q, const char* what) {
  const SchemeInfo& info = scheme_info(q.scheme);
  SLM_CHECK(q.q_weight.defined() && q.q_weight.is_contiguous(),
            std::string("[quant] ") + what + ": the quantised weight has no contiguous q_weight");
  if (!info.quantized) return;
  SLM_CHECK(q.group_size > 0 && q.group_size % info.elems_per_word == 0,
            std::string("[quant] ") + what + ": bad group size " + std::to_string(q.group_size));
  SLM_CHECK(q.q_weight.dtype() == DType::I32 && q.q_weight.shape() == Shape({q.rows, q.words_per_row()}),
            std::string("[quant] ") + what + ": q_weight is " + std::string(dtype_name(q.q_weight.dtype())) + " " +
                shape_str(q.q_weight.shape()) + ", expected I32 (uint32 words) " +
                shape_str({q.rows, q.words_per_row()}));
  SLM_CHECK(q.q_scale.defined() && q.q_scale.is_contiguous() && q.q_scale.dtype() == info.model_dtype &&
                q.q_scale.shape() == Shape({q.rows, q.num_groups()}),
            std::string("[quant] ") + what + ": q_scale must be " + std::string(dtype_name(info.model_dtype)) + " " +
                shape_str({q.rows, q.num_groups()}) + ", got " + shape_str(q.q_scale.shape()));
}

const SchemeInfo& scheme_info(Scheme s) { return kSchemes[int(s)]; }

bool scheme_from_name(std::string_view name, Scheme* out) {
  for (int i = 0; i < 4; ++i) {
    if (name == kSchemes[i].name) {
      *out = Scheme(i);
      return true;
    }
  }
  return false;
}

int64_t QuantizedWeight::words_per_row() const {
  const SchemeInfo& info = scheme_info(scheme);
  return info.quantized ? num_groups() * group_size / info.elems_per_word : 0;
}

float QuantizedWeight::scale(int64_t n, int64_t g) const {
  const int64_t i = n * num_groups() + g;
  return q_scale.dtype() == DType::F16 ? f16_to_f32(q_scale.data<uint16_t>()[i]) : q_scale.data<float>()[i];
}

std::vector<std::string> mlc_param_names(Scheme s, const std::string& name) {
  if (!scheme_info(s).quantized) return {name + ".weight"};
  return {name + ".q_weight", name + ".q_scale"};
}

float group_scale(float max_abs, DType model_dtype) {
  // scale = max_abs.astype(model_dtype) / max_int: one division in the model dtype. The f32 quotient is
  // correctly rounded and 24 >= 2*11 + 2 bits, so rounding it again to f16 equals an f16 division.
  float s = max_abs / 7.0f;
  return model_dtype == DType::F16 ? round_f16(s) : s;
}

uint32_t quantize_code(float w, float scale, DType model_dtype, RoundMode round) {
  const bool f16 = model_dtype == DType::F16;
  float x = w / scale;  // 0/0 -> NaN, w/0 -> ±inf: no special case in MLC
  if (f16) x = round_f16(x);
  float y = x + 7.0f;
  if (f16) y = round_f16(y);
  float r = round == RoundMode::TiesToEven ? std::nearbyint(y) : std::round(y);
  r = r > 0.0f ? r : 0.0f;    // tir.max -> select(a > b, a, b): NaN gives 0
  r = r < 14.0f ? r : 14.0f;  // tir.min -> select(a < b, a, b)
  return uint32_t(r);
}

QuantizedWeight quantize_ref(const Tensor& w, Scheme scheme, const QuantizeOptions& opt) {
  check_weight(w, "quantize_ref");
  const SchemeInfo& info = scheme_info(scheme);
  if (!info.quantized) return cast_only(w, scheme, info);
  const int64_t gs = resolve_group_size(info, opt);
  const int64_t N = w.size(0), K = w.size(1);
  const bool f16 = info.model_dtype == DType::F16;
  const float min_value = f16 ? -65504.0f : -FLT_MAX;  // te.min_value(model_dtype)
  QuantizedWeight q = make_result(scheme, info, gs, N, K, /*zero=*/true);
  const int64_t G = q.num_groups(), W = q.words_per_row();
  std::vector<float> row(static_cast<size_t>(K));
  uint32_t* words = reinterpret_cast<uint32_t*>(q.q_weight.raw());
  for (int64_t n = 0; n < N; ++n) {
    load_row_ref(w, n, f16, row.data());
    for (int64_t k = 0; k < K; ++k)
      if (std::isnan(row[k])) throw_nan("quantize_ref", n, k);
    for (int64_t g = 0; g < G; ++g) {
      // max_abs_value: te.max over r of if_then_else(k < K, |w|, min_value), serial on CPU.
      float acc = min_value;
      for (int64_t r = 0; r < gs; ++r) {
        const int64_t k = g * gs + r;
        float v = k < K ? std::fabs(row[k]) : min_value;
        acc = acc > v ? acc : v;
      }
      const float scale = group_scale(acc, info.model_dtype);
      store_scale(q, n * G + g, scale);
      // pack_weight: word j = sum over r < 8 of code[8j + r] << 4r, lanes with 8j + r >= K add 0.
      for (int64_t r = 0; r < gs; ++r) {
        const int64_t k = g * gs + r;
        if (k >= K) break;
        const uint32_t code = quantize_code(row[k], scale, info.model_dtype, opt.round);
        words[n * W + k / 8] |= code << (4 * (k % 8));
      }
    }
  }
  return q;
}

Tensor dequantize_ref(const QuantizedWeight& q) {
  check_quantized(q, "dequantize_ref");
  const SchemeInfo& info = scheme_info(q.scheme);
  if (!info.quantized) return q.q_weight.to(DType::F32);
  const int64_t N = q.rows, K = q.cols, W = q.words_per_row();
  const bool f16 = info.model_dtype == DType::F16;
  Tensor out = Tensor::empty({N, K});
  float* o = out.data<float>();
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t k = 0; k < K; ++k) {
      const uint32_t code = q4_code(q.words()[n * W + k / 8], int(k % 8));
      // (float(code) - max_int) * scale in the model dtype; for f16 the product (<= 15 significant bits)
      // is exact in f32, so one rounding to f16 reproduces the f16 multiply.
      float v = (float(code) - 7.0f) * q.scale(n, k / q.group_size);
      o[n * K + k] = f16 ? round_f16(v) : v;
    }
  }
  return out;
}

// ---- fast path ------------------------------------------------------------------------------------

#if defined(__AVX512F__)
namespace {

inline __m512 round_f16_v(__m512 x) { return simd::round_f16(x); }

// Ties away from zero: trunc(y) + sign(y) when |y - trunc(y)| >= 0.5 (the difference is exact).
inline __m512 round_away_v(__m512 y) {
  const __m512 t = _mm512_roundscale_ps(y, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m512 frac = _mm512_abs_ps(_mm512_sub_ps(y, t));
  const __mmask16 up = _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
  const __m512 one = _mm512_castsi512_ps(
      _mm512_or_si512(_mm512_castps_si512(_mm512_set1_ps(1.0f)),
                      _mm512_and_si512(_mm512_castps_si512(y), _mm512_set1_epi32(int(0x80000000u)))));
  return _mm512_mask_add_ps(t, up, t, one);
}

// Row n of w cast to the model dtype and widened to f32; returns the first NaN's index or -1.
int64_t load_row_fast(const Tensor& w, int64_t n, bool f16, float* out) {
  const int64_t K = w.size(1);
  const DType dt = w.dtype();
  const float* f32 = dt == DType::F32 ? w.data<float>() + n * K : nullptr;
  const uint16_t* u16 = dt == DType::F32 ? nullptr : w.data<uint16_t>() + n * K;
  for (int64_t k = 0; k < K; k += 16) {
    const __mmask16 m = simd::tail_mask(K - k);
    __m512 v;
    if (f32) {
      v = _mm512_maskz_loadu_ps(m, f32 + k);
      if (f16) v = round_f16_v(v);
    } else {
      const __m256i h = _mm256_maskz_loadu_epi16(m, u16 + k);
      if (dt == DType::F16) {
        v = _mm512_cvtph_ps(h);
      } else {
        v = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
        if (f16) v = round_f16_v(v);
      }
    }
    const __mmask16 nan = _mm512_mask_cmp_ps_mask(m, v, v, _CMP_UNORD_Q);
    if (nan) return k + __builtin_ctz(nan);
    _mm512_mask_storeu_ps(out + k, m, v);
  }
  return -1;
}

// Codes of one row: row (K) -> codes (K bytes) and scales (G), group size gs.
void quantize_row_fast(const float* row, int64_t K, int64_t gs, bool f16, RoundMode rmode, uint8_t* codes,
                       float* scales) {
  const int64_t G = (K + gs - 1) / gs;
  for (int64_t g = 0; g < G; ++g) {
    const int64_t k0 = g * gs, k1 = std::min(K, k0 + gs);
    __m512 mx = _mm512_setzero_ps();  // |w| >= 0 and no NaN: same max as the serial reduction
    for (int64_t k = k0; k < k1; k += 16) {
      const __mmask16 m = k1 - k >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (k1 - k)) - 1);
      mx = _mm512_max_ps(mx, _mm512_abs_ps(_mm512_maskz_loadu_ps(m, row + k)));
    }
    const float scale = group_scale(_mm512_reduce_max_ps(mx), f16 ? DType::F16 : DType::F32);
    scales[g] = scale;
    const __m512 sv = _mm512_set1_ps(scale), seven = _mm512_set1_ps(7.0f);
    const __m512 zero = _mm512_setzero_ps(), fourteen = _mm512_set1_ps(14.0f);
    for (int64_t k = k0; k < k1; k += 16) {
      const __mmask16 m = k1 - k >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (k1 - k)) - 1);
      __m512 x = _mm512_div_ps(_mm512_maskz_loadu_ps(m, row + k), sv);
      if (f16) x = round_f16_v(x);
      __m512 y = _mm512_add_ps(x, seven);
      if (f16) y = round_f16_v(y);
      y = rmode == RoundMode::TiesToEven ? _mm512_roundscale_ps(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
                                         : round_away_v(y);
      y = _mm512_max_ps(y, zero);      // NaN in the first operand -> 0, like select(y > 0, y, 0)
      y = _mm512_min_ps(y, fourteen);  // select(y < 14, y, 14)
      _mm_mask_storeu_epi8(codes + k, m, _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(y)));
    }
  }
}

#if defined(__AVX512FP16__)
// q4f16_1 with groups of 32 in f16 arithmetic: one zmm of 32 f16 lanes is one group, from the cast of the
// input to the codes packed into 4 words. Every f16 operation used (vdivsh, vdivph, vaddph) is correctly
// rounded, which equals the reference's f32 operation rounded to f16: double rounding through f32 is
// innocuous for + and / when 24 >= 2 * 11 + 2 bits (Figueroa, "When is double rounding innocuous?", 1995),
// the argument group_scale already relies on; max/min/round-to-integer are exact. Bit for bit the reference.

// 32 values of a row from element k (m: lanes inside the row) cast to f16 with round-to-nearest-even.
inline __m512h load32_f16(const void* row, DType dt, int64_t k, __mmask32 m) {
  if (dt == DType::F16) return _mm512_castsi512_ph(_mm512_maskz_loadu_epi16(m, static_cast<const uint16_t*>(row) + k));
  __m512 lo, hi;
  if (dt == DType::BF16) {
    const __m512i h = _mm512_maskz_loadu_epi16(m, static_cast<const uint16_t*>(row) + k);
    lo = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(h)), 16));
    hi = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(h, 1)), 16));
  } else {
    lo = _mm512_maskz_loadu_ps(__mmask16(m), static_cast<const float*>(row) + k);
    hi = _mm512_maskz_loadu_ps(__mmask16(m >> 16), static_cast<const float*>(row) + k + 16);
  }
  const __m256i l16 = _mm512_cvtps_ph(lo, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256i h16 = _mm512_cvtps_ph(hi, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  return _mm512_castsi512_ph(_mm512_inserti64x4(_mm512_castsi256_si512(l16), h16, 1));
}

// round_away_v in f16: y - trunc(y) is exact for |y| < 2^11.
inline __m512h round_away_ph(__m512h y) {
  const __m512h t = _mm512_roundscale_ph(y, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __mmask32 up =
      _mm512_cmp_ph_mask(_mm512_abs_ph(_mm512_sub_ph(y, t)), _mm512_set1_ph(_Float16(0.5f)), _CMP_GE_OQ);
  const __m512i sign = _mm512_and_si512(_mm512_castph_si512(y), _mm512_set1_epi16(short(0x8000)));
  const __m512h one = _mm512_castsi512_ph(_mm512_or_si512(_mm512_castph_si512(_mm512_set1_ph(_Float16(1.0f))), sign));
  return _mm512_mask_add_ph(t, up, t, one);
}

// Row (K values of dtype dt) -> words (4 per group) and f16 scales; the first NaN's index or -1.
template <RoundMode RM>
int64_t quantize_row_f16_g32(const void* row, DType dt, int64_t K, uint32_t* words, uint16_t* scales) {
  const __m512h seven = _mm512_set1_ph(_Float16(7.0f)), zero = _mm512_setzero_ph(),
                fourteen = _mm512_set1_ph(_Float16(14.0f));
  for (int64_t g = 0, k = 0; k < K; ++g, k += 32) {
    const __mmask32 m = K - k >= 32 ? ~__mmask32(0) : (__mmask32(1) << (K - k)) - 1;
    const __m512h w = load32_f16(row, dt, k, m);
    const __mmask32 nan = _mm512_mask_cmp_ph_mask(m, w, w, _CMP_UNORD_Q);
    if (nan) return k + __builtin_ctz(nan);
    // Lanes past K are 0 and |w| >= 0: the same max as the serial reduction. scale = max / 7 in f16.
    const __m128h mx = _mm_set_sh(_mm512_reduce_max_ph(_mm512_abs_ph(w)));
    const __m128h sc = _mm_div_sh(mx, _mm_set_sh(_Float16(7.0f)));
    const __m512i sbits = _mm512_broadcastw_epi16(_mm_castph_si128(sc));
    scales[g] = uint16_t(_mm_cvtsi128_si32(_mm_castph_si128(sc)));
    __m512h y = _mm512_add_ph(_mm512_div_ph(w, _mm512_castsi512_ph(sbits)), seven);
    y = RM == RoundMode::TiesToEven ? _mm512_roundscale_ph(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
                                    : round_away_ph(y);
    y = _mm512_min_ph(_mm512_max_ph(y, zero), fourteen);  // NaN -> 0 as select(y > 0, y, 0)
    // 32 int16 codes (0 past K: pack_weight adds nothing there); pairs -> bytes c[2i] | c[2i+1] << 4.
    const __m512i c = _mm512_maskz_cvttph_epi16(m, y);
    const __m512i pairs = _mm512_or_si512(c, _mm512_srli_epi32(c, 12));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(words + 4 * g), _mm512_cvtepi32_epi8(pairs));
  }
  return -1;
}
#endif

}  // namespace
#endif

QuantizedWeight quantize(const Tensor& w, Scheme scheme, const QuantizeOptions& opt) {
#if defined(__AVX512F__)
  check_weight(w, "quantize");
  const SchemeInfo& info = scheme_info(scheme);
  if (!info.quantized) return cast_only(w, scheme, info);
  const int64_t gs = resolve_group_size(info, opt);
  const int64_t N = w.size(0), K = w.size(1);
  const bool f16 = info.model_dtype == DType::F16;
  QuantizedWeight q = make_result(scheme, info, gs, N, K, /*zero=*/false);
  const int64_t G = q.num_groups(), W = q.words_per_row();
  uint32_t* words = reinterpret_cast<uint32_t*>(q.q_weight.raw());
  int64_t nan_at = -1;  // first NaN as n * K + k (smallest wins, so the message is deterministic)
  auto note_nan = [&](int64_t n, int64_t bad) {
#pragma omp critical(slm_quant_nan)
    if (nan_at < 0 || n * K + bad < nan_at) nan_at = n * K + bad;
  };
  const int threads = opt.threads > 0 ? opt.threads : omp_get_max_threads();
#if defined(__AVX512FP16__)
  if (f16 && gs == 32) {
    const uint8_t* src = static_cast<const uint8_t*>(w.raw());
    const size_t row_bytes = size_t(K) * dtype_size(w.dtype());
    uint16_t* sc = static_cast<uint16_t*>(q.q_scale.raw());
    const bool even = opt.round == RoundMode::TiesToEven;
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && N * K >= kParallelMin)
    for (int64_t n = 0; n < N; ++n) {
      const void* row = src + size_t(n) * row_bytes;
      const int64_t bad =
          even ? quantize_row_f16_g32<RoundMode::TiesToEven>(row, w.dtype(), K, words + n * W, sc + n * G)
               : quantize_row_f16_g32<RoundMode::TiesAway>(row, w.dtype(), K, words + n * W, sc + n * G);
      if (bad >= 0) note_nan(n, bad);
    }
    if (nan_at >= 0) throw_nan("quantize", nan_at / K, nan_at % K);
    return q;
  }
#endif
#pragma omp parallel num_threads(threads) if (threads > 1 && N * K >= kParallelMin)
  {
    std::vector<float> row(static_cast<size_t>(K)), scales(static_cast<size_t>(G));
    std::vector<uint8_t> codes(static_cast<size_t>(W * 8), 0);  // padding lanes stay 0: pack_weight adds 0 there
#pragma omp for schedule(static)
    for (int64_t n = 0; n < N; ++n) {
      const int64_t bad = load_row_fast(w, n, f16, row.data());
      if (bad >= 0) {
        note_nan(n, bad);
        continue;
      }
      quantize_row_fast(row.data(), K, gs, f16, opt.round, codes.data(), scales.data());
      for (int64_t j = 0; j < W; ++j) words[n * W + j] = pack8(codes.data() + 8 * j);
      for (int64_t g = 0; g < G; ++g) store_scale(q, n * G + g, scales[size_t(g)]);
    }
  }
  if (nan_at >= 0) throw_nan("quantize", nan_at / K, nan_at % K);
  return q;
#else
  return quantize_ref(w, scheme, opt);  // portable build: the reference is the implementation
#endif
}

void dequantize_row(const QuantizedWeight& q, int64_t n, float* out) {
  const SchemeInfo& info = scheme_info(q.scheme);
  const int64_t K = q.cols, W = q.words_per_row(), G = q.num_groups(), gs = q.group_size;
  const bool f16 = info.model_dtype == DType::F16;
  const uint32_t* wr = q.words() + n * W;
  for (int64_t g = 0; g < G; ++g) {
#if defined(__AVX512F__)
    const float scale = simd::scale_at(q, n * G + g);
#else
    const float scale = q.scale(n, g);
#endif
    const int64_t k1 = std::min(K, (g + 1) * gs);
#if defined(__AVX512F__)
    // The 16 possible values (c - 7) * scale of this group, computed once; lanes then look them up.
    const __m512 lut = simd::group_lut(scale, f16);
    for (int64_t k = g * gs; k < k1; k += 16) {
      const __mmask16 m = k1 - k >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (k1 - k)) - 1);
      _mm512_mask_storeu_ps(out + k, m, simd::lookup16(wr, k / 8, W, lut));
    }
#else
    for (int64_t k = g * gs; k < k1; ++k) {
      float v = (float(q4_code(wr[k / 8], int(k % 8))) - 7.0f) * scale;
      out[k] = f16 ? round_f16(v) : v;
    }
#endif
  }
}

Tensor dequantize(const QuantizedWeight& q) {
  check_quantized(q, "dequantize");
  const SchemeInfo& info = scheme_info(q.scheme);
  if (!info.quantized) return q.q_weight.to(DType::F32);
  const int64_t N = q.rows, K = q.cols;
  Tensor out = Tensor::empty({N, K});
  float* o = out.data<float>();
#pragma omp parallel for schedule(static) if (N * K >= kParallelMin)
  for (int64_t n = 0; n < N; ++n) dequantize_row(q, n, o + n * K);
  return out;
}

}  // namespace slm::quant
