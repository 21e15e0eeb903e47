// oneDNN matmul behind linear and its gradients (see onednn_gemm.h).
#include "tensor/onednn_gemm.h"

#include <immintrin.h>

#include <map>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <tuple>

#include "tensor/dtype.h"
#include "tensor/error.h"
#include "tensor/simd_math.h"

namespace slm::detail {

// GCC 12 reports its own _mm512_undefined_* inside AVX-512 intrinsics as uninitialised (bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace {

using dnnl::memory;

// (M or -1 for run-time, N, K, bf16, A rs, A cs, B rs, B cs, ldc, accumulate, B packed)
using Key = std::tuple<int64_t, int64_t, int64_t, bool, int64_t, int64_t, int64_t, int64_t, int64_t, bool, bool>;
// A packed copy of one frozen B view: (data, K, N, rs, cs, bf16).
using PackKey = std::tuple<const void*, int64_t, int64_t, int64_t, int64_t, bool>;

struct Primitive {
  dnnl::matmul matmul;
  memory::desc weights;  // the layout B must be in (the plain view, or the packed layout oneDNN chose)
};

struct OneDnn {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  std::map<Key, Primitive> cache;
  std::map<const char*, std::pair<const char*, int>> frozen;  // begin -> (end, registrations)
  std::map<PackKey, memory> packed;
  std::mutex mu;
};

OneDnn& onednn() {
  static OneDnn o;
  return o;
}

memory::desc desc(int64_t rows, int64_t cols, memory::data_type t, int64_t rs, int64_t cs) {
  return memory::desc({rows, cols}, t, memory::dims{rs, cs});
}

// Whether B reads a registered frozen weight (FrozenWeights) — and so may use a packed copy.
bool is_frozen(const OneDnn& o, const void* data) {
  const char* p = static_cast<const char*>(data);
  auto it = o.frozen.upper_bound(p);
  if (it == o.frozen.begin()) return false;
  --it;
  return p < it->second.first;
}

// The cached primitive; the cache is cleared whole (never evicted piecemeal) if a caller sweeps many shapes.
const Primitive& primitive(OneDnn& o, const Key& key, int64_t M, int64_t N, int64_t K, memory::data_type t,
                           const GemmOperand& A, const GemmOperand& B, int64_t ldc, bool accumulate, bool pack) {
  auto it = o.cache.find(key);
  if (it != o.cache.end()) return it->second;
  if (o.cache.size() >= 256) o.cache.clear();
  const int64_t m = M < kRuntimeMBelow ? DNNL_RUNTIME_DIM_VAL : M;
  dnnl::primitive_attr attr;
  if (accumulate) {
    dnnl::post_ops po;
    po.append_sum(1.0f);
    attr.set_post_ops(po);
  }
  const memory::desc wd = pack ? memory::desc({K, N}, t, memory::format_tag::any) : desc(K, N, t, B.rs, B.cs);
  dnnl::matmul::desc d(desc(m, K, t, A.rs, A.cs), wd, desc(m, N, memory::data_type::f32, ldc, 1));
  dnnl::matmul::primitive_desc pd(d, attr, o.engine);
  return o.cache.emplace(key, Primitive{dnnl::matmul(pd), pd.weights_desc()}).first->second;
}

// B in the primitive's packed layout, reordered from the plain view on first use (and again should a later
// primitive want another layout).
memory packed_weights(OneDnn& o, const Primitive& p, int64_t K, int64_t N, memory::data_type t, const GemmOperand& B) {
  const PackKey key{B.data, K, N, B.rs, B.cs, t == memory::data_type::bf16};
  auto it = o.packed.find(key);
  if (it != o.packed.end() && it->second.get_desc() == p.weights) return it->second;
  memory plain(desc(K, N, t, B.rs, B.cs), o.engine, const_cast<void*>(B.data));
  memory out(p.weights, o.engine);
  dnnl::reorder(plain, out).execute(o.stream, plain, out);
  o.stream.wait();
  o.packed[key] = out;
  return out;
}

}  // namespace

