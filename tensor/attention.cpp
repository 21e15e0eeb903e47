// Attention fast path (see ops.h): tasks of (up to 4 consecutive queries, head), parallel over both cores, f32
// throughout. Per row: logits over the visible key range only (causal + sliding window), scale, optional
// soft-cap, max, exp, sum, p = e * (1/sum), out = Σ p_j v_j — transformers' eager_attention_forward order with a
// per-thread scratch instead of a (T, S) matrix. Keys are transposed once per call so logits of 16 keys form one
// AVX-512 FMA chain (a single query, decode, reads them in place instead); the rows of a task share each load of keys and values (a prefill was L2-bound reading them
// once per row: 163 ms of a 518 ms bf16 pp512). A task covers the union of its rows' key ranges; keys outside
// a row's own range get p = 0, so each row's sums are the same FMA chains, in the same order, as alone.
// exp/tanh are simd_math.h's (≈1.2 ulp); any head dim works (masked tails).
// Not flash attention (no K/V tiling across tasks) and not batched. Reference: tensor/ref/attention_ref.cpp.
// AttnParams::bf16 with T > 1 on an AMX CPU: the prefill goes to the training forward's AMX tiles instead
// (tensor/grad_attention_amx.h: bf16 products, f32 softmax and sums).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "tensor/grad_attention_amx.h"
#include "tensor/kernel_util.h"
#include "tensor/ops.h"
#include "tensor/simd_math.h"

namespace slm {

void attention_check(const Tensor& q, const Tensor& k, const Tensor& v, const AttnParams& p) {
  detail::check_f32(q, 3, "attention q (T, H, D)");
  detail::check_f32(k, 3, "attention k (S, Hkv, D)");
  detail::check_f32(v, 3, "attention v (S, Hkv, D)");
  detail::check_same_shape(k, v, "attention k vs v");
  const int64_t T = q.size(0), H = q.size(1), S = k.size(0), Hkv = k.size(1);
  SLM_CHECK(q.size(2) == k.size(2), "[tensor] attention: q head dim " + std::to_string(q.size(2)) +
                                        " differs from k head dim " + std::to_string(k.size(2)));
  SLM_CHECK(Hkv > 0 && H % Hkv == 0, "[tensor] attention: " + std::to_string(H) +
                                         " query heads are not a multiple of " + std::to_string(Hkv) + " kv heads");
  SLM_CHECK(p.pos0 >= 0 && p.window >= 0, "[tensor] attention: pos0 and window must be >= 0");
  SLM_CHECK(S >= p.pos0 + T, "[tensor] attention: the cache holds " + std::to_string(S) +
                                 " keys but queries reach "
                                 "position " +
                                 std::to_string(p.pos0 + T - 1) + "; append k/v before attending");
  SLM_CHECK(p.softcap >= 0.0f, "[tensor] attention: softcap must be >= 0");
}

namespace {

// GCC 12 reports its own _mm512_undefined_* inside the reduction intrinsics as uninitialised (bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// Keys of each kv head transposed to (Hkv, D, S), so 16 consecutive keys' logits are one FMA chain over d
// with no horizontal sums. Costs one pass over K per call; query heads of a group share it.
std::vector<float> transpose_keys(const Tensor& k) {
  const int64_t S = k.size(0), Hkv = k.size(1), D = k.size(2);
  constexpr int64_t kTile = 16;  // 16 keys x 16 features per tile: 16 lines read, 16 lines written
  std::vector<float> kt(static_cast<size_t>(Hkv * D * S));
  const float* kp = k.data<float>();
  float* out = kt.data();
  const int64_t key_tiles = (S + kTile - 1) / kTile;
#pragma omp parallel for collapse(2) schedule(static) if (S * Hkv * D >= (1 << 15))
  for (int64_t hk = 0; hk < Hkv; ++hk)
    for (int64_t jt = 0; jt < key_tiles; ++jt) {
      const int64_t j0 = jt * kTile, j1 = std::min(S, j0 + kTile);
      for (int64_t d0 = 0; d0 < D; d0 += kTile)
        for (int64_t d = d0; d < std::min(D, d0 + kTile); ++d)
          for (int64_t j = j0; j < j1; ++j) out[(hk * D + d) * S + j] = kp[(j * Hkv + hk) * D + d];
    }
  return kt;
}

struct Row {
  const float* q;   // (D)
  float* out;       // (D)
  const float* kt;  // (D, S) keys of this row's kv head, or null: read them in place from k
  const float* k;   // key 0 of this kv head in the cache; key j at k + j * stride
  const float* v;   // value of key 0 of this kv head; key j at v + j * stride
  int64_t lo, hi;   // visible keys [lo, hi]
};

#ifdef __AVX512F__
inline __mmask16 tail_mask(int64_t n) {
  return n >= 16 ? __mmask16(0xffff) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
}

// 16 logits from their q·k sums: scale, then the optional soft-cap (CAP · tanh(l / CAP)).
inline __m512 scaled_logits(__m512 dots, const AttnParams& p) {
  __m512 l = _mm512_mul_ps(dots, _mm512_set1_ps(p.scale));
  if (p.softcap > 0.0f) {
    const __m512 cap = _mm512_set1_ps(p.softcap);
    l = _mm512_mul_ps(simd::tanh_ps(_mm512_div_ps(l, cap)), cap);
  }
  return l;
}

// w[0..n) = softcap(scale · q·k_j) for keys lo..hi; returns their max. Four 16-key chains share each q[d].
float row_logits(const Row& r, int64_t S, int64_t D, const AttnParams& p, float* w) {
  const int64_t n = r.hi - r.lo + 1;
  __m512 vmax = _mm512_set1_ps(-INFINITY);
  for (int64_t j0 = 0; j0 < n; j0 += 64) {
    __mmask16 m[4];
    __m512 acc[4];
    for (int c = 0; c < 4; ++c) m[c] = tail_mask(n - j0 - 16 * c), acc[c] = _mm512_setzero_ps();
    const float* kt = r.kt + r.lo + j0;
    for (int64_t d = 0; d < D; ++d) {
      const __m512 qd = _mm512_set1_ps(r.q[d]);
      for (int c = 0; c < 4; ++c)
        acc[c] = _mm512_fmadd_ps(qd, _mm512_maskz_loadu_ps(m[c], kt + d * S + 16 * c), acc[c]);
    }
    for (int c = 0; c < 4; ++c) {
      const __m512 l = scaled_logits(acc[c], p);
      _mm512_mask_storeu_ps(w + j0 + 16 * c, m[c], l);
      vmax = _mm512_mask_max_ps(vmax, m[c], vmax, l);
    }
  }
  return _mm512_reduce_max_ps(vmax);
}

// row_logits for keys read in place (no transposed copy): each key's q·k is a 16-lane FMA chain over d, then a
// horizontal sum. For one query (decode) this is cheaper than transposing the whole cache, which costs more
// memory traffic than the step itself reads (Phi-3.5-mini at 2048 keys: 25 MB of K a layer, read and written).
float row_logits_direct(const Row& r, int64_t stride, int64_t D, const AttnParams& p, float* w) {
  const int64_t n = r.hi - r.lo + 1;
  for (int64_t j = 0; j < n; ++j) {
    const float* kj = r.k + (r.lo + j) * stride;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t d = 0; d < D; d += 16) {
      const __mmask16 m = tail_mask(D - d);
      acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, r.q + d), _mm512_maskz_loadu_ps(m, kj + d), acc);
    }
    w[j] = _mm512_reduce_add_ps(acc);
  }
  // Scale and soft-cap 16 at a time, as row_logits does.
  __m512 vmax = _mm512_set1_ps(-INFINITY);
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 m = tail_mask(n - j);
    const __m512 l = scaled_logits(_mm512_maskz_loadu_ps(m, w + j), p);
    _mm512_mask_storeu_ps(w + j, m, l);
    vmax = _mm512_mask_max_ps(vmax, m, vmax, l);
  }
  return _mm512_reduce_max_ps(vmax);
}

