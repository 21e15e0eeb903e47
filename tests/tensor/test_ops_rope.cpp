// RoPE: inv_freq derivations of every rope type against values worked out from the formulas in double,
// the cos/sin table, and rope_apply against rope_apply_ref (bit for bit) and against an explicit rotation.
#include <cmath>

#include "ops_test_util.h"

using namespace slm;
using namespace slm::test;

namespace {

// θ^(-2i/d) in double: the exact default inverse frequency.
double exact_inv(double theta, int64_t i, int64_t dim) { return std::pow(theta, -double(2 * i) / double(dim)); }

void expect_rel(double got, double want, double rel, const std::string& what) {
  EXPECT_LE(std::fabs(got - want), rel * std::fabs(want)) << what << ": got " << got << " want " << want;
}

RopeParams base_params(const std::string& type, int64_t head_dim, double theta) {
  RopeParams p;
  p.rope_type = type;
  p.head_dim = head_dim;
  p.rope_theta = theta;
  return p;
}

}  // namespace

TEST(RopeFreqs, DefaultMatchesDoubleFormula) {
  RopeParams p = base_params("default", 64, 10000.0);
  RopeFreqs f = rope_freqs(p, 1);
  ASSERT_EQ(f.inv_freq.size(), 32u);
  EXPECT_EQ(f.inv_freq[0], 1.0f);
  EXPECT_EQ(f.attention_scaling, 1.0f);
  // f32 exponent, f32 pow and an f32 reciprocal: within a few ulp of the exact value.
  for (int64_t i = 0; i < 32; ++i)
    expect_rel(f.inv_freq[size_t(i)], exact_inv(1e4, i, 64), 5e-7, "i=" + std::to_string(i));
  // 2i/d = 0.5 exactly for i = 16: 10000^-0.5 = 0.01.
  EXPECT_NEAR(f.inv_freq[16], 0.01, 1e-9);
}

TEST(RopeFreqs, PartialRotaryFactorTruncatesLikePythonInt) {
  RopeParams p = base_params("default", 96, 10000.0);
  p.partial_rotary_factor = 0.4;  // 96 * 0.4 = 38.400000000000006 -> 38
  EXPECT_EQ(rope_rotary_dim(p), 38);
  RopeFreqs f = rope_freqs(p, 1);
  ASSERT_EQ(f.inv_freq.size(), 19u);
  for (int64_t i = 0; i < 19; ++i) expect_rel(f.inv_freq[size_t(i)], exact_inv(1e4, i, 38), 5e-7, "partial");
  p.head_dim = 128;
  p.partial_rotary_factor = 0.75;  // Phi-4-mini
  EXPECT_EQ(rope_rotary_dim(p), 96);
  p.partial_rotary_factor = 0.33;  // 128 * 0.33 = 42.24 -> 42
  EXPECT_EQ(rope_rotary_dim(p), 42);
}

TEST(RopeFreqs, LinearDividesByFactor) {
  RopeParams p = base_params("linear", 32, 10000.0);
  p.factor = 4.0;
  RopeFreqs f = rope_freqs(p, 1), d = rope_freqs(base_params("default", 32, 10000.0), 1);
  for (size_t i = 0; i < 16; ++i) EXPECT_EQ(f.inv_freq[i], d.inv_freq[i] / 4.0f);  // /4 is exact
  EXPECT_EQ(f.attention_scaling, 1.0f);
}

TEST(RopeFreqs, DynamicKeepsBaseUntilMaxThenGrows) {
  RopeParams p = base_params("dynamic", 64, 10000.0);
  p.factor = 2.0;
  p.max_position_embeddings = 2048;
  RopeFreqs d = rope_freqs(base_params("default", 64, 10000.0), 1);
  // seq_len <= max: base * (2·2048/2048 - 1)^(64/62) = base exactly.
  for (int64_t s : {1, 100, 2048}) EXPECT_EQ(rope_freqs(p, s).inv_freq, d.inv_freq) << s;
  // seq_len 4096: base' = 10000 · (2·4096/2048 - 1)^(64/62) = 10000 · 3^(32/31).
  const double base2 = 1e4 * std::pow(3.0, 64.0 / 62.0);
  RopeFreqs g = rope_freqs(p, 4096);
  EXPECT_EQ(g.inv_freq[0], 1.0f);
  for (int64_t i = 0; i < 32; ++i) expect_rel(g.inv_freq[size_t(i)], exact_inv(base2, i, 64), 2e-6, "dyn");
  EXPECT_LT(g.inv_freq[31], d.inv_freq[31]);  // a larger base rotates slower
  // seq_len 3000 (non-integer ratio): base' = 10000 · (6000/2048 - 1)^(64/62).
  const double base3 = 1e4 * std::pow(6000.0 / 2048.0 - 1.0, 64.0 / 62.0);
  RopeFreqs h = rope_freqs(p, 3000);
  for (int64_t i = 0; i < 32; ++i) expect_rel(h.inv_freq[size_t(i)], exact_inv(base3, i, 64), 2e-6, "dyn3000");
  p.factor = 0.0;
  expect_error_with([&] { rope_freqs(p, 10); }, {"dynamic", "factor"});
}

