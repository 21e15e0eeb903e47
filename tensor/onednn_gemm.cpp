// oneDNN matmul behind linear and its gradients (see onednn_gemm.h).
#include "tensor/onednn_gemm.h"

#include <immintrin.h>

#include <map>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <tuple>

#include "tensor/dtype.h"
#include "tensor/error.h"

namespace slm::detail {

// GCC 12 reports its own _mm512_undefined_* inside AVX-512 intrinsics as uninitialised (bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace {

using dnnl::memory;

// (M or -1 for run-time, N, K, bf16, A rs, A cs, B rs, B cs, ldc, accumulate)
using Key = std::tuple<int64_t, int64_t, int64_t, bool, int64_t, int64_t, int64_t, int64_t, int64_t, bool>;

struct OneDnn {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  std::map<Key, dnnl::matmul> cache;
  std::mutex mu;
};

OneDnn& onednn() {
  static OneDnn o;
  return o;
}

memory::desc desc(int64_t rows, int64_t cols, memory::data_type t, int64_t rs, int64_t cs) {
  return memory::desc({rows, cols}, t, memory::dims{rs, cs});
}

// The cached primitive; the cache is cleared whole (never evicted piecemeal) if a caller sweeps many shapes.
dnnl::matmul primitive(OneDnn& o, const Key& key, int64_t M, int64_t N, int64_t K, memory::data_type t,
                       const GemmOperand& A, const GemmOperand& B, int64_t ldc, bool accumulate) {
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
  dnnl::matmul::desc d(desc(m, K, t, A.rs, A.cs), desc(K, N, t, B.rs, B.cs),
                       desc(m, N, memory::data_type::f32, ldc, 1));
  return o.cache.emplace(key, dnnl::matmul(dnnl::matmul::primitive_desc(d, attr, o.engine))).first->second;
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
  const Key key{M < kRuntimeMBelow ? int64_t(-1) : M, N, K, bf16, A.rs, A.cs, B.rs, B.cs, ldc, accumulate};
  dnnl::matmul prim = primitive(o, key, M, N, K, t, A, B, ldc, accumulate);
  memory a(desc(M, K, t, A.rs, A.cs), o.engine, const_cast<void*>(A.data));
  memory b(desc(K, N, t, B.rs, B.cs), o.engine, const_cast<void*>(B.data));
  memory c(desc(M, N, memory::data_type::f32, ldc, 1), o.engine, C);
  prim.execute(o.stream, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}});
  o.stream.wait();
}

namespace {

#if defined(__AVX512F__)
// 16 lanes of f32_to_bf16 (dtype.h): round to nearest even, NaN kept quiet.
inline __m256i bf16x16(__m512 v) {
  const __m512i u = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  const __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
  const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
                                                _mm512_set1_epi32(0x7f800000));
  const __m512i q = _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
  return _mm512_cvtepi32_epi16(_mm512_mask_mov_epi32(r, nan, q));
}
#endif

void round_row(const float* x, int64_t n, uint16_t* d) {
  int64_t j = 0;
#if defined(__AVX512F__)
  for (; j + 16 <= n; j += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + j), bf16x16(_mm512_loadu_ps(x + j)));
#endif
  for (; j < n; ++j) d[j] = f32_to_bf16(x[j]);
}

}  // namespace

void round_to_bf16(const float* x, int64_t rows, int64_t cols, int64_t ld, uint16_t* dst) {
#pragma omp parallel for schedule(static) if (rows > 1 && rows * cols >= (1 << 15))
  for (int64_t i = 0; i < rows; ++i) round_row(x + i * ld, cols, dst + i * cols);
}

}  // namespace slm::detail