// w = exp(w - mx) in place; returns Σ w in double.
double row_exp(float* w, int64_t n, float mx) {
  __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 m = tail_mask(n - j);
    __m512 e = simd::exp_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, w + j), _mm512_set1_ps(mx)));
    e = _mm512_maskz_mov_ps(m, e);
    _mm512_mask_storeu_ps(w + j, m, e);
    s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
    s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm512_extractf32x8_ps(e, 1)));
  }
  return _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
}

// out = Σ_j (w_j · inv) v_j, 64 features at a time held in registers.
void row_values(const Row& r, const float* w, float inv, int64_t stride, int64_t D) {
  const int64_t n = r.hi - r.lo + 1;
  for (int64_t d0 = 0; d0 < D; d0 += 64) {
    __mmask16 m[4];
    __m512 acc[4];
    for (int c = 0; c < 4; ++c) m[c] = tail_mask(D - d0 - 16 * c), acc[c] = _mm512_setzero_ps();
    for (int64_t j = 0; j < n; ++j) {
      const __m512 pj = _mm512_set1_ps(w[j] * inv);  // torch: p = e * (1/sum), then p @ v
      const float* vj = r.v + (r.lo + j) * stride + d0;
      for (int c = 0; c < 4; ++c) acc[c] = _mm512_fmadd_ps(pj, _mm512_maskz_loadu_ps(m[c], vj + 16 * c), acc[c]);
    }
    for (int c = 0; c < 4; ++c) _mm512_mask_storeu_ps(r.out + d0 + 16 * c, m[c], acc[c]);
  }
}