TEST(RopeFreqs, YarnFactor4) {
  // dim 64, θ = 10000, original 2048, factor 4, β_fast 32, β_slow 1:
  //   low  = floor(64 ln(2048 / (32·2π)) / (2 ln 10000)) = floor(8.064) = 8
  //   high = ceil (64 ln(2048 / (1·2π))  / (2 ln 10000)) = ceil(20.106) = 21
  //   ramp_i = clamp((i - 8) / 13, 0, 1); inv_i = inv_i/4 · ramp_i + inv_i · (1 - ramp_i)
  RopeParams p = base_params("yarn", 64, 10000.0);
  p.factor = 4.0;
  p.max_position_embeddings = 8192;
  p.original_max_position_embeddings = 2048;
  const double low = std::floor(64 * std::log(2048 / (32 * 2 * M_PI)) / (2 * std::log(1e4)));
  const double high = std::ceil(64 * std::log(2048 / (2 * M_PI)) / (2 * std::log(1e4)));
  ASSERT_EQ(low, 8.0);
  ASSERT_EQ(high, 21.0);
  RopeFreqs f = rope_freqs(p, 1);
  RopeFreqs d = rope_freqs(base_params("default", 64, 10000.0), 1);
  EXPECT_NEAR(f.attention_scaling, 0.1 * std::log(4.0) + 1.0, 1e-7);  // 1.1386294
  for (int64_t i = 0; i < 32; ++i) {
    double ramp = std::clamp((double(i) - 8.0) / 13.0, 0.0, 1.0);
    double inv = exact_inv(1e4, i, 64);
    expect_rel(f.inv_freq[size_t(i)], inv / 4 * ramp + inv * (1 - ramp), 1e-6, "yarn i=" + std::to_string(i));
  }
  for (size_t i = 0; i <= 8; ++i) EXPECT_EQ(f.inv_freq[i], d.inv_freq[i]);  // pure extrapolation
  // Rotations-per-context boundaries hold regardless of seq_len (yarn is static).
  EXPECT_EQ(rope_freqs(p, 100000).inv_freq, f.inv_freq);
}

TEST(RopeFreqs, YarnMscaleTruncateAndDerivedFactor) {
  RopeParams p = base_params("yarn", 64, 10000.0);
  p.factor = 4.0;
  p.max_position_embeddings = 8192;
  p.original_max_position_embeddings = 2048;
  p.mscale = 1.0;
  p.mscale_all_dim = 0.5;  // (0.1·1·ln4 + 1) / (0.1·0.5·ln4 + 1)
  EXPECT_NEAR(rope_freqs(p, 1).attention_scaling, (0.1 * std::log(4.0) + 1) / (0.05 * std::log(4.0) + 1), 1e-7);
  p.mscale = 0.707;
  p.mscale_all_dim = 0.707;  // DeepSeek-style: the two cancel
  EXPECT_EQ(rope_freqs(p, 1).attention_scaling, 1.0f);
  p.mscale = p.mscale_all_dim = 0.0;
  p.attention_factor = 0.5;  // given: used as is
  EXPECT_EQ(rope_freqs(p, 1).attention_scaling, 0.5f);
  p.attention_factor = 0.0;
  // truncate = false: the ramp runs between the unrounded bounds 8.064 and 20.106.
  p.truncate = false;
  const double low = 64 * std::log(2048 / (32 * 2 * M_PI)) / (2 * std::log(1e4));
  const double high = 64 * std::log(2048 / (2 * M_PI)) / (2 * std::log(1e4));
  RopeFreqs f = rope_freqs(p, 1);
  for (int64_t i = 0; i < 32; ++i) {
    double ramp = std::clamp((double(i) - low) / (high - low), 0.0, 1.0);
    double inv = exact_inv(1e4, i, 64);
    expect_rel(f.inv_freq[size_t(i)], inv / 4 * ramp + inv * (1 - ramp), 1e-6, "yarn untruncated");
  }
  // factor absent: max / original = 8192 / 2048 = 4, the same frequencies.
  p.factor = 0.0;
  EXPECT_EQ(rope_freqs(p, 1).inv_freq, f.inv_freq);
}

