// int4_linear (see int4_matmul.h). Decode (T <= 4, AVX-512): codes become f32 in registers through a 16-entry
// per-group table (vpermps) and feed FMA accumulators, parallel over blocks of rows of W. With whole groups of
// 32 (MLC's presets) each pair of words is broadcast from memory and shifted in one instruction, which emits
// the codes in the order (e0, e8, e1, e9, ..., e7, e15); x is permuted once per call to match, so the inner
// loop has one shift, one lookup and one FMA per 16 weights, and 4 rows run side by side (independent
// accumulator chains, one shared reduction), prefetching the rows ~8 KiB ahead; q4f16_1's f16-rounded table
// of a group is one multiply of two precomputed rows (F16Tables). Otherwise: blocks of rows
// are dequantised (dequantize_row) into a ~1 MiB buffer that slm::linear multiplies. Either way the weights
// are exactly dequantize's values and the whole f32 weight never exists; only the order of the f32 additions
// differs from int4_linear_ref.
#include "quant/int4_matmul.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "quant/group_quant.h"
#include "quant/q4_simd.h"
#include "tensor/error.h"
#include "tensor/kernel_util.h"
#include "tensor/ops.h"

namespace slm::quant {

namespace {

void int4_linear_check(const Tensor& x, const QuantizedWeight& w, const Tensor& bias, const char* what) {
  check_quantized(w, what);
  SLM_CHECK(scheme_info(w.scheme).quantized, std::string("[quant] ") + what + ": weight scheme " +
                                                 scheme_info(w.scheme).name +
                                                 " is not int4; use slm::linear on its q_weight");
  detail::check_f32(x, 2, what);
  SLM_CHECK(x.size(1) == w.cols, std::string("[quant] ") + what + ": x is " + shape_str(x.shape()) +
                                     " but the weight has K = " + std::to_string(w.cols) + " columns");
  if (bias.defined()) {
    detail::check_float(bias, 1, what, /*allow_f16=*/true);
    SLM_CHECK(bias.size(0) == w.rows, std::string("[quant] ") + what + ": bias has " + std::to_string(bias.size(0)) +
                                          " values for N = " + std::to_string(w.rows));
  }
}

#if defined(__AVX512F__)
constexpr int64_t kFusedT = 4;  // up to this many x rows: dequantise in registers, no buffer (decode)
// Software prefetch distance of the decode path, in bytes of codes (measured on the 2-core dev VM: 4-8 KiB
// ahead gave 60 % of the read bandwidth for q4f16_1 and 75-80 % for q4f32_1; 1-2 KiB or 12+ KiB less).
constexpr int64_t kPrefetchBytes = 8192;

// y[t, n] for t < T <= kFusedT: each 16 dequantised weights are used for all T rows while in a register.
// Any group size and K; the general path behind rows_g32.
void fused_row(const QuantizedWeight& w, int64_t n, const float* x, int64_t T, float* out) {
  const int64_t K = w.cols, W = w.words_per_row(), G = w.num_groups(), gs = w.group_size;
  const bool f16 = scheme_info(w.scheme).model_dtype == DType::F16;
  const uint32_t* wr = w.words() + n * W;
  __m512 acc[kFusedT];
  for (int64_t t = 0; t < kFusedT; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t g = 0; g < G; ++g) {
    const __m512 lut = simd::group_lut(simd::scale_at(w, n * G + g), f16);
    const int64_t k1 = std::min(K, (g + 1) * gs);
    for (int64_t k = g * gs; k < k1; k += 16) {
      const __mmask16 m = k1 - k >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (k1 - k)) - 1);
      const __m512 wv = simd::lookup16(wr, k / 8, W, lut);
      for (int64_t t = 0; t < T; ++t) acc[t] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + t * K + k), wv, acc[t]);
    }
  }
  for (int64_t t = 0; t < T; ++t) out[t] = _mm512_reduce_add_ps(acc[t]);
}