void onednn_gemm(int64_t M, int64_t N, int64_t K, const GemmOperand& A, const GemmOperand& B, float* C, int64_t ldc,
                 bool accumulate) {
  SLM_CHECK(A.dtype == B.dtype && (A.dtype == DType::F32 || A.dtype == DType::BF16),
            "[tensor] onednn_gemm: operands must both be F32 or both BF16");
  if (M == 0 || N == 0) return;
  const bool bf16 = A.dtype == DType::BF16;
  const auto t = bf16 ? memory::data_type::bf16 : memory::data_type::f32;
  OneDnn& o = onednn();
  std::lock_guard<std::mutex> lock(o.mu);
  // Packing pays off for small weights (measured, 512 tokens, bf16, interleaved runs: k/v 128×896 1.4-1.7×,
  // q/o 896×896 1.16-1.21×, but the MLP's 4864×896 only 1.01-1.04× and the head 1.0-1.1× for a copy of 1 GB),
  // and in f32 only where B is read row-major (the input gradient's w).
  const bool pack = M >= kRuntimeMBelow && (bf16 || B.cs == 1) && !o.frozen.empty() &&
                    size_t(K * N) * (bf16 ? 2 : 4) <= kFrozenPackMaxBytes && is_frozen(o, B.data);
  const Key key{M < kRuntimeMBelow ? int64_t(-1) : M, N, K, bf16, A.rs, A.cs, B.rs, B.cs, ldc, accumulate, pack};
  const Primitive& prim = primitive(o, key, M, N, K, t, A, B, ldc, accumulate, pack);
  memory a(desc(M, K, t, A.rs, A.cs), o.engine, const_cast<void*>(A.data));
  memory b = pack ? packed_weights(o, prim, K, N, t, B) : memory(prim.weights, o.engine, const_cast<void*>(B.data));
  memory c(desc(M, N, memory::data_type::f32, ldc, 1), o.engine, C);
  prim.matmul.execute(o.stream, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}});
  o.stream.wait();
}

size_t frozen_packed_bytes() {
  OneDnn& o = onednn();
  std::lock_guard<std::mutex> lock(o.mu);
  size_t n = 0;
  for (const auto& [key, mem] : o.packed) n += mem.get_desc().get_size();
  return n;
}

void frozen_register(const void* data, size_t bytes, bool add) {
  OneDnn& o = onednn();
  std::lock_guard<std::mutex> lock(o.mu);
  const char* begin = static_cast<const char*>(data);
  const char* end = begin + bytes;
  if (add) {
    auto [it, fresh] = o.frozen.try_emplace(begin, end, 0);
    SLM_CHECK(fresh || it->second.first == end, "[tensor] FrozenWeights: overlapping weight registrations");
    ++it->second.second;
    return;
  }
  auto it = o.frozen.find(begin);
  if (it == o.frozen.end() || --it->second.second > 0) return;
  o.frozen.erase(it);
  for (auto p = o.packed.begin(); p != o.packed.end();) {  // drop the packed copies of this weight
    const char* d = static_cast<const char*>(std::get<0>(p->first));
    p = d >= begin && d < end ? o.packed.erase(p) : std::next(p);
  }
}

namespace {

void round_row(const float* x, int64_t n, uint16_t* d) {
#if defined(__AVX512F__)
  simd::bf16_row(x, n, d);
#else
  for (int64_t j = 0; j < n; ++j) d[j] = f32_to_bf16(x[j]);
#endif
}

}  // namespace

void round_to_bf16(const float* x, int64_t rows, int64_t cols, int64_t ld, uint16_t* dst) {
#pragma omp parallel for schedule(static) if (rows > 1 && rows * cols >= (1 << 15))
  for (int64_t i = 0; i < rows; ++i) round_row(x + i * ld, cols, dst + i * cols);
}

}  // namespace slm::detail