// Up to kRows consecutive query rows of one head: row r's keys are [lo[r], hi[r]], both non-decreasing in r.
constexpr int kRows = 4;
struct Rows {
  Row row[kRows];
  int n;
};

// Row r's logits for every key of the union [lo[0], hi[n-1]] into w + r * ld (row_logits' chains, R rows
// sharing each 64-key load).
template <int R>
void rows_logits(const Rows& b, int64_t S, int64_t D, const AttnParams& p, float* w, int64_t ld) {
  const int64_t lo = b.row[0].lo, n = b.row[R - 1].hi - lo + 1;
  const float* kt0 = b.row[0].kt;
  const float* q[R];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) q[r] = b.row[r].q;
  for (int64_t j0 = 0; j0 < n; j0 += 64) {
    __mmask16 m[4];
    __m512 acc[R][4];
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) m[c] = tail_mask(n - j0 - 16 * c);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) acc[r][c] = _mm512_setzero_ps();
    const float* kt = kt0 + lo + j0;
    for (int64_t d = 0; d < D; ++d) {
      __m512 kv[4];
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) kv[c] = _mm512_maskz_loadu_ps(m[c], kt + d * S + 16 * c);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        const __m512 qd = _mm512_set1_ps(q[r][d]);
#pragma GCC unroll 4
        for (int c = 0; c < 4; ++c) acc[r][c] = _mm512_fmadd_ps(qd, kv[c], acc[r][c]);
      }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) {
        _mm512_mask_storeu_ps(w + r * ld + j0 + 16 * c, m[c], scaled_logits(acc[r][c], p));
      }
  }
}

// out_r = Σ_j p_r[j] v_j over the union's keys, p_r = w + r * ld (already e · (1/sum), 0 outside row r's range).
template <int R>
void rows_values(const Rows& b, const float* w, int64_t ld, int64_t stride, int64_t D) {
  const int64_t lo = b.row[0].lo, n = b.row[R - 1].hi - lo + 1;
  for (int64_t d0 = 0; d0 < D; d0 += 64) {
    __mmask16 m[4];
    __m512 acc[R][4];
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) m[c] = tail_mask(D - d0 - 16 * c);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) acc[r][c] = _mm512_setzero_ps();
    for (int64_t j = 0; j < n; ++j) {
      const float* vj = b.row[0].v + (lo + j) * stride + d0;
      __m512 vv[4];
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) vv[c] = _mm512_maskz_loadu_ps(m[c], vj + 16 * c);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        const __m512 pj = _mm512_set1_ps(w[r * ld + j]);
#pragma GCC unroll 4
        for (int c = 0; c < 4; ++c) acc[r][c] = _mm512_fmadd_ps(pj, vv[c], acc[r][c]);
      }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) _mm512_mask_storeu_ps(b.row[r].out + d0 + 16 * c, m[c], acc[r][c]);
  }
}

template <int R>
void attend_rows(const Rows& b, int64_t S, int64_t D, int64_t stride, const AttnParams& p, std::vector<float>& w) {
  const int64_t lo = b.row[0].lo, n = b.row[R - 1].hi - lo + 1, ld = n + 64;
  if (int64_t(w.size()) < R * ld) w.resize(size_t(R * ld));
  rows_logits<R>(b, S, D, p, w.data(), ld);
  for (int r = 0; r < R; ++r) {
    float* wr = w.data() + r * ld;
    const int64_t a = b.row[r].lo - lo, e = b.row[r].hi - lo + 1;  // row r's keys: [a, e) of the union
    __m512 vmax = _mm512_set1_ps(-INFINITY);
    for (int64_t j = a; j < e; j += 16) vmax = _mm512_mask_max_ps(vmax, tail_mask(e - j), vmax, _mm512_loadu_ps(wr + j));
    const float mx = _mm512_reduce_max_ps(vmax);
    // The sum is kept in double: long rows stay as accurate as torch's many-lane f32 reduction.
    const float inv = 1.0f / float(row_exp(wr + a, e - a, mx));
    for (int64_t j = 0; j < a; ++j) wr[j] = 0.0f;
    for (int64_t j = a; j < e; ++j) wr[j] *= inv;  // torch: p = e * (1/sum), then p @ v
    for (int64_t j = e; j < n; ++j) wr[j] = 0.0f;
  }
  rows_values<R>(b, w.data(), ld, stride, D);
}
#else
float row_logits(const Row& r, int64_t S, int64_t D, const AttnParams& p, float* w) {
  float mx = -INFINITY;
  for (int64_t j = 0; j <= r.hi - r.lo; ++j) {
    float acc = 0.0f;
    for (int64_t d = 0; d < D; ++d) acc += r.q[d] * r.kt[d * S + r.lo + j];
    float l = acc * p.scale;
    if (p.softcap > 0.0f) l = std::tanh(l / p.softcap) * p.softcap;
    mx = std::max(mx, w[j] = l);
  }
  return mx;
}
double row_exp(float* w, int64_t n, float mx) {
  double sum = 0.0;
  for (int64_t j = 0; j < n; ++j) sum += (w[j] = std::exp(w[j] - mx));
  return sum;
}
void row_values(const Row& r, const float* w, float inv, int64_t stride, int64_t D) {
  for (int64_t d = 0; d < D; ++d) r.out[d] = 0.0f;
  for (int64_t j = 0; j <= r.hi - r.lo; ++j)
    for (int64_t d = 0; d < D; ++d) r.out[d] += (w[j] * inv) * r.v[(r.lo + j) * stride + d];
}
#endif

