// Training attention, and a bf16 prefill's, on AMX tiles (see grad_attention_amx.h). Same tasks and masks as the
// f32 kernels in tensor/grad_attention.cpp; what changes is who does the products:
//   forward, per (head, block of 32 query rows): S = Q Kᵀ over the block's keys in 32-key steps, the f32 softmax
//     of each row (softmax_row), P rounded to bf16, O = P V. A prefill's queries start at position q0 of S keys.
//   backward, per head (so the head's dKᵀ / dVᵀ accumulators are its own), per block of 32 rows, per 32-key
//     chunk: S = Q Kᵀ and dP = dO Vᵀ, then dS by grad_row in f32, then dQ += dS K, dKᵀ += Qᵀ dS, dVᵀ += dOᵀ P.
// Tiles: C0..C3 = a 2 × 2 block of 16 × 16 f32 accumulators, A = tiles 4-5 (16 rows × 32 bf16), B = tiles 6-7
// (16 pairs × 16 columns, "VNNI": the two bf16 of a pair are adjacent). Operands are packed once per call
// (K / V in both pairings, Q and dO by rows and transposed), zero-padded to Tp keys and Dp features, so tiles
// never read past a buffer and padded products are exact zeros. Masked and padded rows get P = dS = 0.
#include "tensor/grad_attention_amx.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "tensor/cpu_features.h"
#include "tensor/dtype.h"
#include "tensor/error.h"
#include "tensor/grad_attention_rows.h"
#include "tensor/simd_math.h"
#include "tensor/tensor.h"

// GCC 12 reports its own _mm512_undefined_* inside min/max/reduction intrinsics as uninitialised (bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace slm::detail {

#if defined(__AMX_TILE__) && defined(__AMX_BF16__) && defined(__AVX512F__)

