// The double-precision reference VJPs of tensor/ref/grad_ref.h against central finite differences of the
// reference forwards: for a random cotangent r, d/dx Σ r·f(x) must equal vjp(r) element by element.
// Everything is double, so eps = 1e-6 leaves ~1e-10 of rounding and ~1e-12 of truncation error: the
// tolerance (1e-7 of the largest gradient entry) would catch any wrong term. Masked/ignored cases included.
#include <cmath>
#include <functional>
#include <random>

#include "ops_test_util.h"
#include "tensor/ref/grad_ref.h"

using namespace slm;
using namespace slm::test;
using ref::DArray;

namespace {

DArray rand_d(const Shape& s, uint32_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  DArray a(s);
  for (double& x : a.v) x = dist(rng);
  return a;
}

double dot(const DArray& a, const DArray& b) {
  double s = 0.0;
  for (int64_t i = 0; i < a.numel(); ++i) s += a[i] * b[i];
  return s;
}

// Checks `grad` = d loss / d x by central differences over every element of x; returns the worst error
// relative to the largest |grad| (printed per case).
double check_fd(const std::string& what, const DArray& x, const DArray& grad,
                const std::function<double(const DArray&)>& loss, double tol = 1e-7, double eps = 1e-6) {
  EXPECT_EQ(x.shape, grad.shape) << what;
  double gmax = 0.0;
  for (double g : grad.v) gmax = std::max(gmax, std::fabs(g));
  double worst = 0.0;
  DArray xp = x;
  for (int64_t i = 0; i < x.numel(); ++i) {
    xp[i] = x[i] + eps;
    const double lp = loss(xp);
    xp[i] = x[i] - eps;
    const double lm = loss(xp);
    xp[i] = x[i];
    const double fd = (lp - lm) / (2 * eps);
    worst = std::max(worst, std::fabs(fd - grad[i]));
  }
  const double rel = worst / std::max(gmax, 1e-300);
  EXPECT_LE(rel, tol) << what << ": worst |fd - vjp| = " << worst << " of max |grad| " << gmax;
  EXPECT_GT(gmax, 0.0) << what << ": gradient is all zeros";
  std::printf("  [%s] max rel err vs finite differences %.2e (max |grad| %.3g)\n", what.c_str(), rel, gmax);
  return rel;
}

}  // namespace

TEST(GradRef, Linear) {
  const int64_t T = 3, K = 5, N = 4;
  DArray x = rand_d({T, K}, 1), w = rand_d({N, K}, 2), b = rand_d({N}, 3), r = rand_d({T, N}, 4);
  ref::LinearGrads g = ref::linear_vjp(r, x, w);
  check_fd("linear dx", x, g.dx, [&](const DArray& a) { return dot(r, ref::linear_fwd(a, w, &b)); });
  check_fd("linear dw", w, g.dw, [&](const DArray& a) { return dot(r, ref::linear_fwd(x, a, &b)); });
  check_fd("linear db", b, g.db, [&](const DArray& a) { return dot(r, ref::linear_fwd(x, w, &a)); });
}

TEST(GradRef, EmbeddingRepeatedIds) {
  const int64_t V = 6, C = 3;
  std::vector<int32_t> ids = {4, 1, 4, 0, 4};  // row 4 gathered three times, rows 2, 3, 5 never
  DArray table = rand_d({V, C}, 5), r = rand_d({5, C}, 6);
  DArray g = ref::embedding_vjp(r, ids, V);
  check_fd("embedding dtable", table, g, [&](const DArray& a) { return dot(r, ref::embedding_fwd(a, ids)); });
  for (int64_t c = 0; c < C; ++c) {
    EXPECT_EQ(g[2 * C + c], 0.0);
    EXPECT_DOUBLE_EQ(g[4 * C + c], r[0 * C + c] + r[2 * C + c] + r[4 * C + c]);
  }
}

TEST(GradRef, RmsNorm) {
  for (bool unit : {false, true}) {
    const int64_t T = 3, C = 7;
    const double eps = 1e-5;
    DArray x = rand_d({T, C}, 7, -2, 2), w = rand_d({C}, 8), r = rand_d({T, C}, 9);
    ref::RmsNormGrads g = ref::rmsnorm_vjp(r, x, w, eps, unit);
    const std::string tag = unit ? " (unit_offset)" : "";
    check_fd("rmsnorm dx" + tag, x, g.dx, [&](const DArray& a) { return dot(r, ref::rmsnorm_fwd(a, w, eps, unit)); });
    check_fd("rmsnorm dw" + tag, w, g.dw, [&](const DArray& a) { return dot(r, ref::rmsnorm_fwd(x, a, eps, unit)); });
  }
}

