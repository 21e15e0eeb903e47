// attention: the fast path against attention_ref over GQA / window / soft-cap / cache offsets, and the
// reference against cases worked out by hand.
#include <cmath>

#include "ops_test_util.h"

using namespace slm;
using namespace slm::test;

TEST(Attention, HandComputedCausalWeights) {
  // T = 2, one head, D = 1, scale 1: q = 1, keys 0 and ln 2 -> row 0 sees key 0 only; row 1 weights 1 : 2.
  Tensor q = Tensor::from_f32({1, 1}, {2, 1, 1});
  Tensor k = Tensor::from_f32({0, float(std::log(2.0))}, {2, 1, 1});
  Tensor v = Tensor::from_f32({3, 6}, {2, 1, 1});
  AttnParams p;
  for (const Tensor& o : {attention(q, k, v, p), attention_ref(q, k, v, p)}) {
    EXPECT_NEAR(o.item_f32({0, 0, 0}), 3.0, 1e-6);
    EXPECT_NEAR(o.item_f32({1, 0, 0}), (3.0 + 2 * 6.0) / 3.0, 1e-6);
  }
  // Window 1: every query sees only its own key.
  p.window = 1;
  for (const Tensor& o : {attention(q, k, v, p), attention_ref(q, k, v, p)}) {
    EXPECT_NEAR(o.item_f32({0, 0, 0}), 3.0, 1e-6);
    EXPECT_NEAR(o.item_f32({1, 0, 0}), 6.0, 1e-6);
  }
  // Soft-cap 0.5 on logits 0 and ln 2: weights 1 : exp(0.5 tanh(2 ln 2)) = exp(0.5 · 0.6).
  p.window = 0;
  p.softcap = 0.5f;
  const double w1 = std::exp(0.5 * std::tanh(std::log(2.0) / 0.5));
  for (const Tensor& o : {attention(q, k, v, p), attention_ref(q, k, v, p)})
    EXPECT_NEAR(o.item_f32({1, 0, 0}), (3.0 + w1 * 6.0) / (1.0 + w1), 1e-6);
  // Scale applies before the cap: scale 2 doubles the logit first.
  p.scale = 2.0f;
  const double w2 = std::exp(0.5 * std::tanh(2 * std::log(2.0) / 0.5));
  for (const Tensor& o : {attention(q, k, v, p), attention_ref(q, k, v, p)})
    EXPECT_NEAR(o.item_f32({1, 0, 0}), (3.0 + w2 * 6.0) / (1.0 + w2), 1e-6);
}

TEST(Attention, GqaHeadMapping) {
  // H = 4, Hkv = 2, one key: every head returns its kv head's value (heads 0,1 -> kv 0; 2,3 -> kv 1).
  Tensor q = random_f32({1, 4, 3}, 1);
  Tensor k = random_f32({1, 2, 3}, 2);
  Tensor v = Tensor::from_f32({1, 2, 3, 10, 20, 30}, {1, 2, 3});
  Tensor o = attention(q, k, v, AttnParams{});
  for (int64_t h = 0; h < 4; ++h)
    for (int64_t d = 0; d < 3; ++d) EXPECT_EQ(o.item_f32({0, h, d}), v.item_f32({0, h / 2, d}));
}

TEST(Attention, MatchesReference) {
  struct Case {
    int64_t T, H, Hkv, D, S, pos0, window;
    float softcap;
  };
  for (Case c : {Case{1, 1, 1, 1, 1, 0, 0, 0}, Case{5, 4, 2, 16, 5, 0, 0, 0}, Case{7, 6, 2, 33, 7, 0, 3, 0},
                 Case{4, 8, 1, 64, 12, 8, 0, 0}, Case{1, 14, 2, 64, 100, 99, 0, 0}, Case{9, 4, 4, 80, 9, 0, 4, 50},
                 Case{33, 2, 1, 128, 40, 7, 16, 30}, Case{3, 3, 3, 7, 20, 2, 0, 0}, Case{70, 4, 2, 64, 70, 0, 0, 0},
                 Case{1, 8, 4, 256, 300, 299, 128, 20}, Case{6, 4, 2, 256, 13, 7, 5, 0},
                 Case{1, 4, 2, 33, 50, 49, 7, 30}, Case{1, 6, 3, 96, 40, 21, 0, 0}}) {
    SCOPED_TRACE("T=" + std::to_string(c.T) + " H=" + std::to_string(c.H) + " Hkv=" + std::to_string(c.Hkv) +
                 " D=" + std::to_string(c.D) + " S=" + std::to_string(c.S) + " pos0=" + std::to_string(c.pos0) +
                 " window=" + std::to_string(c.window) + " softcap=" + std::to_string(c.softcap));
    uint32_t seed = uint32_t(c.T * 131 + c.D * 7 + c.S);
    Tensor q = random_f32({c.T, c.H, c.D}, seed, -2, 2);
    Tensor k = random_f32({c.S, c.Hkv, c.D}, seed + 1, -2, 2);
    Tensor v = random_f32({c.S, c.Hkv, c.D}, seed + 2);
    AttnParams p{float(1.0 / std::sqrt(double(c.D))), c.pos0, c.window, c.softcap};
    Tensor fast = attention(q, k, v, p), ref = attention_ref(q, k, v, p);
    // |v| <= 1 and the weights sum to one: f32 rounding leaves ~1e-6 absolute.
    EXPECT_LE(max_abs_diff(fast, ref), 5e-6);
  }
}