namespace {

using bf16 = uint16_t;
constexpr int64_t kRows = 32;  // query rows per block: two 16-row tiles
constexpr int64_t kKeys = 32;  // keys per step: two 16-key tiles, and one bf16 k-step of 32

// T queries (rows padded to Tq), S keys (padded to Tp), query i at position q0 + i; Dp features.
struct Dims {
  int64_t T, S, q0, H, Hkv, D, group, Tq, Tp, Dp;
  float scale, cap;
  int64_t window;
  const std::vector<int64_t>& runs;
  int64_t lo(int64_t i, int64_t s0) const { return window > 0 ? std::max(s0, i - window + 1) : s0; }
};

Dims dims(const AmxAttnShape& s) {
  const int64_t S = s.S > 0 ? s.S : s.T;
  const int64_t Tq = (s.T + 31) / 32 * 32 + 32, Tp = (S + 31) / 32 * 32 + 32, Dp = (s.D + 31) / 32 * 32;
  return Dims{s.T, S, s.q0, s.H, s.Hkv, s.D, s.H / s.Hkv, Tq, Tp, Dp, s.scale, s.cap, s.window, *s.runs};
}

struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0, reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Every tile 16 rows of 64 bytes. Per thread: the configuration is thread state.
void configure_tiles() {
  TileConfig cfg;
  for (int t = 0; t < 8; ++t) cfg.colsb[t] = 64, cfg.rows[t] = 16;
  _tile_loadconfig(&cfg);
}

// C0..C3 += A · B over `steps` k-steps: A rows 0-15 at a0, 16-31 at a1 (row stride sa bytes), B columns 0-15 at
// b0, 16-31 at b1 (pair-row stride sb bytes); one k-step advances A by a_step and B by b_step elements.
inline void mac_2x2(const bf16* a0, const bf16* a1, int64_t sa, const bf16* b0, const bf16* b1, int64_t sb,
                    int64_t steps, int64_t a_step, int64_t b_step) {
  for (int64_t s = 0; s < steps; ++s) {
    _tile_loadd(4, a0 + s * a_step, sa);
    _tile_loadd(5, a1 + s * a_step, sa);
    _tile_loadd(6, b0 + s * b_step, sb);
    _tile_loadd(7, b1 + s * b_step, sb);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
}

// The 32 × 32 f32 block at c (row stride ld floats) to / from C0..C3.
inline void zero_2x2() {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
}
inline void load_2x2(const float* c, int64_t ld) {
  _tile_loadd(0, c, ld * 4);
  _tile_loadd(1, c + 16, ld * 4);
  _tile_loadd(2, c + 16 * ld, ld * 4);
  _tile_loadd(3, c + 16 * ld + 16, ld * 4);
}
inline void store_2x2(float* c, int64_t ld) {
  _tile_stored(0, c, ld * 4);
  _tile_stored(1, c + 16, ld * 4);
  _tile_stored(2, c + 16 * ld, ld * 4);
  _tile_stored(3, c + 16 * ld + 16, ld * 4);
}

using attn::tail_mask;

// Lane l holds l · stride: the element offsets of 16 rows `stride` apart, for gathers and scatters.
inline __m512i lane_offsets(int64_t stride) {
  return _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                            _mm512_set1_epi32(int(stride)));
}

// Rows x and y (n f32 each, n a multiple of 16, y may be null = zeros) -> n bf16 pairs (x_j, y_j).
inline void to_bf16_pairs(const float* x, const float* y, int64_t n, bf16* d) {
  for (int64_t j = 0; j < n; j += 16) {
    const __m512i lo = simd::bf16_bits_epi32(_mm512_loadu_ps(x + j));
    const __m512i hi = y ? _mm512_slli_epi32(simd::bf16_bits_epi32(_mm512_loadu_ps(y + j)), 16) : _mm512_setzero_si512();
    _mm512_storeu_si512(d + 2 * j, _mm512_or_si512(lo, hi));
  }
}

// Packed operands live in tensors so their blocks come from the tensor allocator's reuse cache: fresh
// std::vectors of this size cost page faults and zeroing on every call (half the backward's time at T = 512).
Tensor bf16_buffer(int64_t n) { return Tensor::empty({n}, DType::BF16); }

// Queries x (T, Hs, D) -> [Hs][Tq][Dp]: each (head, token) row in bf16, zero-padded.
Tensor pack_rows(const float* x, int64_t Hs, const Dims& c) {
  Tensor t = bf16_buffer(Hs * c.Tq * c.Dp);
  bf16* out = t.data<bf16>();
#pragma omp parallel for schedule(static)
  for (int64_t h = 0; h < Hs; ++h) {
    for (int64_t j = 0; j < c.T; ++j) {
      const float* src = x + (j * Hs + h) * c.D;
      bf16* dst = out + (h * c.Tq + j) * c.Dp;
      for (int64_t d = 0; d < c.Dp; d += 16)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + d),
                            simd::bf16x16(_mm512_maskz_loadu_ps(tail_mask(c.D - d), src + d)));
    }
    std::memset(out + (h * c.Tq + c.T) * c.Dp, 0, size_t((c.Tq - c.T) * c.Dp) * sizeof(bf16));
  }
  return t;
}

// Queries x (T, Hs, D) -> [Hs][Dp][Tq]: transposed per head (A operand with the tokens as the reduction); 16 tokens of one
// feature per gather.
Tensor pack_cols(const float* x, int64_t Hs, const Dims& c) {
  Tensor t = bf16_buffer(Hs * c.Dp * c.Tq);
  bf16* out = t.data<bf16>();
  const int64_t tblocks = c.Tq / 16;  // Tq is a multiple of 32
  const __m512i stride = lane_offsets(Hs * c.D);
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t h = 0; h < Hs; ++h)
    for (int64_t tb = 0; tb < tblocks; ++tb) {
      const int64_t t0 = tb * 16;
      const __mmask16 m = tail_mask(c.T - t0);
      for (int64_t d = 0; d < c.Dp; ++d) {
        __m512 v = _mm512_setzero_ps();
        if (d < c.D && m) v = _mm512_mask_i32gather_ps(v, m, stride, x + (t0 * Hs + h) * c.D + d, 4);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + (h * c.Dp + d) * c.Tq + t0), simd::bf16x16(v));
      }
    }
  return t;
}