namespace {

RopeParams rope_params(const std::string& type, int64_t D, double partial) {
  RopeParams p;
  p.rope_type = type;
  p.head_dim = D;
  p.partial_rotary_factor = partial;
  p.rope_theta = 10000.0;
  if (type == "llama3") {
    p.factor = 8.0;
    p.original_max_position_embeddings = 16;  // small, so the test positions cross every wavelength band
    p.low_freq_factor = 1.0;
    p.high_freq_factor = 4.0;
  } else if (type == "longrope") {
    p.max_position_embeddings = 64;
    p.original_max_position_embeddings = 8;
    const int64_t half = rope_rotary_dim(p) / 2;
    for (int64_t i = 0; i < half; ++i) {
      p.short_factor.push_back(1.0 + 0.1 * double(i));
      p.long_factor.push_back(2.0 + 0.5 * double(i));
    }
  }
  return p;
}

}  // namespace

TEST(GradRef, RopeTransposeOfRotation) {
  struct Case {
    std::string type;
    int64_t D;
    double partial;
    int64_t seq_len;  // selects longrope's long factors when > 8
  };
  for (const Case& c : {Case{"default", 8, 1.0, 5}, Case{"default", 10, 0.4, 5}, Case{"longrope", 8, 1.0, 5},
                        Case{"longrope", 12, 0.5, 40}, Case{"llama3", 16, 1.0, 5}}) {
    SCOPED_TRACE(c.type + " D=" + std::to_string(c.D));
    RopeParams rp = rope_params(c.type, c.D, c.partial);
    std::vector<int64_t> pos = {0, 3, 7, 30, c.seq_len - 1};
    ref::DRope t = ref::rope_to_double(rope_table(rope_freqs(rp, c.seq_len), pos));
    const int64_t T = 5, H = 2;
    DArray x = rand_d({T, H, c.D}, 10), r = rand_d({T, H, c.D}, 11);
    DArray g = ref::rope_vjp(r, t);
    check_fd("rope " + c.type + " D=" + std::to_string(c.D), x, g,
             [&](const DArray& a) { return dot(r, ref::rope_fwd(a, t)); });
    // Pass-through features: the gradient is the cotangent itself.
    for (int64_t i = 0; i < T * H; ++i)
      for (int64_t d = t.rotary_dim; d < c.D; ++d) EXPECT_EQ(g[i * c.D + d], r[i * c.D + d]);
    // A rotation: its transpose is its inverse (cos² + sin² = scaling², 1 without attention scaling).
    if (c.type != "longrope") {
      DArray back = ref::rope_vjp(ref::rope_fwd(x, t), t);
      for (int64_t i = 0; i < x.numel(); ++i) EXPECT_NEAR(back[i], x[i], 1e-6);
    }
  }
}

namespace {

struct AttnCase {
  std::string name;
  int64_t T, H, Hkv, D, window;
  double softcap;
  std::vector<int32_t> segments;
};

void check_attention_case(const AttnCase& c) {
  SCOPED_TRACE(c.name);
  DArray q = rand_d({c.T, c.H, c.D}, 20, -1.5, 1.5), k = rand_d({c.T, c.Hkv, c.D}, 21, -1.5, 1.5);
  DArray v = rand_d({c.T, c.Hkv, c.D}, 22), r = rand_d({c.T, c.H, c.D}, 23);
  ref::DAttnParams p{1.0 / std::sqrt(double(c.D)), c.softcap, c.window, c.segments};
  ref::AttnGrads g = ref::attention_train_vjp(r, q, k, v, p);
  auto loss = [&](const DArray& qq, const DArray& kk, const DArray& vv) {
    return dot(r, ref::attention_train_fwd(qq, kk, vv, p).out);
  };
  check_fd("attention " + c.name + " dq", q, g.dq, [&](const DArray& a) { return loss(a, k, v); });
  check_fd("attention " + c.name + " dk", k, g.dk, [&](const DArray& a) { return loss(q, a, v); });
  check_fd("attention " + c.name + " dv", v, g.dv, [&](const DArray& a) { return loss(q, k, a); });
  // lse normalises every row: Σ_visible exp(logit - lse) = 1, and exp(lse) >= exp(max logit).
  ref::AttnFwd f = ref::attention_train_fwd(q, k, v, p);
  for (int64_t i = 0; i < c.T; ++i)
    for (int64_t h = 0; h < c.H; ++h) {
      double s = 0.0;
      const int64_t hk = h / (c.H / c.Hkv);
      for (int64_t j = 0; j < c.T; ++j) {
        if (!ref::attn_visible(p, i, j)) continue;
        double z = 0.0;
        for (int64_t d = 0; d < c.D; ++d) z += q[(i * c.H + h) * c.D + d] * k[(j * c.Hkv + hk) * c.D + d];
        z *= p.scale;
        if (p.softcap > 0) z = p.softcap * std::tanh(z / p.softcap);
        s += std::exp(z - f.lse[i * c.H + h]);
      }
      EXPECT_NEAR(s, 1.0, 1e-12);
    }
}

}  // namespace

