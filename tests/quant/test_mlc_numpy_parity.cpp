// Parity with an independent transcription of MLC's _quantize in numpy (tools/ref/mlc_numpy_reference.py,
// f16 ops rounded per operation by numpy, max/min as selects). The script prints an FNV-1a checksum of
// q_weight bytes followed by q_scale bytes for a 6 x 70 weight with padding, tiny values, an all-zero group
// and exact halves; the constants below are its output (/usr/bin/python3, numpy 1.24.2).
#include <gtest/gtest.h>

#include <cmath>

#include "quant/group_quant.h"
#include "quant_test_util.h"

namespace slm::test {
namespace {

using quant::QuantizeOptions;
using quant::RoundMode;
using quant::Scheme;

constexpr int64_t kN = 6, kK = 70;

// Same values as weights() in the script.
Tensor parity_weights() {
  std::vector<float> w(kN * kK);
  for (uint64_t i = 0; i < uint64_t(kN * kK); ++i)
    w[i] = float(int64_t((i * 2654435761ull) % 20011ull) - 10005) / 1024.0f;
  for (int64_t k = 0; k < kK; ++k) w[size_t(1 * kK + k)] *= std::ldexp(1.0f, -20);
  for (int64_t k = 32; k < 64; ++k) w[size_t(2 * kK + k)] = 0.0f;
  for (int64_t k = 0; k < kK; k += 7) {
    float& v = w[size_t(3 * kK + k)];
    v = (7.0f * std::nearbyint(v / 7.0f * 2.0f)) / 2.0f;
  }
  return Tensor::from_f32(w, {kN, kK});
}

uint32_t fnv1a(const quant::QuantizedWeight& q) {
  uint32_t h = 0x811C9DC5u;
  for (const Tensor* t : {&q.q_weight, &q.q_scale}) {
    const auto* p = static_cast<const uint8_t*>(t->raw());
    for (size_t i = 0; i < t->nbytes(); ++i) h = (h ^ p[i]) * 0x01000193u;
  }
  return h;
}

TEST(QuantMlcParity, MatchesNumpyTranscription) {
  struct Case {
    Scheme scheme;
    RoundMode round;
    uint32_t want;
  };
  const Case cases[] = {
      {Scheme::Q4F16_1, RoundMode::TiesToEven, 0x031943BEu},
      {Scheme::Q4F16_1, RoundMode::TiesAway, 0xF0E043B7u},
      {Scheme::Q4F32_1, RoundMode::TiesToEven, 0xDAC1A6B4u},
      {Scheme::Q4F32_1, RoundMode::TiesAway, 0xDAC1A6B4u},
  };
  Tensor w = parity_weights();
  for (const Case& c : cases) {
    QuantizeOptions opt;
    opt.round = c.round;
    SCOPED_TRACE(testing::Message() << quant::scheme_info(c.scheme).name
                                    << " away=" << (c.round == RoundMode::TiesAway));
    EXPECT_EQ(fnv1a(quant::quantize_ref(w, c.scheme, opt)), c.want);
    EXPECT_EQ(fnv1a(quant::quantize(w, c.scheme, opt)), c.want);
  }
}

}  // namespace
}  // namespace slm::test
