// Attention over packed sequences for training (see grad_ops.h): forward with log-sum-exp, and the backward
// that recomputes probabilities from q, k and lse (flash-attention style: nothing (T, T) survives a call).
// Forward: one task per (block of 32 query rows, head); the block's logits against its visible key range go
// to a per-thread scratch (32 × T), each row is soft-maxed there (max-subtracted, sum in double,
// p = e · (1/sum) as attention() does), then out = P V. Causal, window and segment masks only shrink the key
// ranges; a block never crosses a segment boundary, so every row of it starts at the same key.
// Backward: one task per (head, segment): dq is finished block by block, and dk/dv of a segment's keys only
// receive contributions from that segment's queries, so tasks never write the same rows (per-head buffers
// are summed over the GQA group at the end). Tiles of 32 queries × 64 keys: S = q kᵀ, dP = dO vᵀ,
//   p = exp(cap(scale S) - lse), dz = scale · p (dP - Σ dO·O) (1 - tanh²), dq += dz k, dk += dzᵀ q, dv += pᵀ dO.
// Segments must be runs (each id one contiguous range), as packing produces. f32 with FMA throughout; with
// TrainAttnParams::bf16 on a CPU with AMX the products run on tiles instead (tensor/grad_attention_amx.h).
// Reference: tensor/ref/grad_ref.cpp (attention_train_fwd, attention_train_vjp).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>
#include <vector>

#include "tensor/grad_attention_amx.h"
#include "tensor/grad_attention_rows.h"
#include "tensor/grad_attention_tiles.h"
#include "tensor/grad_ops.h"
#include "tensor/kernel_util.h"
#include "tensor/simd_math.h"

