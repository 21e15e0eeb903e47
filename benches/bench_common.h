// What every bench needs to state its results as a fraction of this machine: a measured f32 FMA peak, a
// measured bf16 dot-product peak (AVX512-BF16 vdpbf16ps, and AMX tdpbf16ps where the CPU and kernel allow it),
// a measured streaming-read bandwidth, and fast random fills for weights.
// Peaks are measured, not derived from a nameplate: a register-only loop over all OpenMP threads, the same
// threads the kernels use. Not a kernel library: nothing here is used outside benches/.
#pragma once
#include <cpuid.h>
#include <immintrin.h>
#include <omp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/tensor.h"

namespace slm::bench {

inline double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Wall seconds of a benchmark's timed loop: `LoopClock c; for (auto _ : state) {...}; c.seconds()`. Counters are
// stated as plain values from it (GFLOP/s, tok/s, %) rather than kIsRate, whose console suffix ("/s") would
// also be printed after percentages. The loop has no paused regions, so this equals Google Benchmark's real time.
struct LoopClock {
  double t0 = now_s();
  double seconds() const { return now_s() - t0; }
};

// ---- CPU features (cpuid, so a portable build still finds them) ---------------------------------------------
inline bool cpu_has_avx512_bf16() {
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 1, &a, &b, &c, &d)) return false;
  return (a >> 5) & 1u;
}
inline bool cpu_has_amx_bf16() {
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  return ((d >> 22) & 1u) && ((d >> 24) & 1u);  // AMX-BF16, AMX-TILE
}
// Linux gives a process AMX tile state only on request (arch_prctl ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA).
inline bool amx_usable() {
  static const bool ok = [] {
    if (!cpu_has_amx_bf16()) return false;
    return syscall(SYS_arch_prctl, 0x1023 /*ARCH_REQ_XCOMP_PERM*/, 18 /*XFEATURE_XTILEDATA*/) == 0;
  }();
  return ok;
}

// Horizontal sum (GCC 12's _mm512_reduce_add_ps trips -Wuninitialized inside its own header).
__attribute__((target("avx512f"))) inline float hsum(__m512 v) {
  alignas(64) float a[16];
  _mm512_store_ps(a, v);
  float s = 0;
  for (float f : a) s += f;
  return s;
}

// ---- peak loops: n rounds on one thread, returns flops done ---------------------------------------------------
// 16 independent accumulator chains cover the FMA latency (4 cycles) x 2 ports with room to spare.
__attribute__((target("avx512f"))) inline double fma_f32_loop(int64_t n, float* sink) {
  __m512 acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_ps(float(i) * 1e-3f);
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
  for (int64_t r = 0; r < n; ++r) {
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_fmadd_ps(acc[i], m, c);
  }
  __m512 s = acc[0];
  for (int i = 1; i < 16; ++i) s = _mm512_add_ps(s, acc[i]);
  *sink += hsum(s);
  return double(n) * 16 * 16 * 2;
}

__attribute__((target("avx512f,avx512bf16"))) inline double dot_bf16_loop(int64_t n, float* sink) {
  __m512 acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_ps(float(i) * 1e-3f);
  const __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80);  // 1.0
  const __m512bh b = (__m512bh)_mm512_set1_epi16(0x3380);  // ~6e-8
  for (int64_t r = 0; r < n; ++r) {
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
  }
  __m512 s = acc[0];
  for (int i = 1; i < 16; ++i) s = _mm512_add_ps(s, acc[i]);
  *sink += hsum(s);
  return double(n) * 16 * 32 * 2;  // 32 bf16 products per instruction, each a multiply and an add
}

// AMX: four 16x16 f32 accumulator tiles fed by two A and two B tiles (16x32 bf16), no loads in the loop.
struct alignas(64) AmxConfig {
  uint8_t palette = 1, start_row = 0, reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};
__attribute__((target("amx-tile,amx-bf16"))) inline double amx_bf16_loop(int64_t n, float* sink) {
  AmxConfig cfg;
  for (int t = 0; t < 8; ++t) cfg.colsb[t] = 64, cfg.rows[t] = 16;
  _tile_loadconfig(&cfg);
  alignas(64) static thread_local uint16_t src[16 * 32];
  alignas(64) static thread_local float dst[16 * 16];
  for (auto& v : src) v = 0x3380;
  _tile_zero(0);  // tile numbers are immediates
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  _tile_loadd(4, src, 64);
  _tile_loadd(5, src, 64);
  _tile_loadd(6, src, 64);
  _tile_loadd(7, src, 64);
  for (int64_t r = 0; r < n; ++r) {
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, dst, 64);
  _tile_release();
  *sink += dst[0];
  return double(n) * 4 * 16 * 16 * 32 * 2;
}

// Runs `loop` on every OpenMP thread at once; returns total flops.
template <class Loop>
double run_on_all_threads(Loop loop, int64_t n_per_thread) {
  double total = 0;
  float sink = 0;
#pragma omp parallel reduction(+ : total, sink)
  total += loop(n_per_thread, &sink);
  if (sink == 12345.f) total += 1;  // keeps the result observable
  return total;
}

enum class Peak { F32Fma, Bf16Dot, AmxBf16 };