// bf16 prefill (AMX where the CPU has it): a chunk of queries at pos0 over a cache gives the rows a prefill of the
// whole sequence from position 0 gives (the forward of attention_train, itself checked against the rounding
// reference in test_grad_fast_attention.cpp); and stays near the f32 reference (bf16 operands: ~1e-2).
TEST(Attention, Bf16PrefillChunkMatchesTheWholePrefill) {
  struct Case {
    int64_t T, H, Hkv, D, pos0, window;
    float softcap;
  };
  for (Case c : {Case{5, 4, 2, 16, 3, 0, 0}, Case{40, 4, 2, 64, 37, 0, 0}, Case{33, 2, 1, 128, 70, 16, 30},
                 Case{64, 6, 3, 96, 64, 0, 0}, Case{2, 4, 4, 80, 1, 5, 0}}) {
    SCOPED_TRACE("T=" + std::to_string(c.T) + " D=" + std::to_string(c.D) + " pos0=" + std::to_string(c.pos0));
    const int64_t S = c.pos0 + c.T;
    const uint32_t seed = uint32_t(c.T * 17 + c.D);
    Tensor q_all = random_f32({S, c.H, c.D}, seed, -2, 2);
    Tensor k = random_f32({S + 9, c.Hkv, c.D}, seed + 1, -2, 2);  // a cache with room beyond the chunk
    Tensor v = random_f32({S + 9, c.Hkv, c.D}, seed + 2);
    AttnParams whole{float(1.0 / std::sqrt(double(c.D))), 0, c.window, c.softcap, true};
    AttnParams chunk = whole;
    chunk.pos0 = c.pos0;
    Tensor q = q_all.narrow(0, c.pos0, c.T).contiguous();
    Tensor got = attention(q, k.narrow(0, 0, S), v.narrow(0, 0, S), chunk);
    Tensor want = attention(q_all, k.narrow(0, 0, S), v.narrow(0, 0, S), whole).narrow(0, c.pos0, c.T).contiguous();
    EXPECT_LE(max_abs_diff(got, want), 1e-6);
    chunk.bf16 = false;
    EXPECT_LE(max_abs_diff(got, attention_ref(q, k.narrow(0, 0, S), v.narrow(0, 0, S), chunk)), 3e-2);
  }
}

TEST(Attention, KeysOutsideTheWindowOrFutureAreIgnored) {
  // Changing a masked key (future, or older than the window) must not change the output.
  Tensor q = random_f32({4, 2, 8}, 3), k = random_f32({10, 1, 8}, 4), v = random_f32({10, 1, 8}, 5);
  AttnParams p{0.35f, 6, 3, 0.0f};  // queries at positions 6..9, each sees its last 3 keys
  Tensor base = attention(q, k, v, p);
  Tensor k2 = k.clone(), v2 = v.clone();
  for (int64_t d = 0; d < 8; ++d) {
    k2.data<float>()[0 * 8 + d] = 100.0f;  // position 0: outside every window
    v2.data<float>()[3 * 8 + d] = -50.0f;  // position 3: outside every window (6 - 3 = 3 is not < 3)
  }
  EXPECT_EQ(count_bit_diffs(attention(q, k2, v2, p), base), 0);
  // Query 0 (position 6) must not see position 7 (future).
  Tensor v3 = v.clone();
  for (int64_t d = 0; d < 8; ++d) v3.data<float>()[7 * 8 + d] = 9.0f;
  Tensor o3 = attention(q, k, v3, p);
  for (int64_t d = 0; d < 8; ++d) EXPECT_EQ(o3.item_f32({0, 0, d}), base.item_f32({0, 0, d}));
}

TEST(Attention, BadArgumentsThrow) {
  Tensor q = Tensor::zeros({2, 3, 4}), k = Tensor::zeros({2, 2, 4});
  expect_error_with([&] { attention(q, k, k, AttnParams{}); }, {"3 query heads", "2 kv heads"});
  Tensor q4 = Tensor::zeros({2, 4, 4});
  expect_error_with([&] { attention(q4, k, k, AttnParams{1, 1, 0, 0}); }, {"2 keys", "position 2"});
  expect_error_with(
      [&] {
        attention(q4, Tensor::zeros({2, 2, 5}), Tensor::zeros({2, 2, 5}), AttnParams{});
      },
      {"head dim"});
  expect_error_with([&] { attention(q4, k, Tensor::zeros({3, 2, 4}), AttnParams{}); }, {"k vs v"});
}