namespace slm {

// GCC 12 reports its own _mm512_undefined_* inside min/max/reduction intrinsics as uninitialised (bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace {

constexpr int64_t kBq = 32;  // query rows per block
constexpr int64_t kBk = 64;  // keys per backward tile

struct Ctx {
  int64_t T, H, Hkv, D, group, Tp;  // Tp: padded key count of the transposed K / V
  float scale, cap;
  int64_t window;
  std::vector<int64_t> runs;  // segment boundaries: run s is [runs[s], runs[s + 1])
  int64_t lo(int64_t i, int64_t s0) const { return window > 0 ? std::max(s0, i - window + 1) : s0; }
};

std::vector<int64_t> segment_runs(const Tensor& seg, int64_t T) {
  std::vector<int64_t> runs = {0};
  if (seg.defined()) {
    SLM_CHECK(seg.dtype() == DType::I32 && seg.dim() == 1 && seg.is_contiguous() && seg.size(0) == T,
              "[tensor] attention_train: segments must be a contiguous I32 tensor of " + std::to_string(T) +
                  " entries (one per token), got " + std::string(dtype_name(seg.dtype())) + " " +
                  shape_str(seg.shape()));
    const int32_t* s = seg.data<int32_t>();
    std::set<int32_t> seen;
    if (T > 0) seen.insert(s[0]);
    for (int64_t i = 1; i < T; ++i)
      if (s[i] != s[i - 1]) {
        SLM_CHECK(seen.insert(s[i]).second, "[tensor] attention_train: segment id " + std::to_string(s[i]) +
                                                " reappears at position " + std::to_string(i) +
                                                " after another segment; pack each example contiguously");
        runs.push_back(i);
      }
  }
  if (T > 0) runs.push_back(T);
  return runs;
}

Ctx make_ctx(const Tensor& q, const Tensor& k, const Tensor& v, const TrainAttnParams& p) {
  detail::check_f32(q, 3, "attention_train q (T, H, D)");
  detail::check_f32(k, 3, "attention_train k (T, Hkv, D)");
  detail::check_f32(v, 3, "attention_train v (T, Hkv, D)");
  detail::check_same_shape(k, v, "attention_train k vs v");
  const int64_t T = q.size(0), H = q.size(1), D = q.size(2), Hkv = k.size(1);
  SLM_CHECK(k.size(0) == T && k.size(2) == D, "[tensor] attention_train: k " + shape_str(k.shape()) +
                                                  " does not match q " + shape_str(q.shape()) +
                                                  " (same tokens and head dim expected)");
  SLM_CHECK(Hkv > 0 && H % Hkv == 0, "[tensor] attention_train: " + std::to_string(H) +
                                         " query heads are not a multiple of " + std::to_string(Hkv) + " kv heads");
  SLM_CHECK(p.window >= 0 && p.softcap >= 0.0f && std::isfinite(p.scale),
            "[tensor] attention_train: window and softcap must be >= 0 and scale finite");
  const int64_t Tp = (T + 31) / 32 * 32 + 32;
  return Ctx{T, H, Hkv, D, H / Hkv, Tp, p.scale, p.softcap, p.window, segment_runs(p.segments, T)};
}

detail::AmxAttnShape amx_shape(const Ctx& c) {
  return detail::AmxAttnShape{c.T, c.H, c.Hkv, c.D, c.scale, c.cap, c.window, &c.runs};
}

void prepare_out(Tensor& t, const Shape& shape, const char* what) {
  if (!t.defined()) {
    t = Tensor::empty(shape);
    return;
  }
  detail::check_f32(t, int64_t(shape.size()), what);
  SLM_CHECK(t.shape() == shape,
            std::string("[tensor] ") + what + ": has shape " + shape_str(t.shape()) + ", expected " + shape_str(shape));
}

// (Hkv, D, Tp) transposed copy of k or v, zero beyond T (the tiles read 32 keys at a time).
std::vector<float> transpose_kv(const Tensor& k, const Ctx& c) {
  std::vector<float> kt(static_cast<size_t>(c.Hkv * c.D * c.Tp), 0.0f);
  const float* kp = k.data<float>();
  const int64_t tiles = (c.T + 15) / 16;
#pragma omp parallel for collapse(2) schedule(static) if (c.T * c.Hkv * c.D >= (1 << 15))
  for (int64_t hk = 0; hk < c.Hkv; ++hk)
    for (int64_t jt = 0; jt < tiles; ++jt) {
      const int64_t j0 = jt * 16, j1 = std::min(c.T, j0 + 16);
      for (int64_t d = 0; d < c.D; ++d)
        for (int64_t j = j0; j < j1; ++j) kt[size_t((hk * c.D + d) * c.Tp + j)] = kp[(j * c.Hkv + hk) * c.D + d];
    }
  return kt;
}

using detail::attn::grad_row;
using detail::attn::softmax_row;

struct FwdTask {
  int64_t h, i0, i1, s0, cost;
};

struct FwdArgs {
  const float *q, *kt, *v;
  float *out, *lse;
};

// One block of query rows [i0, i1) of head h: logits in s (kBq × lds), softmax, out = P V.
void forward_block(const Ctx& c, const FwdArgs& a, const FwdTask& b, float* s, int64_t lds) {
  using namespace detail::attn;
  const int64_t hk = b.h / c.group, klo = c.lo(b.i0, b.s0), n = b.i1 - klo, m = b.i1 - b.i0;
  const int64_t lda = c.H * c.D, ldv = c.Hkv * c.D;
  const float* qb = a.q + (b.i0 * c.H + b.h) * c.D;
  const float* kt = a.kt + hk * c.D * c.Tp + klo;
  for (int64_t r0 = 0; r0 < m; r0 += 8) {  // each group of 8 rows against its own key range
    const int64_t r1 = std::min(m, r0 + 8), j0 = (c.lo(b.i0 + r0, b.s0) - klo) / 32 * 32;
    gemm_abt(qb + r0 * lda, lda, r1 - r0, kt + j0, c.Tp, b.i0 + r1 - klo - j0, c.D, s + r0 * lds + j0, lds);
  }
  for (int64_t r = 0; r < m; ++r) {
    const int64_t i = b.i0 + r;
    a.lse[i * c.H + b.h] = softmax_row(s + r * lds, n, c.lo(i, b.s0) - klo, i - klo, c.scale, c.cap);
  }
  for (int64_t r0 = 0; r0 < m; r0 += 6) {  // gemm_pb's register tile is 6 rows
    const int64_t r1 = std::min(m, r0 + 6), j0 = c.lo(b.i0 + r0, b.s0) - klo, j1 = b.i0 + r1 - klo;
    gemm_pb(s + r0 * lds + j0, lds, r1 - r0, j1 - j0, a.v + ((klo + j0) * c.Hkv + hk) * c.D, ldv, c.D,
            a.out + ((b.i0 + r0) * c.H + b.h) * c.D, lda, false);
  }
}

}  // namespace