// Keys or values x (S, Hs, D) -> [Hs][Dp/2][Tp][2]: features in pairs (B operand of a product over features, tokens
// as columns). 16 tokens at a time: their rows in bf16 (a u32 per feature pair), then one gather per pair writes
// the 16 tokens' words contiguously.
Tensor pack_feature_pairs(const float* x, int64_t Hs, const Dims& c) {
  Tensor t = bf16_buffer(Hs * c.Dp * c.Tp);
  bf16* out = t.data<bf16>();
  const int64_t P = c.Dp / 2, tblocks = c.Tp / 16;
  const __m512i rows = lane_offsets(P);
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t h = 0; h < Hs; ++h)
    for (int64_t tb = 0; tb < tblocks; ++tb) {
      alignas(64) uint32_t words[16 * 128];  // 16 tokens × up to 128 pairs (D ≤ 256)
      const int64_t t0 = tb * 16;
      for (int64_t j = 0; j < 16; ++j) {
        bf16* w = reinterpret_cast<bf16*>(words + j * P);
        const float* src = x + ((t0 + j) * Hs + h) * c.D;
        for (int64_t d = 0; d < c.Dp; d += 16) {
          const __mmask16 m = t0 + j < c.S ? tail_mask(c.D - d) : __mmask16(0);
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(w + d), simd::bf16x16(_mm512_maskz_loadu_ps(m, src + d)));
        }
      }
      for (int64_t p = 0; p < P; ++p)
        _mm512_storeu_si512(out + ((h * P + p) * c.Tp + t0) * 2,
                            _mm512_i32gather_epi32(rows, reinterpret_cast<const int*>(words + p), 4));
    }
  return t;
}

// Keys or values x (S, Hs, D) -> [Hs][Tp/2][Dp][2]: tokens in pairs (B operand of a product over tokens, features as columns).
Tensor pack_token_pairs(const float* x, int64_t Hs, const Dims& c) {
  Tensor t = Tensor::zeros({Hs * c.Tp * c.Dp}, DType::BF16);
  bf16* out = t.data<bf16>();
  const int64_t pairs = (c.S + 1) / 2;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t h = 0; h < Hs; ++h)
    for (int64_t p = 0; p < pairs; ++p) {
      const float* x0 = x + (2 * p * Hs + h) * c.D;
      const float* x1 = 2 * p + 1 < c.S ? x + ((2 * p + 1) * Hs + h) * c.D : nullptr;
      bf16* dst = out + (h * (c.Tp / 2) + p) * c.Dp * 2;
      for (int64_t d = 0; d < c.D; d += 16) {
        const __mmask16 m = tail_mask(c.D - d);
        const __m512i lo = simd::bf16_bits_epi32(_mm512_maskz_loadu_ps(m, x0 + d));
        const __m512i hi = x1 ? _mm512_slli_epi32(simd::bf16_bits_epi32(_mm512_maskz_loadu_ps(m, x1 + d)), 16)
                              : _mm512_setzero_si512();
        _mm512_mask_storeu_epi32(dst + 2 * d, m, _mm512_or_si512(lo, hi));
      }
    }
  return t;
}

struct FwdTask {
  int64_t h, i0, i1, s0, cost;
};

struct FwdScratch {
  std::vector<float> s, o;  // logits / probabilities (kRows × Tp), output block (kRows × Dp)
  std::vector<bf16> p;      // probabilities in bf16 (kRows × n)
};