// x (T, K) -> xp with every block of 16 reordered as (e0, e8, e1, e9, ..., e7, e15), the order codes16 emits.
void permute_x(const float* x, int64_t T, int64_t K, float* xp) {
  const __m512i perm = _mm512_setr_epi32(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
  for (int64_t i = 0; i < T * K; i += 16) _mm512_storeu_ps(xp + i, _mm512_permutexvar_ps(perm, _mm512_loadu_ps(x + i)));
}

// Codes of 16 elements from two words (w2[0]: elements 0..7, w2[1]: 8..15), lane 2i = element i and lane
// 2i + 1 = element 8 + i, in the low 4 bits of each dword (the bits above are ignored by vpermps).
inline __m512i codes16(const uint32_t* w2) {
  const __m512i shifts = _mm512_setr_epi32(0, 0, 4, 4, 8, 8, 12, 12, 16, 16, 20, 20, 24, 24, 28, 28);
  int64_t pair;
  std::memcpy(&pair, w2, 8);
  return _mm512_srlv_epi32(_mm512_set1_epi64(pair), shifts);  // vpbroadcastq from memory + vpsrlvd
}

// Sums of four vectors: {Σa, Σb, Σc, Σd}.
inline __m128 hsum4(__m512 a, __m512 b, __m512 c, __m512 d) {
  const __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));  // a0+a2 b0+b2 a1+a3 b1+b3
  const __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
  const __m512 s = _mm512_add_ps(_mm512_shuffle_ps(ab, cd, _MM_SHUFFLE(1, 0, 1, 0)),
                                 _mm512_shuffle_ps(ab, cd, _MM_SHUFFLE(3, 2, 3, 2)));  // per 128-bit lane: a b c d
  const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(s), _mm512_extractf32x8_ps(s, 1));
  return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

// The 16 values of group_lut for one group: (c - 7) * scale in the model dtype, widened to f32. `sc` points at
// the group's scale as stored (f16 bits or f32). With AVX512-FP16 the f16 product is one vmulph: correctly
// rounded, like the f32 product (exact: <= 15 significant bits) rounded to f16 that dequantize computes.
template <bool F16>
inline __m512 lut_at(const void* sc) {
  const __m512 cm7 = _mm512_setr_ps(-7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8);  // code - 7
  if constexpr (!F16) {
    return _mm512_mul_ps(cm7, _mm512_set1_ps(*static_cast<const float*>(sc)));
  } else {
#if defined(__AVX512FP16__)
    const __m256h cm7h = _mm256_setr_ph(-7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8);
    const __m256i s = _mm256_set1_epi16(short(*static_cast<const uint16_t*>(sc)));
    return _mm512_cvtph_ps(_mm256_castph_si256(_mm256_mul_ph(cm7h, _mm256_castsi256_ph(s))));
#else
    const __m512 s = _mm512_cvtph_ps(_mm256_set1_epi16(short(*static_cast<const uint16_t*>(sc))));
    return simd::round_f16(_mm512_mul_ps(cm7, s));
#endif
  }
}

// q4f16_1's tables without f16 arithmetic in the loop. For a normal f16 scale s = ±2^(e-15) * (1 + m/1024),
// round_f16((c - 7) * s) = round_f16((c - 7) * (1 + m/1024)) * ±2^(e-15) exactly, as long as the products stay
// normal f16 numbers (rounding to 11 significant bits does not depend on the exponent): true for exponent
// fields 1..26 (s >= 2^-14 and 8 * s < 32768). So a group's table is one row of `row` (indexed by m) times one
// power of two (indexed by sign and e): one multiply instead of a broadcast, an f16 multiply and a conversion.
// Blocks of rows with any other scale (zero, subnormal, >= 4096, inf/NaN; scales_in_table) take lut_at.
struct F16Tables {
  alignas(64) float row[1024][16];  // round_f16((c - 7) * (1 + m / 1024)), c = 0..15
  float pow2[64];                   // [sign << 5 | e] = ±2^(e - 15)
};

const F16Tables& f16_tables() {
  static const F16Tables* t = [] {
    auto* p = new F16Tables;  // 64 KiB, once per process
    for (int m = 0; m < 1024; ++m)
      for (int c = 0; c < 16; ++c) p->row[m][c] = f16_to_f32(f32_to_f16(float(c - 7) * (1.0f + float(m) / 1024.0f)));
    for (int i = 0; i < 64; ++i) p->pow2[i] = std::ldexp(i & 32 ? -1.0f : 1.0f, (i & 31) - 15);
    return p;
  }();
  return *t;
}

