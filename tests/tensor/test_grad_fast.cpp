// The f32 fast backward kernels of grad_ops.h (matmul, embedding, RMSNorm, RoPE, elementwise, cross-entropy)
// against the double references of tensor/ref/grad_ref.h, at odd sizes, with += semantics, in-place aliasing and
// error cases. Errors are relative to the reference's largest entry (grad_test_util.h).
#include <cmath>

#include "grad_test_util.h"
#include "tensor/onednn_gemm.h"

using namespace slm;
using namespace slm::test;
using ref::DArray;

namespace {

Tensor rounded_bf16(const Tensor& t) { return t.to(DType::BF16).to(DType::F32); }

// a + b for tensors (the expected value of an accumulation).
DArray plus(const DArray& a, const DArray& b, double times = 1.0) {
  DArray r = a;
  for (int64_t i = 0; i < r.numel(); ++i) r[i] += times * b[i];
  return r;
}

}  // namespace

TEST(GradFast, LinearBackwardInputF32) {
  struct Case {
    int64_t T, N, K;
  };
  for (Case c : {Case{1, 5, 3}, Case{37, 80, 64}, Case{7, 64, 80}, Case{130, 33, 17}, Case{200, 96, 160}}) {
    SCOPED_TRACE("T=" + std::to_string(c.T) + " N=" + std::to_string(c.N) + " K=" + std::to_string(c.K));
    Tensor dy = random_f32({c.T, c.N}, 1), w = random_f32({c.N, c.K}, 2);
    ref::LinearGrads g = ref::linear_vjp(ref::to_double(dy), DArray(), ref::to_double(w));
    expect_close("linear dx f32 T=" + std::to_string(c.T), linear_backward_input(dy, w), g.dx, 1e-5);
  }
}

TEST(GradFast, LinearBackwardInputBf16Weight) {
  for (int64_t T : {1, 37, 150}) {
    Tensor dy = random_f32({T, 96}, 3), w = random_f32({96, 80}, 4).to(DType::BF16);
    Tensor dx = linear_backward_input(dy, w);
    // Against the exact product: only dy's rounding to bf16 separates them (~2^-9 per term).
    DArray exact = ref::linear_vjp(ref::to_double(dy), DArray(), ref::to_double(w)).dx;
    expect_close("linear dx bf16 vs exact dy T=" + std::to_string(T), dx, exact, 1e-2);
    // Against the reference fed the same bf16-rounded dy: f32 accumulation only.
    DArray same = ref::linear_vjp(ref::to_double(rounded_bf16(dy)), DArray(), ref::to_double(w)).dx;
    expect_close("linear dx bf16 vs rounded dy T=" + std::to_string(T), dx, same, 1e-5);
  }
}

TEST(GradFast, LinearBackwardInputLongReductionAndAdd) {
  // N past the chunked-reduction threshold (chunks of 2048 rows of w plus a tail), and the += variant.
  const int64_t T = 9, N = 5000, K = 24;
  Tensor dy = random_f32({T, N}, 21), w = random_f32({N, K}, 22), dx0 = random_f32({T, K}, 23);
  for (DType dt : {DType::F32, DType::BF16}) {
    SCOPED_TRACE(std::string(dtype_name(dt)));
    Tensor wd = w.to(dt);
    const Tensor dyr = dt == DType::BF16 ? rounded_bf16(dy) : dy;
    DArray want = ref::linear_vjp(ref::to_double(dyr), DArray(), ref::to_double(wd)).dx;
    expect_close("linear dx long N " + std::string(dtype_name(dt)), linear_backward_input(dy, wd), want, 1e-5);
    Tensor dx = dx0.clone();
    linear_backward_input_add(dy, wd, dx);
    expect_close("linear dx += long N " + std::string(dtype_name(dt)), dx, plus(ref::to_double(dx0), want), 1e-5);
  }
  Tensor small = random_f32({37, 80}, 24), ws = random_f32({80, 64}, 25), acc = random_f32({37, 64}, 26);
  DArray want = plus(ref::to_double(acc), ref::linear_vjp(ref::to_double(small), DArray(), ref::to_double(ws)).dx);
  linear_backward_input_add(small, ws, acc);
  expect_close("linear dx += T=37", acc, want, 1e-5);
  Tensor bad = Tensor::zeros({37, 63});
  expect_error_with([&] { linear_backward_input_add(small, ws, bad); }, {"linear_backward_input_add dx", "[37, 64]"});
}