void forward_block(const Dims& c, const FwdTask& b, const bf16* qb, const bf16* kd, const bf16* vk, float* out,
                   float* lse, FwdScratch& w) {
  const int64_t hk = b.h / c.group, m = b.i1 - b.i0, p0 = c.q0 + b.i0;  // p0: the first row's position
  const int64_t ka = c.lo(p0, b.s0) / kKeys * kKeys, n = (p0 + m + kKeys - 1) / kKeys * kKeys - ka;
  const bf16* a0 = qb + (b.h * c.Tq + b.i0) * c.Dp;
  for (int64_t j = 0; j < n; j += kKeys) {  // S = Q Kᵀ: features are the reduction
    const bf16* b0 = kd + (hk * (c.Dp / 2) * c.Tp + ka + j) * 2;
    zero_2x2();
    mac_2x2(a0, a0 + 16 * c.Dp, c.Dp * 2, b0, b0 + 32, c.Tp * 4, c.Dp / 32, 32, 16 * c.Tp * 2);
    store_2x2(w.s.data() + j, c.Tp);
  }
  for (int64_t r = 0; r < kRows; ++r) {
    bf16* pr = w.p.data() + r * n;
    if (r >= m) {
      std::fill(pr, pr + n, bf16(0));
      continue;
    }
    const int64_t i = b.i0 + r, pos = p0 + r;
    float* sr = w.s.data() + r * c.Tp;
    lse[i * c.H + b.h] = attn::softmax_row(sr, n, c.lo(pos, b.s0) - ka, pos - ka, c.scale, c.cap);
    simd::bf16_row(sr, n, pr);
  }
  for (int64_t d0 = 0; d0 < c.Dp; d0 += 32) {  // O = P V: keys are the reduction
    const bf16* b0 = vk + ((hk * (c.Tp / 2) + ka / 2) * c.Dp + d0) * 2;
    zero_2x2();
    mac_2x2(w.p.data(), w.p.data() + 16 * n, n * 2, b0, b0 + 32, c.Dp * 4, n / 32, 32, 16 * c.Dp * 2);
    store_2x2(w.o.data() + d0, c.Dp);
  }
  for (int64_t r = 0; r < m; ++r)
    std::memcpy(out + ((b.i0 + r) * c.H + b.h) * c.D, w.o.data() + r * c.Dp, size_t(c.D) * sizeof(float));
}

struct BwdOperands {
  const bf16 *qb, *qt, *ob, *ot, *kd, *kt, *vd;  // rows / transposed / feature pairs / token pairs
  const float *lse, *di;
  float *dq, *dkt, *dvt;  // dkt, dvt (H, Dp, Tp): per query head, transposed
};

struct BwdScratch {
  std::vector<float> s, dp, dq;  // S/P and dP/dS (kRows × kKeys), the block's dQ (kRows × Dp)
  std::vector<bf16> ds, ds_pairs, p_pairs;  // dS by rows; dS and P with query pairs adjacent
};