void attend_row(const Row& r, int64_t S, int64_t D, int64_t stride, const AttnParams& p, std::vector<float>& w) {
  const int64_t n = r.hi - r.lo + 1;
  if (int64_t(w.size()) < n + 64) w.resize(size_t(n + 64));
#ifdef __AVX512F__
  const float mx = r.kt ? row_logits(r, S, D, p, w.data()) : row_logits_direct(r, stride, D, p, w.data());
#else
  const float mx = row_logits(r, S, D, p, w.data());
#endif
  // The sum is kept in double: long rows stay as accurate as torch's many-lane f32 reduction.
  const double sum = row_exp(w.data(), n, mx);
  row_values(r, w.data(), 1.0f / float(sum), stride, D);
}

}  // namespace

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttnParams& p) {
  attention_check(q, k, v, p);
  const int64_t T = q.size(0), H = q.size(1), D = q.size(2), S = k.size(0), Hkv = k.size(1), group = H / Hkv;
  Tensor out = Tensor::empty({T, H, D});
  if (out.numel() == 0) return out;
  if (p.bf16 && T > 1 && detail::amx_attention_available(D)) {
    const std::vector<int64_t> runs = {0, T};
    std::vector<float> lse(static_cast<size_t>(T * H));
    detail::attention_train_amx(
        detail::AmxAttnShape{T, H, Hkv, D, p.scale, p.softcap, p.window, &runs, S, p.pos0}, q.data<float>(),
        k.data<float>(), v.data<float>(), out.data<float>(), lse.data());
    return out;
  }
#ifdef __AVX512F__
  const bool in_place = T == 1;  // decode: one query reads the keys in place (row_logits_direct)
#else
  const bool in_place = false;
#endif
  const std::vector<float> kt = in_place ? std::vector<float>() : transpose_keys(k);
  const float* qp = q.data<float>();
  float* op = out.data<float>();
  const int64_t stride = Hkv * D;  // between consecutive keys of one kv head
  auto row = [&](int64_t i, int64_t h) {
    const int64_t hk = h / group, qpos = p.pos0 + i;
    const int64_t lo = p.window > 0 ? std::max<int64_t>(0, qpos - p.window + 1) : 0;
    return Row{qp + (i * H + h) * D, op + (i * H + h) * D, in_place ? nullptr : kt.data() + hk * D * S,
               k.data<float>() + hk * D, v.data<float>() + hk * D, lo, qpos};
  };
#ifdef __AVX512F__
  const int64_t blocks = (T + kRows - 1) / kRows;
#pragma omp parallel if (T * H > 1)
  {
    std::vector<float> w;
#pragma omp for schedule(dynamic, 2)
    for (int64_t task = 0; task < blocks * H; ++task) {
      // Tasks run kv head by kv head (all query blocks of one, the group's heads adjacent), so a thread's keys and
      // values stay in its L2: with one kv head per query head (Phi-3.5-mini) the heads' K/V do not fit together.
      const int64_t hk = task / (blocks * group), rem = task % (blocks * group);
      const int64_t i0 = (rem / group) * kRows, h = hk * group + rem % group;
      Rows b{};
      b.n = int(std::min<int64_t>(kRows, T - i0));
      for (int r = 0; r < b.n; ++r) b.row[r] = row(i0 + r, h);
      switch (b.n) {
        case 4: attend_rows<4>(b, S, D, stride, p, w); break;
        case 3: attend_rows<3>(b, S, D, stride, p, w); break;
        case 2: attend_rows<2>(b, S, D, stride, p, w); break;
        default: attend_row(b.row[0], S, D, stride, p, w); break;
      }
    }
  }
#else
#pragma omp parallel if (T * H > 1)
  {
    std::vector<float> w;
#pragma omp for schedule(dynamic, 4)
    for (int64_t task = 0; task < T * H; ++task) attend_row(row(task / H, task % H), S, D, stride, p, w);
  }
#endif
  return out;
}

}  // namespace slm