// Flop/s over all threads, the median of 5 timed runs of ~0.1 s after one warm-up (turbo/power state).
// 0 when the unit is absent.
inline double measure_peak(Peak which) {
  auto run = [&](int64_t n) {
    switch (which) {
      case Peak::F32Fma:
        return run_on_all_threads(fma_f32_loop, n);
      case Peak::Bf16Dot:
        return run_on_all_threads(dot_bf16_loop, n);
      case Peak::AmxBf16:
        return run_on_all_threads(amx_bf16_loop, n);
    }
    return 0.0;
  };
  if (which == Peak::Bf16Dot && !cpu_has_avx512_bf16()) return 0;
  if (which == Peak::AmxBf16 && !amx_usable()) return 0;
  int64_t n = 1 << 16;
  for (;;) {  // size the run to ~0.1 s
    double t0 = now_s();
    run(n);
    if (now_s() - t0 > 0.05) break;
    n *= 2;
  }
  std::vector<double> rates;
  for (int i = 0; i < 5; ++i) {
    double t0 = now_s(), f = run(n);
    rates.push_back(f / (now_s() - t0));
  }
  std::sort(rates.begin(), rates.end());
  return rates[2];
}

// Cached per process (measured on first use).
inline double peak_f32_flops() {
  static const double v = measure_peak(Peak::F32Fma);
  return v;
}
inline double peak_bf16_dot_flops() {
  static const double v = measure_peak(Peak::Bf16Dot);
  return v;
}
inline double peak_amx_bf16_flops() {
  static const double v = measure_peak(Peak::AmxBf16);
  return v;
}

// ---- streaming read bandwidth ---------------------------------------------------------------------------------
// Sums `n` floats with 4 independent AVX-512 accumulators per thread, split statically over the OpenMP threads
// (every thread touches the pages it reads first, so the split matches the kernels' static schedules).
__attribute__((target("avx512f"))) inline float read_sum(const float* p, int64_t n) {
  float total = 0;
#pragma omp parallel reduction(+ : total)
  {
    const int nt = omp_get_num_threads(), id = omp_get_thread_num();
    const int64_t chunk = (n / 64 + nt - 1) / nt * 64;
    const int64_t b = std::min<int64_t>(n, id * chunk), e = std::min<int64_t>(n, b + chunk);
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t i = b; i + 64 <= e; i += 64) {
      a0 = _mm512_add_ps(a0, _mm512_load_ps(p + i));
      a1 = _mm512_add_ps(a1, _mm512_load_ps(p + i + 16));
      a2 = _mm512_add_ps(a2, _mm512_load_ps(p + i + 32));
      a3 = _mm512_add_ps(a3, _mm512_load_ps(p + i + 48));
    }
    total += hsum(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
  }
  return total;
}

struct ReadBuffer {
  Tensor t;
  explicit ReadBuffer(int64_t bytes) : t(Tensor::empty({bytes / 4})) {
    float* p = t.data<float>();
    const int64_t n = t.numel();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) p[i] = 1e-9f;
  }
  float sum() const { return read_sum(t.data<float>(), t.numel()); }
  int64_t bytes() const { return t.numel() * 4; }
};

// Bytes/s of a streaming read of a 1 GiB buffer (far past any cache this VM sees) over all threads; median of
// `passes` passes after one untimed pass. This is the bound a decode step (which reads every weight once) is
// held to. The buffer stays allocated so a bench can re-measure next to its own timing (same machine load).
inline double measure_read_bandwidth(int passes = 7) {
  static ReadBuffer buf(int64_t(1) << 30);
  volatile float sink = buf.sum();
  std::vector<double> rates;
  for (int i = 0; i < passes; ++i) {
    double t0 = now_s();
    sink = sink + buf.sum();
    rates.push_back(double(buf.bytes()) / (now_s() - t0));
  }
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}

// The first measurement of this process, cached.
inline double read_bandwidth() {
  static const double v = measure_read_bandwidth();
  return v;
}

// ---- random data --------------------------------------------------------------------------------------------------
// Uniform in [-scale, scale), written in t's dtype (F32 or BF16); deterministic per seed, parallel.
inline void fill_uniform(Tensor& t, float scale, uint64_t seed) {
  const int64_t n = t.numel();
  const bool bf16 = t.dtype() == DType::BF16;
  void* raw = t.raw();
#pragma omp parallel
  {
    const int nt = omp_get_num_threads(), id = omp_get_thread_num();
    const int64_t chunk = (n + nt - 1) / nt, b = std::min<int64_t>(n, id * chunk), e = std::min<int64_t>(n, b + chunk);
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + uint64_t(id) * 0xD1B54A32D192ED03ull + 1;
    for (int64_t i = b; i < e; ++i) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;  // xorshift64
      float u = float(s >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f;
      if (bf16)
        static_cast<uint16_t*>(raw)[i] = f32_to_bf16(u * scale);
      else
        static_cast<float*>(raw)[i] = u * scale;
    }
  }
}

inline Tensor random_tensor(const Shape& shape, DType dtype, float scale, uint64_t seed) {
  Tensor t = Tensor::empty(shape, dtype);
  fill_uniform(t, scale, seed);
  return t;
}

}  // namespace slm::bench