Tensor attention_train(const Tensor& q, const Tensor& k, const Tensor& v, const TrainAttnParams& p, Tensor& lse) {
  const Ctx c = make_ctx(q, k, v, p);
  Tensor out = Tensor::empty({c.T, c.H, c.D});
  prepare_out(lse, {c.T, c.H}, "attention_train lse (T, H)");
  if (c.T == 0 || c.H == 0) return out;
  if (c.D == 0) {
    out = Tensor::zeros({c.T, c.H, c.D});
    std::memset(lse.raw(), 0, lse.nbytes());  // unused: nothing to attend to
    return out;
  }
  if (p.bf16 && detail::amx_attention_available(c.D)) {
    detail::attention_train_amx(amx_shape(c), q.data<float>(), k.data<float>(), v.data<float>(), out.data<float>(),
                                lse.data<float>());
    return out;
  }
  const std::vector<float> kt = transpose_kv(k, c);
  std::vector<FwdTask> tasks;
  for (size_t s = 0; s + 1 < c.runs.size(); ++s)
    for (int64_t i0 = c.runs[s]; i0 < c.runs[s + 1]; i0 += kBq)
      for (int64_t h = 0; h < c.H; ++h) {
        const int64_t i1 = std::min(c.runs[s + 1], i0 + kBq);
        tasks.push_back(FwdTask{h, i0, i1, c.runs[s], (i1 - c.lo(i0, c.runs[s])) * (i1 - i0)});
      }
  std::stable_sort(tasks.begin(), tasks.end(), [](const FwdTask& x, const FwdTask& y) { return x.cost > y.cost; });
  const FwdArgs a{q.data<float>(), kt.data(), v.data<float>(), out.data<float>(), lse.data<float>()};
  const int64_t lds = c.Tp;
#pragma omp parallel if (c.T * c.H * c.D >= (1 << 12))
  {
    std::vector<float> s(static_cast<size_t>(kBq * lds));
#pragma omp for schedule(dynamic, 1)
    for (size_t t = 0; t < tasks.size(); ++t) forward_block(c, a, tasks[t], s.data(), lds);
  }
  return out;
}