TEST(GradFast, LinearBackwardInputShortReduction) {
  // LoRA's dxa · A (N = the rank <= kSmallK, f32): the short-reduction kernel, fresh and +=, with row and column
  // tails (K = 100 = 64 + 36 columns, T = 130 = two 64-row tasks + 2).
  for (int64_t N : {1, 16, 32}) {
    SCOPED_TRACE("N=" + std::to_string(N));
    Tensor dy = random_f32({130, N}, 31), w = random_f32({N, 100}, 32), dx0 = random_f32({130, 100}, 33);
    DArray want = ref::linear_vjp(ref::to_double(dy), DArray(), ref::to_double(w)).dx;
    expect_close("linear dx short N", linear_backward_input(dy, w), want, 1e-5);
    Tensor dx = dx0.clone();
    linear_backward_input_add(dy, w, dx);
    expect_close("linear dx += short N", dx, plus(ref::to_double(dx0), want), 1e-5);
  }
}

TEST(GradFast, FrozenWeightsPackedPathsMatchReference) {
  // T >= 128 with registered weights: linear, linear_add and the (chunked) input gradient read packed copies.
  const int64_t T = 150, K = 96, N = 4200;
  Tensor x = random_f32({T, K}, 41), dy = random_f32({T, N}, 42), w = random_f32({N, K}, 43);
  for (DType dt : {DType::F32, DType::BF16}) {
    SCOPED_TRACE(std::string(dtype_name(dt)));
    Tensor wd = w.to(dt);
    const Tensor xr = dt == DType::BF16 ? rounded_bf16(x) : x, dyr = dt == DType::BF16 ? rounded_bf16(dy) : dy;
    DArray y_want = ref::linear_fwd(ref::to_double(xr), ref::to_double(wd));
    DArray dx_want = ref::linear_vjp(ref::to_double(dyr), DArray(), ref::to_double(wd)).dx;
    Tensor plain_y = linear(x, wd), plain_dx = linear_backward_input(dy, wd);
    for (int round = 0; round < 2; ++round) {  // the second round reuses the packed copies
      FrozenWeights frozen({wd});
      Tensor y = linear(x, wd), dx = linear_backward_input(dy, wd), acc = Tensor::zeros({T, N});
      linear_add(x, wd, acc);
      expect_close("frozen linear " + std::string(dtype_name(dt)), y, y_want, 1e-5);
      expect_close("frozen linear_add " + std::string(dtype_name(dt)), acc, y_want, 1e-5);
      expect_close("frozen dx " + std::string(dtype_name(dt)), dx, dx_want, 1e-5);
      EXPECT_LE(rel_err(y, ref::to_double(plain_y)), 1e-5);
      EXPECT_LE(rel_err(dx, ref::to_double(plain_dx)), 1e-5);
      // Packed: the forward's (bf16 only) and the input gradient's copy, each the weight's size plus block padding.
      const size_t copies = dt == DType::BF16 ? 2 : 1;
      EXPECT_GE(detail::frozen_packed_bytes(), copies * wd.nbytes());
      EXPECT_LE(detail::frozen_packed_bytes(), copies * wd.nbytes() * 5 / 4);
    }
    EXPECT_EQ(detail::frozen_packed_bytes(), 0u);  // released with the scope
  }
  // Released: a new weight at possibly the same address must not see a stale packed copy.
  for (uint32_t seed : {51u, 52u}) {
    Tensor w2 = random_f32({N, K}, seed).to(DType::BF16);
    FrozenWeights frozen({w2});
    DArray want = ref::linear_fwd(ref::to_double(rounded_bf16(x)), ref::to_double(w2));
    expect_close("frozen linear, fresh weight", linear(x, w2), want, 1e-5);
  }
}