TEST(RopeFreqs, LongropeShortLongSwitchAtOriginalMax) {
  RopeParams p = base_params("longrope", 8, 10000.0);
  p.max_position_embeddings = 131072;
  p.original_max_position_embeddings = 4096;
  p.factor = 0.0;  // absent: 131072 / 4096 = 32
  p.short_factor = {1.0, 2.0, 3.0, 4.0};
  p.long_factor = {5.0, 6.0, 7.0, 8.0};
  // attention = sqrt(1 + ln 32 / ln 4096) = sqrt(1 + 5/12)
  const double attn = std::sqrt(1.0 + 5.0 / 12.0);
  for (int64_t s : {1, 4096, 4097, 100000}) {
    RopeFreqs f = rope_freqs(p, s);
    EXPECT_NEAR(f.attention_scaling, attn, 1e-7);
    const std::vector<double>& ext = s > 4096 ? p.long_factor : p.short_factor;
    for (int64_t i = 0; i < 4; ++i)
      expect_rel(f.inv_freq[size_t(i)], exact_inv(1e4, i, 8) / ext[size_t(i)], 5e-7, "longrope s=" + std::to_string(s));
  }
  p.factor = 2.0;  // given explicitly: wins over the ratio (transformers 5)
  EXPECT_NEAR(rope_freqs(p, 1).attention_scaling, std::sqrt(1.0 + std::log(2.0) / std::log(4096.0)), 1e-7);
  p.factor = 1.0;
  EXPECT_EQ(rope_freqs(p, 1).attention_scaling, 1.0f);
  p.attention_factor = 1.25;
  EXPECT_EQ(rope_freqs(p, 1).attention_scaling, 1.25f);
  p.long_factor = {1.0, 2.0};
  expect_error_with([&] { rope_freqs(p, 1); }, {"longrope", "4 entries", "2"});
}

TEST(RopeFreqs, Llama3WavelengthBands) {
  // Llama 3.1: θ = 500000, head 128, factor 8, low 1, high 4, original 8192.
  // wavelen = 2π / inv; < 2048: unchanged; > 8192: inv / 8; between: (1 - s) inv / 8 + s inv,
  // s = (8192 / wavelen - 1) / 3.
  RopeParams p = base_params("llama3", 128, 500000.0);
  p.factor = 8.0;
  p.low_freq_factor = 1.0;
  p.high_freq_factor = 4.0;
  p.original_max_position_embeddings = 8192;
  p.max_position_embeddings = 131072;
  RopeFreqs f = rope_freqs(p, 1);
  RopeFreqs d = rope_freqs(base_params("default", 128, 500000.0), 1);
  ASSERT_EQ(f.inv_freq.size(), 64u);
  int high = 0, low = 0, medium = 0;
  for (int64_t i = 0; i < 64; ++i) {
    double inv = exact_inv(5e5, i, 128), wavelen = 2 * M_PI / inv, want;
    if (wavelen < 2048) {
      want = inv, ++high;
      EXPECT_EQ(f.inv_freq[size_t(i)], d.inv_freq[size_t(i)]);
    } else if (wavelen > 8192) {
      want = inv / 8, ++low;
      EXPECT_EQ(f.inv_freq[size_t(i)], d.inv_freq[size_t(i)] / 8.0f);
    } else {
      double s = (8192 / wavelen - 1) / 3;
      want = (1 - s) * inv / 8 + s * inv, ++medium;
    }
    expect_rel(f.inv_freq[size_t(i)], want, 2e-6, "llama3 i=" + std::to_string(i));
  }
  // i = 0: inv 1, wavelen 2π: unchanged; the bands are all populated for these parameters.
  EXPECT_EQ(f.inv_freq[0], 1.0f);
  EXPECT_GT(high, 0);
  EXPECT_GT(medium, 0);
  EXPECT_GT(low, 0);
  EXPECT_EQ(high + medium + low, 64);
}

TEST(RopeFreqs, RejectsUnknownTypeAndBadParams) {
  expect_error_with([] { rope_freqs(base_params("ntk-by-parts", 64, 1e4), 1); }, {"ntk-by-parts"});
  RopeParams p = base_params("linear", 64, 1e4);
  p.factor = 0.0;
  expect_error_with([&] { rope_freqs(p, 1); }, {"linear", "factor"});
  expect_error_with([] { rope_freqs(base_params("default", 0, 1e4), 1); }, {"head_dim"});
  RopeParams odd = base_params("default", 10, 1e4);
  odd.partial_rotary_factor = 0.5;  // rotary dim 5
  expect_error_with([&] { rope_freqs(odd, 1); }, {"rotary dim", "5"});
}