// Query rows [i0, i1) of head h in the segment starting at s0.
void backward_block(const Dims& c, const BwdOperands& a, int64_t h, int64_t i0, int64_t i1, int64_t s0, BwdScratch& w) {
  const int64_t hk = h / c.group, m = i1 - i0;
  std::fill(w.dq.begin(), w.dq.end(), 0.0f);
  const bf16* q0 = a.qb + (h * c.Tq + i0) * c.Dp;
  const bf16* o0 = a.ob + (h * c.Tq + i0) * c.Dp;
  for (int64_t kc = c.lo(i0, s0) / kKeys * kKeys; kc < i1; kc += kKeys) {
    if (c.window > 0 && i0 > kc + kKeys - 1 + c.window - 1) continue;  // no row of the block sees these keys
    const bf16* kd0 = a.kd + (hk * (c.Dp / 2) * c.Tp + kc) * 2;
    const bf16* vd0 = a.vd + (hk * (c.Dp / 2) * c.Tp + kc) * 2;
    zero_2x2();
    mac_2x2(q0, q0 + 16 * c.Dp, c.Dp * 2, kd0, kd0 + 32, c.Tp * 4, c.Dp / 32, 32, 16 * c.Tp * 2);
    store_2x2(w.s.data(), kKeys);
    zero_2x2();
    mac_2x2(o0, o0 + 16 * c.Dp, c.Dp * 2, vd0, vd0 + 32, c.Tp * 4, c.Dp / 32, 32, 16 * c.Tp * 2);
    store_2x2(w.dp.data(), kKeys);
    for (int64_t r = 0; r < kRows; ++r) {
      float *sr = w.s.data() + r * kKeys, *dr = w.dp.data() + r * kKeys;
      if (r >= m) {
        std::fill(sr, sr + kKeys, 0.0f);
        std::fill(dr, dr + kKeys, 0.0f);
        continue;
      }
      const int64_t i = i0 + r;
      attn::grad_row(sr, dr, kKeys, c.lo(i, s0) - kc, i - kc, c.scale, c.cap, a.lse[i * c.H + h], a.di[i * c.H + h]);
    }
    simd::bf16_row(w.dp.data(), kRows * kKeys, w.ds.data());
    for (int64_t pr = 0; pr < kRows / 2; ++pr) {
      to_bf16_pairs(w.dp.data() + 2 * pr * kKeys, w.dp.data() + (2 * pr + 1) * kKeys, kKeys,
                    w.ds_pairs.data() + pr * kKeys * 2);
      to_bf16_pairs(w.s.data() + 2 * pr * kKeys, w.s.data() + (2 * pr + 1) * kKeys, kKeys,
                    w.p_pairs.data() + pr * kKeys * 2);
    }
    // dQ += dS K (keys are the reduction).
    const bf16* kt0 = a.kt + (hk * (c.Tp / 2) + kc / 2) * c.Dp * 2;
    for (int64_t d0 = 0; d0 < c.Dp; d0 += 32) {
      load_2x2(w.dq.data() + d0, c.Dp);
      mac_2x2(w.ds.data(), w.ds.data() + 16 * kKeys, kKeys * 2, kt0 + d0 * 2, kt0 + d0 * 2 + 32, c.Dp * 4, 1, 0, 0);
      store_2x2(w.dq.data() + d0, c.Dp);
    }
    // dKᵀ += Qᵀ dS and dVᵀ += dOᵀ P (this block's queries are the reduction).
    for (int64_t d0 = 0; d0 < c.Dp; d0 += 32) {
      const int64_t row = (h * c.Dp + d0) * c.Tp, qrow = (h * c.Dp + d0) * c.Tq;
      float* dk = a.dkt + row + kc;
      load_2x2(dk, c.Tp);
      const bf16* qt0 = a.qt + qrow + i0;
      mac_2x2(qt0, qt0 + 16 * c.Tq, c.Tq * 2, w.ds_pairs.data(), w.ds_pairs.data() + 32, kKeys * 4, 1, 0, 0);
      store_2x2(dk, c.Tp);
      float* dv = a.dvt + row + kc;
      load_2x2(dv, c.Tp);
      const bf16* ot0 = a.ot + qrow + i0;
      mac_2x2(ot0, ot0 + 16 * c.Tq, c.Tq * 2, w.p_pairs.data(), w.p_pairs.data() + 32, kKeys * 4, 1, 0, 0);
      store_2x2(dv, c.Tp);
    }
  }
  for (int64_t r = 0; r < m; ++r)
    std::memcpy(a.dq + ((i0 + r) * c.H + h) * c.D, w.dq.data() + r * c.Dp, size_t(c.D) * sizeof(float));
}

// dst (T, Hkv, D) = Σ over the heads of each group of src (H, Dp, Tp), transposed back: per block of 16 tokens,
// the features' sums (contiguous runs of 16 tokens) into a small buffer, then each token's row written whole.
void sum_groups_transposed(const float* src, const Dims& c, float* dst) {
  const int64_t tblocks = (c.T + 15) / 16;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t hk = 0; hk < c.Hkv; ++hk)
    for (int64_t tb = 0; tb < tblocks; ++tb) {
      alignas(64) float sums[256 * 16];  // D ≤ 256 features × 16 tokens
      const int64_t t0 = tb * 16, n = std::min<int64_t>(16, c.T - t0);
      for (int64_t d = 0; d < c.D; ++d) {
        const float* s0 = src + ((hk * c.group) * c.Dp + d) * c.Tp + t0;
        __m512 s = _mm512_loadu_ps(s0);  // Tp ≥ t0 + 16: padded columns
        for (int64_t g = 1; g < c.group; ++g) s = _mm512_add_ps(s, _mm512_loadu_ps(s0 + g * c.Dp * c.Tp));
        _mm512_store_ps(sums + d * 16, s);
      }
      for (int64_t j = 0; j < n; ++j) {
        float* row = dst + ((t0 + j) * c.Hkv + hk) * c.D;
        for (int64_t d = 0; d < c.D; ++d) row[d] = sums[d * 16 + j];
      }
    }
}

}  // namespace

bool amx_attention_available(int64_t head_dim) { return head_dim <= 256 && amx_bf16_usable(); }