TEST(GradFast, LinearBackwardLowRank) {
  // y = x wᵀ with a narrow w (LoRA's B): dx = dy w and dw += dyᵀ x in one pass; every vector width of r (masked
  // tails), row counts that leave tail rows, sizes under and over the threading threshold, r past the fast path.
  struct Case {
    int64_t T, N, r;
  };
  for (Case c : {Case{1, 5, 3}, Case{37, 80, 16}, Case{13, 33, 8}, Case{9, 40, 21}, Case{11, 19, 40},
                 Case{7, 24, 64}, Case{300, 700, 16}, Case{130, 400, 37}, Case{5, 9, 70}}) {
    SCOPED_TRACE("T=" + std::to_string(c.T) + " N=" + std::to_string(c.N) + " r=" + std::to_string(c.r));
    Tensor dy = random_f32({c.T, c.N}, 31), x = random_f32({c.T, c.r}, 32), w = random_f32({c.N, c.r}, 33);
    Tensor dw0 = random_f32({c.N, c.r}, 34), dw = dw0.clone();
    ref::LinearGrads g = ref::linear_vjp(ref::to_double(dy), ref::to_double(x), ref::to_double(w));
    Tensor dx = linear_backward_low_rank(dy, x, w, dw);
    expect_close("low-rank dx r=" + std::to_string(c.r), dx, g.dx, 1e-5);
    expect_close("low-rank dw += r=" + std::to_string(c.r), dw, plus(ref::to_double(dw0), g.dw), 1e-5);
  }
  Tensor bad = Tensor::zeros({4, 3});
  expect_error_with([&] { linear_backward_low_rank(random_f32({2, 4}, 1), random_f32({2, 2}, 2), random_f32({4, 2}, 3), bad); },
                    {"linear_backward_low_rank dw", "[4, 2]"});
}

TEST(GradFast, LinearBackwardWeightAccumulates) {
  struct Case {
    int64_t T, N, K;
  };
  for (Case c : {Case{1, 4, 3}, Case{37, 8, 80}, Case{300, 64, 16}, Case{129, 17, 33}}) {
    SCOPED_TRACE("T=" + std::to_string(c.T));
    Tensor dy = random_f32({c.T, c.N}, 5), x = random_f32({c.T, c.K}, 6), dw0 = random_f32({c.N, c.K}, 7);
    Tensor dw = dw0.clone();
    DArray g = ref::linear_vjp(ref::to_double(dy), ref::to_double(x), ref::to_double(Tensor::zeros({c.N, c.K}))).dw;
    linear_backward_weight(dy, x, dw);
    expect_close("linear dw += T=" + std::to_string(c.T), dw, plus(ref::to_double(dw0), g), 1e-5);
    linear_backward_weight(dy, x, dw);  // a second micro-batch adds again
    expect_close("linear dw += twice", dw, plus(ref::to_double(dw0), g, 2.0), 1e-5);
  }
  Tensor bad = Tensor::zeros({3, 3});
  expect_error_with(
      [&] {
        linear_backward_weight(random_f32({2, 4}, 1), random_f32({2, 3}, 2), bad);
      },
      {"linear_backward_weight dw", "[4, 3]"});
}

TEST(GradFast, BiasBackwardAccumulates) {
  for (int64_t T : {1, 37, 600}) {
    Tensor dy = random_f32({T, 300}, 8), db0 = random_f32({300}, 9), db = db0.clone();
    bias_backward(dy, db);
    DArray g = ref::linear_vjp(ref::to_double(dy), DArray(), ref::to_double(Tensor::zeros({300, 1}))).db;
    expect_close("bias db += T=" + std::to_string(T), db, plus(ref::to_double(db0), g), 1e-6);
  }
}

TEST(GradFast, EmbeddingBackwardScattersRepeatedIds) {
  const int64_t V = 11, C = 150, T = 300;
  std::vector<int32_t> ids(T);
  for (int64_t t = 0; t < T; ++t) ids[size_t(t)] = int32_t((t * 7) % 5 + (t % 3 == 0 ? 6 : 0));
  Tensor id = Tensor::from_i32(ids, {T}), dout = random_f32({T, C}, 10), d0 = random_f32({V, C}, 11);
  Tensor dt = d0.clone();
  embedding_backward(dout, id, dt);
  expect_close("embedding dtable +=", dt, plus(ref::to_double(d0), ref::embedding_vjp(ref::to_double(dout), ids, V)),
               1e-6);
  Tensor bad_ids = Tensor::from_i32({0, 11}, {2});
  expect_error_with([&] { embedding_backward(random_f32({2, C}, 1), bad_ids, dt); }, {"token id 11", "position 1"});
}