namespace {

struct BwdArgs {
  const float *q, *k, *dout, *kt, *vt, *lse, *di;
  float *dq, *dkh, *dvh;  // dk/dv of head h at dkh + h * head_stride, rows ldk apart
  int64_t head_stride, ldk;
};

// Scratch of one thread: S/P and dP/dZ tiles (kBq × kBk) and the dq block (kBq × D).
struct BwdScratch {
  std::vector<float> s, dp, dq;
};

// Query rows [i0, i1) of head h in the segment starting at s0.
void backward_block(const Ctx& c, const BwdArgs& a, int64_t h, int64_t i0, int64_t i1, int64_t s0, BwdScratch& w) {
  using namespace detail::attn;
  const int64_t hk = h / c.group, m = i1 - i0, lda = c.H * c.D, ldk = c.Hkv * c.D;
  float* dkh = a.dkh + h * a.head_stride;
  float* dvh = a.dvh + h * a.head_stride;
  std::fill(w.dq.begin(), w.dq.begin() + m * c.D, 0.0f);
  for (int64_t kc = c.lo(i0, s0); kc < i1; kc += kBk) {
    const int64_t nk = std::min(kBk, i1 - kc);
    // Rows that see some key of [kc, kc + nk): i >= kc and lo(i) <= kc + nk - 1.
    const int64_t ra = std::max<int64_t>(0, kc - i0);
    const int64_t rb = c.window > 0 ? std::min(m, kc + nk + c.window - 1 - i0) : m;
    if (ra >= rb) continue;
    const int64_t mr = rb - ra, row0 = i0 + ra;
    gemm_abt(a.q + (row0 * c.H + h) * c.D, lda, mr, a.kt + hk * c.D * c.Tp + kc, c.Tp, nk, c.D, w.s.data(), kBk);
    gemm_abt(a.dout + (row0 * c.H + h) * c.D, lda, mr, a.vt + hk * c.D * c.Tp + kc, c.Tp, nk, c.D, w.dp.data(), kBk);
    for (int64_t r = 0; r < mr; ++r) {
      const int64_t i = row0 + r;
      grad_row(w.s.data() + r * kBk, w.dp.data() + r * kBk, nk, c.lo(i, s0) - kc, i - kc, c.scale, c.cap,
               a.lse[i * c.H + h], a.di[i * c.H + h]);
    }
    gemm_pb(w.dp.data(), kBk, mr, nk, a.k + (kc * c.Hkv + hk) * c.D, ldk, c.D, w.dq.data() + ra * c.D, c.D, true);
    gemm_ptx(w.dp.data(), kBk, mr, nk, a.q + (row0 * c.H + h) * c.D, lda, c.D, dkh + kc * a.ldk, a.ldk);
    gemm_ptx(w.s.data(), kBk, mr, nk, a.dout + (row0 * c.H + h) * c.D, lda, c.D, dvh + kc * a.ldk, a.ldk);
  }
  for (int64_t r = 0; r < m; ++r)
    std::memcpy(a.dq + ((i0 + r) * c.H + h) * c.D, w.dq.data() + r * c.D, size_t(c.D) * sizeof(float));
}

// Σ_d dout · out per (token, head): the softmax backward's row term.
std::vector<float> row_dots(const Tensor& dout, const Tensor& out, const Ctx& c) {
  std::vector<float> di(static_cast<size_t>(c.T * c.H));
  const float *g = dout.data<float>(), *o = out.data<float>();
#pragma omp parallel for schedule(static) if (c.T * c.H * c.D >= (1 << 15))
  for (int64_t r = 0; r < c.T * c.H; ++r) {
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int64_t d = 0; d < c.D; ++d) s += g[r * c.D + d] * o[r * c.D + d];
    di[size_t(r)] = s;
  }
  return di;
}

// dst (T, Hkv, D) = Σ over the heads of each group of buf (H, T, D).
void sum_groups(const float* buf, const Ctx& c, float* dst) {
#pragma omp parallel for schedule(static) if (c.T * c.H * c.D >= (1 << 15))
  for (int64_t j = 0; j < c.T; ++j)
    for (int64_t hk = 0; hk < c.Hkv; ++hk) {
      float* o = dst + (j * c.Hkv + hk) * c.D;
      for (int64_t d = 0; d < c.D; ++d) o[d] = 0.0f;
      for (int64_t g = 0; g < c.group; ++g) {
        const float* src = buf + ((hk * c.group + g) * c.T + j) * c.D;
#pragma omp simd
        for (int64_t d = 0; d < c.D; ++d) o[d] += src[d];
      }
    }
}

}  // namespace