// True when every one of the n f16 scales at sc has an exponent field in 1..26 (the tables' range).
inline bool scales_in_table(const uint16_t* sc, int64_t n) {
  const __m512i e_mask = _mm512_set1_epi16(31 << 10), lo = _mm512_set1_epi16(1 << 10);
  const __m512i span = _mm512_set1_epi16(25 << 10);
  for (int64_t i = 0; i < n; i += 32) {
    const __mmask32 m = n - i >= 32 ? ~__mmask32(0) : (__mmask32(1) << (n - i)) - 1;
    const __m512i e = _mm512_and_si512(_mm512_maskz_loadu_epi16(m, sc + i), e_mask);
    if (_mm512_mask_cmpgt_epu16_mask(m, _mm512_sub_epi16(e, lo), span)) return false;  // e - 1 > 25, e = 0 wraps
  }
  return true;
}

// Rows n0 .. n0 + R - 1 of y (T rows each) for a q4 weight with group size 32 and K % 32 == 0. xp: x permuted
// (permute_x). out[r * T + t].
template <int R, int T, bool F16, bool Table>
void rows_g32(const QuantizedWeight& w, int64_t n0, const float* xp, float* out, int64_t pf_rows) {
  using S = std::conditional_t<F16, uint16_t, float>;
  const F16Tables& tab = f16_tables();
  const int64_t K = w.cols, W = K / 8, G = K / 32;
  const uint32_t* wr = w.words() + n0 * W;
  const S* sc = static_cast<const S*>(w.q_scale.raw()) + n0 * G;
  // Software prefetch of the rows pf_rows ahead (0: none), a line of codes (and of scales) per group: the work
  // per byte keeps too few loads in flight for the hardware prefetcher alone to hide DRAM latency.
  const char* pfw = reinterpret_cast<const char*>(wr + pf_rows * W);
  const char* pfs = reinterpret_cast<const char*>(sc + pf_rows * G);
  const int64_t wbytes = R * W * 4, sbytes = R * G * int64_t(sizeof(S));
  __m512 acc[R][T][2];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t][0] = acc[r][t][1] = _mm512_setzero_ps();
  for (int64_t g = 0; g < G; ++g) {
    if (pf_rows) {
      if (64 * g < wbytes) _mm_prefetch(pfw + 64 * g, _MM_HINT_T0);
      if (64 * g < sbytes) _mm_prefetch(pfs + 64 * g, _MM_HINT_T0);
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      __m512 lut;
      if constexpr (Table) {  // q4f16_1, every scale of these rows in the tables' range
        const uint32_t b = uint16_t(sc[r * G + g]);
        lut = _mm512_mul_ps(_mm512_load_ps(tab.row[b & 1023]), _mm512_set1_ps(tab.pow2[b >> 10]));
      } else {
        lut = lut_at<F16>(sc + r * G + g);
      }
      const uint32_t* wp = wr + r * W + 4 * g;
      const __m512 lo = _mm512_permutexvar_ps(codes16(wp), lut);
      const __m512 hi = _mm512_permutexvar_ps(codes16(wp + 2), lut);
      for (int t = 0; t < T; ++t) {
        acc[r][t][0] = _mm512_fmadd_ps(_mm512_loadu_ps(xp + t * K + 32 * g), lo, acc[r][t][0]);
        acc[r][t][1] = _mm512_fmadd_ps(_mm512_loadu_ps(xp + t * K + 32 * g + 16), hi, acc[r][t][1]);
      }
    }
  }
  __m512 v[R * T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) v[r * T + t] = _mm512_add_ps(acc[r][t][0], acc[r][t][1]);
  if constexpr (R * T == 4) {
    _mm_storeu_ps(out, hsum4(v[0], v[1], v[2], v[3]));
  } else {
    for (int i = 0; i < R * T; ++i) out[i] = _mm512_reduce_add_ps(v[i]);
  }
}