TEST(RopeTable, CosSinOfF32AnglesScaledAndDuplicated) {
  RopeFreqs f = rope_freqs(base_params("default", 16, 10000.0), 1);
  f.attention_scaling = 1.5f;
  std::vector<int64_t> pos = {0, 1, 7, 4095, 131071};
  RopeTable t = rope_table(f, pos);
  ASSERT_EQ(t.rotary_dim, 16);
  ASSERT_EQ(t.cos.shape(), (Shape{5, 16}));
  for (int64_t r = 0; r < 5; ++r)
    for (int64_t d = 0; d < 8; ++d) {
      double angle = double(f.inv_freq[size_t(d)] * float(pos[size_t(r)]));  // HF: f32 inv_freq · f32 position
      EXPECT_NEAR(t.cos.item_f32({r, d}), 1.5 * std::cos(angle), 3e-7);
      EXPECT_NEAR(t.sin.item_f32({r, d}), 1.5 * std::sin(angle), 3e-7);
      EXPECT_EQ(t.cos.item_f32({r, d}), t.cos.item_f32({r, d + 8}));
      EXPECT_EQ(t.sin.item_f32({r, d}), t.sin.item_f32({r, d + 8}));
    }
  EXPECT_EQ(t.cos.item_f32({0, 3}), 1.5f);
  EXPECT_EQ(t.sin.item_f32({0, 3}), 0.0f);
}

TEST(RopeApply, MatchesReferenceBitForBitAndRotatesPairs) {
  struct Case {
    int64_t T, H, D;
    double partial;
  };
  for (Case c : {Case{1, 1, 2, 1.0}, Case{3, 2, 64, 1.0}, Case{5, 3, 96, 0.5}, Case{7, 4, 80, 0.25},
                 Case{17, 5, 128, 0.75}, Case{64, 14, 64, 1.0}}) {
    SCOPED_TRACE("T=" + std::to_string(c.T) + " H=" + std::to_string(c.H) + " D=" + std::to_string(c.D));
    RopeParams p = base_params("default", c.D, 10000.0);
    p.partial_rotary_factor = c.partial;
    std::vector<int64_t> pos;
    for (int64_t i = 0; i < c.T; ++i) pos.push_back(3 * i + 11);
    RopeTable tab = rope_table(rope_freqs(p, 1), pos);
    const int64_t rot = tab.rotary_dim, half = rot / 2;
    Tensor x = random_f32({c.T, c.H, c.D}, uint32_t(c.T * 7 + c.D));
    Tensor fast = x.clone(), ref = x.clone();
    rope_apply(fast, tab);
    rope_apply_ref(ref, tab);
    EXPECT_EQ(count_bit_diffs(fast, ref), 0);
    for (int64_t i = 0; i < c.T; ++i)
      for (int64_t h = 0; h < c.H; ++h) {
        for (int64_t d = 0; d < half; ++d) {
          double a = x.item_f32({i, h, d}), b = x.item_f32({i, h, d + half});
          double cs = tab.cos.item_f32({i, d}), sn = tab.sin.item_f32({i, d});
          ASSERT_NEAR(ref.item_f32({i, h, d}), a * cs - b * sn, 1e-6);
          ASSERT_NEAR(ref.item_f32({i, h, d + half}), b * cs + a * sn, 1e-6);
        }
        for (int64_t d = rot; d < c.D; ++d) ASSERT_EQ(ref.item_f32({i, h, d}), x.item_f32({i, h, d}));  // pass
      }
  }
}

TEST(RopeApply, PositionZeroIsIdentityAndShapesAreChecked) {
  RopeTable tab = rope_table(rope_freqs(base_params("default", 8, 10000.0), 1), {0, 0});
  Tensor x = random_f32({2, 3, 8}, 5), y = x.clone();
  rope_apply(y, tab);
  EXPECT_EQ(count_bit_diffs(x, y), 0);
  Tensor wrong_t = Tensor::zeros({3, 3, 8});
  expect_error_with([&] { rope_apply(wrong_t, tab); }, {"rope_apply", "[2, 8]"});
  Tensor narrow_d = Tensor::zeros({2, 3, 4});
  expect_error_with([&] { rope_apply(narrow_d, tab); }, {"rotary_dim 8", "head dim 4"});
}