TEST(GradFast, RmsNormBackward) {
  struct Case {
    int64_t T, C;
    bool unit, bf16;
  };
  for (Case c :
       {Case{1, 64, false, false}, Case{37, 80, true, false}, Case{5, 896, false, true}, Case{200, 96, true, true}}) {
    SCOPED_TRACE("T=" + std::to_string(c.T) + " C=" + std::to_string(c.C));
    Tensor x = random_f32({c.T, c.C}, 12, -2, 2), dy = random_f32({c.T, c.C}, 13);
    Tensor w = random_f32({c.C}, 14, 0.5f, 1.5f);
    if (c.bf16) w = w.to(DType::BF16);
    Tensor dw0 = random_f32({c.C}, 15), dw = dw0.clone();
    Tensor dx = rmsnorm_backward(dy, x, w, 1e-6f, c.unit, &dw);
    ref::RmsNormGrads g = ref::rmsnorm_vjp(ref::to_double(dy), ref::to_double(x), ref::to_double(w), 1e-6, c.unit);
    const std::string tag = " T=" + std::to_string(c.T) + (c.unit ? " unit_offset" : "") + (c.bf16 ? " bf16 w" : "");
    expect_close("rmsnorm dx" + tag, dx, g.dx, 1e-5);
    expect_close("rmsnorm dw +=" + tag, dw, plus(ref::to_double(dw0), g.dw), 1e-5);
    EXPECT_EQ(count_bit_diffs(rmsnorm_backward(dy, x, w, 1e-6f, c.unit), dx), 0);  // dw optional, dx the same
  }
}

TEST(GradFast, RopeBackwardTransposesApply) {
  struct Case {
    std::string type;
    int64_t T, H, D;
    double partial;
  };
  for (const Case& c : {Case{"default", 1, 2, 64, 1.0}, Case{"default", 37, 3, 80, 0.5}, Case{"llama3", 20, 4, 64, 1.0},
                        Case{"longrope", 37, 2, 96, 0.75}}) {
    SCOPED_TRACE(c.type);
    RopeParams rp;
    rp.rope_type = c.type;
    rp.head_dim = c.D;
    rp.partial_rotary_factor = c.partial;
    rp.factor = c.type == "llama3" ? 8.0 : 0.0;
    rp.max_position_embeddings = 64;
    rp.original_max_position_embeddings = 16;
    for (int64_t i = 0; i < rope_rotary_dim(rp) / 2; ++i) {
      rp.short_factor.push_back(1.0 + 0.05 * double(i));
      rp.long_factor.push_back(1.5 + 0.25 * double(i));
    }
    std::vector<int64_t> pos(size_t(c.T));
    for (int64_t i = 0; i < c.T; ++i) pos[size_t(i)] = 3 * i;
    RopeTable t = rope_table(rope_freqs(rp, 3 * c.T), pos);
    Tensor dy = random_f32({c.T, c.H, c.D}, 16), d = dy.clone();
    rope_backward(d, t);
    expect_close("rope backward " + c.type + " D=" + std::to_string(c.D), d,
                 ref::rope_vjp(ref::to_double(dy), ref::rope_to_double(t)), 1e-6);
    if (c.type != "longrope") {  // scaling 1: the rotation is orthogonal, backward ∘ apply = identity
      Tensor x = dy.clone();
      rope_apply(x, t);
      rope_backward(x, t);
      EXPECT_LE(max_abs_diff(x, dy), 1e-6);
    }
  }
}