void attention_train_amx(const AmxAttnShape& shape, const float* q, const float* k, const float* v, float* out,
                         float* lse) {
  const Dims c = dims(shape);
  const Tensor qb = pack_rows(q, c.H, c), kd = pack_feature_pairs(k, c.Hkv, c), vk = pack_token_pairs(v, c.Hkv, c);
  std::vector<FwdTask> tasks;
  for (size_t s = 0; s + 1 < c.runs.size(); ++s)
    for (int64_t i0 = c.runs[s]; i0 < c.runs[s + 1]; i0 += kRows)
      for (int64_t h = 0; h < c.H; ++h) {
        const int64_t i1 = std::min(c.runs[s + 1], i0 + kRows);
        tasks.push_back(FwdTask{h, i0, i1, c.runs[s], (c.q0 + i1 - c.lo(c.q0 + i0, c.runs[s])) * (i1 - i0)});
      }
  std::stable_sort(tasks.begin(), tasks.end(), [](const FwdTask& x, const FwdTask& y) { return x.cost > y.cost; });
#pragma omp parallel
  {
    configure_tiles();
    FwdScratch w{std::vector<float>(size_t(kRows * c.Tp)), std::vector<float>(size_t(kRows * c.Dp)),
                 std::vector<bf16>(size_t(kRows * c.Tp))};
#pragma omp for schedule(dynamic, 1)
    for (size_t t = 0; t < tasks.size(); ++t) forward_block(c, tasks[t], qb.data<bf16>(), kd.data<bf16>(), vk.data<bf16>(), out, lse, w);
    _tile_release();
  }
}

void attention_train_backward_amx(const AmxAttnShape& shape, const float* dout, const float* q, const float* k,
                                  const float* v, const float* lse, const float* di, float* dq, float* dk,
                                  float* dv) {
  const Dims c = dims(shape);
  SLM_CHECK(c.S == c.T && c.q0 == 0, "[tensor] attention_train_backward: the AMX backward takes training shapes");
  const Tensor qb = pack_rows(q, c.H, c), qt = pack_cols(q, c.H, c), ob = pack_rows(dout, c.H, c),
               ot = pack_cols(dout, c.H, c), kd = pack_feature_pairs(k, c.Hkv, c), kt = pack_token_pairs(k, c.Hkv, c),
               vd = pack_feature_pairs(v, c.Hkv, c);
  Tensor dkt = Tensor::zeros({c.H * c.Dp * c.Tp}), dvt = Tensor::zeros({c.H * c.Dp * c.Tp});
  const BwdOperands a{qb.data<bf16>(), qt.data<bf16>(), ob.data<bf16>(), ot.data<bf16>(), kd.data<bf16>(),
                      kt.data<bf16>(),  vd.data<bf16>(), lse, di, dq, dkt.data<float>(), dvt.data<float>()};
#pragma omp parallel
  {
    configure_tiles();
    BwdScratch w{std::vector<float>(size_t(kRows * kKeys)), std::vector<float>(size_t(kRows * kKeys)),
                 std::vector<float>(size_t(kRows * c.Dp)),   std::vector<bf16>(size_t(kRows * kKeys)),
                 std::vector<bf16>(size_t(kRows * kKeys)),   std::vector<bf16>(size_t(kRows * kKeys))};
#pragma omp for schedule(dynamic, 1)
    for (int64_t h = 0; h < c.H; ++h)
      for (size_t s = 0; s + 1 < c.runs.size(); ++s)
        for (int64_t i0 = c.runs[s]; i0 < c.runs[s + 1]; i0 += kRows)
          backward_block(c, a, h, i0, std::min(c.runs[s + 1], i0 + kRows), c.runs[s], w);
    _tile_release();
  }
  sum_groups_transposed(a.dkt, c, dk);
  sum_groups_transposed(a.dvt, c, dv);
}

#else  // not built for AMX

bool amx_attention_available(int64_t) { return false; }

void attention_train_amx(const AmxAttnShape&, const float*, const float*, const float*, float*, float*) {
  throw Error("[tensor] attention_train: the AMX path is not built in (check amx_attention_available)");
}

void attention_train_backward_amx(const AmxAttnShape&, const float*, const float*, const float*, const float*,
                                  const float*, const float*, float*, float*, float*) {
  throw Error("[tensor] attention_train_backward: the AMX path is not built in (check amx_attention_available)");
}

#endif

}  // namespace slm::detail