// y (T, N) = x · Wᵀ for T <= kFusedT, whole groups of 32: blocks of R rows (R * T = 4 accumulator pairs), the
// last N % R rows one by one.
template <int T, bool F16>
void gemv_g32(const QuantizedWeight& w, const float* x, float* y) {
  constexpr int R = 4 / T > 0 ? 4 / T : 1;
  const int64_t N = w.rows, K = w.cols, blocks = (N + R - 1) / R;
  const int64_t pf = (kPrefetchBytes / (K / 2) + R - 1) / R * R;  // rows ahead, whole blocks
  std::vector<float> xp(size_t(T * K));
  permute_x(x, T, K, xp.data());
#pragma omp parallel for schedule(static) if (N * K >= (int64_t(1) << 15))
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t n0 = b * R, rows = std::min<int64_t>(R, N - n0);
    float out[R * T];
    if (rows == R) {
      const int64_t pf_rows = n0 + R + pf <= N ? pf : 0;
      if (F16 && scales_in_table(static_cast<const uint16_t*>(w.q_scale.raw()) + n0 * (K / 32), R * (K / 32)))
        rows_g32<R, T, F16, F16>(w, n0, xp.data(), out, pf_rows);
      else
        rows_g32<R, T, F16, false>(w, n0, xp.data(), out, pf_rows);
      for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) y[t * N + n0 + r] = out[r * T + t];
    } else {
      for (int64_t r = 0; r < rows; ++r) {
        rows_g32<1, T, F16, false>(w, n0 + r, xp.data(), out, 0);
        for (int t = 0; t < T; ++t) y[t * N + n0 + r] = out[t];
      }
    }
  }
}

template <int T>
void gemv_g32(const QuantizedWeight& w, const float* x, float* y) {
  if (scheme_info(w.scheme).model_dtype == DType::F16)
    gemv_g32<T, true>(w, x, y);
  else
    gemv_g32<T, false>(w, x, y);
}

// y (T, N) without bias, T <= kFusedT.
void gemv(const QuantizedWeight& w, const float* x, int64_t T, float* y) {
  const int64_t N = w.rows, K = w.cols;
  if (w.group_size == 32 && K % 32 == 0) {
    switch (T) {
      case 1:
        return gemv_g32<1>(w, x, y);
      case 2:
        return gemv_g32<2>(w, x, y);
      case 3:
        return gemv_g32<3>(w, x, y);
      default:
        return gemv_g32<4>(w, x, y);
    }
  }
#pragma omp parallel for schedule(static) if (N * K >= (int64_t(1) << 15))
  for (int64_t n = 0; n < N; ++n) {
    float out[kFusedT];
    fused_row(w, n, x, T, out);
    for (int64_t t = 0; t < T; ++t) y[t * N + n] = out[t];
  }
}
#endif

}  // namespace

Tensor int4_linear(const Tensor& x, const QuantizedWeight& w, const Tensor& bias) {
  int4_linear_check(x, w, bias, "int4_linear");
  const int64_t T = x.size(0), K = w.cols, N = w.rows;
  Tensor y = Tensor::empty({T, N});
  float* yp = y.data<float>();
#if defined(__AVX512F__)
  if (T <= kFusedT) {
    gemv(w, x.data<float>(), T, yp);
    if (bias.defined())
      for (int64_t t = 0; t < T; ++t)
        for (int64_t n = 0; n < N; ++n) yp[t * N + n] += detail::load_float(bias.raw(), bias.dtype(), n);
    return y;
  }
#endif
  // Prefill: blocks of ~1 MiB of W dequantised into an (Nb, K) buffer and multiplied by slm::linear
  // (oneDNN), so large T runs at f32 GEMM speed on exactly dequantize's values.
  const int64_t Nb = std::min(N, std::max<int64_t>(16, (int64_t(1) << 18) / std::max<int64_t>(K, 1)));
  Tensor buf = Tensor::empty({Nb, K});
  for (int64_t n0 = 0; n0 < N; n0 += Nb) {
    const int64_t nb = std::min(Nb, N - n0);
    Tensor blk = nb == Nb ? buf : buf.narrow(0, 0, nb);
    float* bp = blk.data<float>();
#pragma omp parallel for schedule(static) if (nb * K >= (int64_t(1) << 15))
    for (int64_t r = 0; r < nb; ++r) dequantize_row(w, n0 + r, bp + r * K);
    Tensor yb = linear(x, blk);  // (T, nb)
    const float* ybp = yb.data<float>();
    for (int64_t t = 0; t < T; ++t)
      for (int64_t r = 0; r < nb; ++r) {
        const float v = ybp[t * nb + r];
        yp[t * N + n0 + r] = bias.defined() ? v + detail::load_float(bias.raw(), bias.dtype(), n0 + r) : v;
      }
  }
  return y;
}

Tensor int4_linear_ref(const Tensor& x, const QuantizedWeight& w, const Tensor& bias) {
  int4_linear_check(x, w, bias, "int4_linear_ref");
  Tensor wf = dequantize_ref(w);  // (N, K) f32
  Tensor b = bias.defined() ? bias.to(DType::F32) : Tensor();
  return linear_ref(x, wf, b);
}

}  // namespace slm::quant