void attention_train_backward(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                              const Tensor& lse, const TrainAttnParams& p, Tensor& dq, Tensor& dk, Tensor& dv) {
  const Ctx c = make_ctx(q, k, v, p);
  detail::check_f32(dout, 3, "attention_train_backward dout (T, H, D)");
  detail::check_f32(out, 3, "attention_train_backward out (T, H, D)");
  detail::check_f32(lse, 2, "attention_train_backward lse (T, H)");
  detail::check_same_shape(dout, q, "attention_train_backward dout vs q");
  detail::check_same_shape(out, q, "attention_train_backward out vs q");
  SLM_CHECK(lse.shape() == (Shape{c.T, c.H}), "[tensor] attention_train_backward: lse " + shape_str(lse.shape()) +
                                                  " is not (T, H); pass the one attention_train wrote");
  prepare_out(dq, q.shape(), "attention_train_backward dq (T, H, D)");
  prepare_out(dk, k.shape(), "attention_train_backward dk (T, Hkv, D)");
  prepare_out(dv, v.shape(), "attention_train_backward dv (T, Hkv, D)");
  std::memset(dk.raw(), 0, dk.nbytes());
  std::memset(dv.raw(), 0, dv.nbytes());
  if (c.T == 0 || c.H == 0 || c.D == 0) {
    std::memset(dq.raw(), 0, dq.nbytes());
    return;
  }
  if (p.bf16 && detail::amx_attention_available(c.D)) {
    const std::vector<float> di = row_dots(dout, out, c);
    detail::attention_train_backward_amx(amx_shape(c), dout.data<float>(), q.data<float>(), k.data<float>(),
                                         v.data<float>(), lse.data<float>(), di.data(), dq.data<float>(),
                                         dk.data<float>(), dv.data<float>());
    return;
  }
  const std::vector<float> kt = transpose_kv(k, c), vt = transpose_kv(v, c), di = row_dots(dout, out, c);
  // GQA: per-query-head dk/dv (H, T, D), summed over each group at the end; otherwise straight into dk/dv.
  // Tensors, not vectors: the tensor allocator hands a step the pages the last step touched (no page faults).
  Tensor dkb, dvb;
  if (c.group > 1) dkb = Tensor::zeros({c.H, c.T, c.D}), dvb = Tensor::zeros({c.H, c.T, c.D});
  BwdArgs a{q.data<float>(),
            k.data<float>(),
            dout.data<float>(),
            kt.data(),
            vt.data(),
            lse.data<float>(),
            di.data(),
            dq.data<float>(),
            c.group > 1 ? dkb.data<float>() : dk.data<float>(),
            c.group > 1 ? dvb.data<float>() : dv.data<float>(),
            c.group > 1 ? c.T * c.D : c.D,
            c.group > 1 ? c.D : c.Hkv * c.D};
  struct Task {
    int64_t h, s0, s1, cost;
  };
  std::vector<Task> tasks;
  for (size_t s = 0; s + 1 < c.runs.size(); ++s) {
    const int64_t len = c.runs[s + 1] - c.runs[s];
    for (int64_t h = 0; h < c.H; ++h)
      tasks.push_back(Task{h, c.runs[s], c.runs[s + 1], len * (c.window > 0 ? std::min(len, c.window) : len)});
  }
  std::stable_sort(tasks.begin(), tasks.end(), [](const Task& x, const Task& y) { return x.cost > y.cost; });
#pragma omp parallel if (c.T * c.H * c.D >= (1 << 12))
  {
    BwdScratch w{std::vector<float>(size_t(kBq * kBk)), std::vector<float>(size_t(kBq * kBk)),
                 std::vector<float>(size_t(kBq * c.D))};
#pragma omp for schedule(dynamic, 1)
    for (size_t t = 0; t < tasks.size(); ++t)
      for (int64_t i0 = tasks[t].s0; i0 < tasks[t].s1; i0 += kBq)
        backward_block(c, a, tasks[t].h, i0, std::min(tasks[t].s1, i0 + kBq), tasks[t].s0, w);
  }
  if (c.group > 1) {
    sum_groups(dkb.data<float>(), c, dk.data<float>());
    sum_groups(dvb.data<float>(), c, dv.data<float>());
  }
}

}  // namespace slm