TEST(GradFast, GatedActBackward) {
  for (Activation act : {Activation::SiLU, Activation::GeluTanh, Activation::Gelu})
    for (Shape s : {Shape{1, 7}, Shape{37, 81}, Shape{64, 300}}) {
      const std::string name = std::string(act == Activation::SiLU       ? "silu"
                                           : act == Activation::GeluTanh ? "gelu_tanh"
                                                                         : "gelu") +
                               " " + shape_str(s);
      Tensor g = random_f32(s, 17, -8, 8), u = random_f32(s, 18), dy = random_f32(s, 19);
      Tensor dg, du;
      gated_act_backward(dy, g, u, act, dg, du);
      ref::GatedGrads r = ref::gated_act_vjp(ref::to_double(dy), ref::to_double(g), ref::to_double(u), act);
      expect_close(name + " dgate", dg, r.dgate, 1e-5);
      expect_close(name + " dup", du, r.dup, 1e-5);
      // Preallocated outputs are overwritten, here aliasing the inputs element for element.
      Tensor g2 = g.clone(), u2 = u.clone();
      gated_act_backward(dy, g2, u2, act, g2, u2);
      EXPECT_EQ(count_bit_diffs(g2, dg), 0);
      EXPECT_EQ(count_bit_diffs(u2, du), 0);
    }
}

TEST(GradFast, SoftcapBackward) {
  Tensor x = random_f32({37, 1001}, 20, -60, 60), dy = random_f32({37, 1001}, 21);
  Tensor y = x.clone();
  softcap_inplace(y, 30.0f);
  expect_close("softcap dx", softcap_backward(dy, y, 30.0f),
               ref::softcap_vjp(ref::to_double(dy), ref::to_double(x), 30.0), 1e-5);
}

TEST(GradFast, CrossEntropyMatchesReferenceInPlace) {
  for (int64_t V : {1, 37, 1003, 40000}) {
    const int64_t T = 37;
    std::vector<int32_t> labels(T);
    for (int64_t t = 0; t < T; ++t) labels[size_t(t)] = t % 5 == 2 ? -100 : int32_t((t * 131) % V);
    Tensor logits = random_f32({T, V}, 22, -8, 8), lab = Tensor::from_i32(labels, {T});
    ref::CrossEntropyRef want = ref::cross_entropy(ref::to_double(logits), labels, 0.125);
    CrossEntropy only = cross_entropy(logits, lab);
    Tensor d;
    CrossEntropy with = cross_entropy(logits, lab, &d, 0.125f);
    const std::string tag = " V=" + std::to_string(V);
    EXPECT_EQ(only.count, want.count);
    EXPECT_EQ(with.count, want.count);
    EXPECT_NEAR(only.loss_sum, want.loss_sum, 1e-6 * std::fabs(want.loss_sum) + 1e-9) << tag;
    EXPECT_EQ(only.loss_sum, with.loss_sum);
    std::printf("  [cross_entropy loss%s] rel err %.2e\n", tag.c_str(),
                std::fabs(only.loss_sum - want.loss_sum) / std::max(1e-300, std::fabs(want.loss_sum)));
    expect_close("cross_entropy dlogits" + tag, d, want.dlogits, 1e-5);
    // In place: the gradient overwrites the logits, same values bit for bit.
    Tensor inplace = logits.clone();
    CrossEntropy ip = cross_entropy(inplace, lab, &inplace, 0.125f);
    EXPECT_EQ(ip.loss_sum, with.loss_sum);
    EXPECT_EQ(count_bit_diffs(inplace, d), 0);
  }
}

TEST(GradFast, CrossEntropyRejectsBadLabelsBeforeWriting) {
  Tensor logits = random_f32({3, 10}, 23), keep = logits.clone();
  for (int32_t bad : {10, -1, -101}) {
    Tensor lab = Tensor::from_i32({1, bad, 2}, {3});
    expect_error_with([&] { cross_entropy(logits, lab, &logits); },
                      {"label " + std::to_string(bad), "position 1", "-100"});
    EXPECT_EQ(count_bit_diffs(logits, keep), 0);  // nothing written
  }
  CrossEntropy none = cross_entropy(logits, Tensor::from_i32({-100, -100, -100}, {3}));
  EXPECT_EQ(none.count, 0);
  EXPECT_EQ(none.loss_sum, 0.0);
}