TEST(GradRef, AttentionCausal) { check_attention_case({"causal", 5, 2, 2, 3, 0, 0.0, {}}); }
TEST(GradRef, AttentionSegments) {
  // Segment ids need not be runs in the reference: 2 reappears after 1.
  check_attention_case({"segments", 8, 2, 1, 3, 0, 0.0, {0, 0, 0, 1, 1, 2, 2, 2}});
  check_attention_case({"segments non-run", 6, 1, 1, 2, 0, 0.0, {5, 5, 7, 5, 7, 7}});
}
TEST(GradRef, AttentionWindowGqaSoftcap) {
  check_attention_case({"window 2", 6, 2, 2, 3, 2, 0.0, {}});
  check_attention_case({"gqa H=4 Hkv=2", 5, 4, 2, 3, 0, 0.0, {}});
  check_attention_case({"softcap 0.7", 5, 2, 1, 4, 0, 0.7, {}});
  check_attention_case({"all", 9, 4, 2, 3, 3, 1.5, {0, 0, 0, 0, 1, 1, 1, 1, 1}});
}

TEST(GradRef, AttentionForwardMatchesInferenceReference) {
  // One segment, pos0 = 0: attention_train's reference equals ops.h's attention_ref.
  Tensor q = random_f32({7, 4, 5}, 30), k = random_f32({7, 2, 5}, 31), v = random_f32({7, 2, 5}, 32);
  AttnParams ap{0.4f, 0, 3, 2.0f};
  ref::DAttnParams dp{0.4, 2.0, 3, {}};
  Tensor want = attention_ref(q, k, v, ap);
  DArray got = ref::attention_train_fwd(ref::to_double(q), ref::to_double(k), ref::to_double(v), dp).out;
  EXPECT_LE(max_abs_diff(ref::to_f32(got), want), 1e-6);
}

TEST(GradRef, GatedActivations) {
  for (Activation act : {Activation::SiLU, Activation::GeluTanh, Activation::Gelu}) {
    const std::string name = act == Activation::SiLU ? "silu" : act == Activation::GeluTanh ? "gelu_tanh" : "gelu";
    DArray gt = rand_d({3, 6}, 40, -4, 4), up = rand_d({3, 6}, 41), r = rand_d({3, 6}, 42);
    ref::GatedGrads g = ref::gated_act_vjp(r, gt, up, act);
    check_fd(name + " dgate", gt, g.dgate, [&](const DArray& a) { return dot(r, ref::gated_act_fwd(a, up, act)); });
    check_fd(name + " dup", up, g.dup, [&](const DArray& a) { return dot(r, ref::gated_act_fwd(gt, a, act)); });
    // The double formulas agree with the f32 ones the forward kernels use (tensor/ref/activation.h).
    Tensor g32 = ref::to_f32(gt), u1 = Tensor::from_f32(std::vector<float>(18, 1.0f), {3, 6});
    Tensor f32 = gated_act_ref(g32, u1, act);
    for (int64_t i = 0; i < 18; ++i)
      EXPECT_NEAR(f32.data<float>()[i], ref::act_fwd(double(g32.data<float>()[i]), act), 2e-6);
  }
}

TEST(GradRef, Softcap) {
  DArray x = rand_d({4, 5}, 50, -30, 30), r = rand_d({4, 5}, 51);
  DArray g = ref::softcap_vjp(r, x, 7.5);
  check_fd("softcap", x, g, [&](const DArray& a) { return dot(r, ref::softcap_fwd(a, 7.5)); });
}

TEST(GradRef, CrossEntropyIgnoresLabelMinus100) {
  const int64_t T = 5, V = 7;
  std::vector<int32_t> labels = {3, -100, 0, 6, -100};
  DArray logits = rand_d({T, V}, 60, -3, 3);
  ref::CrossEntropyRef ce = ref::cross_entropy(logits, labels, 0.25);
  EXPECT_EQ(ce.count, 3);
  check_fd("cross_entropy", logits, ce.dlogits,
           [&](const DArray& a) { return 0.25 * ref::cross_entropy(a, labels, 0.25).loss_sum; });
  for (int64_t t : {1, 4})
    for (int64_t c = 0; c < V; ++c) EXPECT_EQ(ce.dlogits[t * V + c], 0.0);
  // Hand check of one row: -log softmax(l)[y].
  double sum = 0.0;
  for (int64_t c = 0; c < V; ++c) sum += std::exp(logits[c]);
  const double row0 = std::log(sum) - logits[3];
  DArray only0 = logits;
  ref::CrossEntropyRef ce0 = ref::cross_entropy(only0, {3, -100, -100, -100, -100});
  EXPECT_NEAR(ce0.loss_sum, row0, 1e-12);
  EXPECT_THROW(ref::cross_entropy(logits, {3, 7, 0, 0, 0}), Error);
}
