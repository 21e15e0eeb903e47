// attention_train and its backward (grad_ops.h) against the double reference (tensor/ref/grad_ref.h) over
// packed segments, sliding windows, GQA, soft-cap, T = 1 and sizes that cross the 32-row / 64-key tiles;
// the forward also against ops.h's inference attention() for one sequence.
#include <cmath>

#include "tensor/grad_attention_amx.h"

#include "grad_test_util.h"

using namespace slm;
using namespace slm::test;
using ref::DArray;

namespace {

struct Case {
  std::string name;
  int64_t T, H, Hkv, D, window;
  float softcap;
  std::vector<int32_t> segments;
};

// Segment ids for runs of the given lengths.
std::vector<int32_t> runs(std::initializer_list<int64_t> lens) {
  std::vector<int32_t> s;
  int32_t id = 0;
  for (int64_t n : lens) s.insert(s.end(), size_t(n), id++);
  return s;
}

// bf16: TrainAttnParams::bf16, checked against the reference that rounds where the AMX kernels round (on a CPU
// without AMX the flag falls back to f32 and the f32 reference and tolerances apply).
void check_case(const Case& c, bool bf16 = false) {
  SCOPED_TRACE(c.name + (bf16 ? " bf16" : ""));
  const bool amx = bf16 && detail::amx_attention_available(c.D);
  const double tol_out = amx ? 4e-4 : 1e-5, tol_lse = amx ? 1e-5 : 1e-6, tol_grad = amx ? 2e-3 : 2e-5;
  const uint32_t seed = uint32_t(c.T * 31 + c.D);
  Tensor q = random_f32({c.T, c.H, c.D}, seed, -1.5f, 1.5f), k = random_f32({c.T, c.Hkv, c.D}, seed + 1, -1.5f, 1.5f);
  Tensor v = random_f32({c.T, c.Hkv, c.D}, seed + 2), dout = random_f32({c.T, c.H, c.D}, seed + 3);
  TrainAttnParams p;
  p.scale = float(1.0 / std::sqrt(double(c.D)));
  p.window = c.window;
  p.softcap = c.softcap;
  if (!c.segments.empty()) p.segments = Tensor::from_i32(c.segments, {c.T});
  p.bf16 = bf16;
  ref::DAttnParams dp = ref::attn_params(p);
  dp.bf16 = amx;  // without AMX the kernels ignore the flag: the f32 reference applies
  ref::AttnFwd want = ref::attention_train_fwd(ref::to_double(q), ref::to_double(k), ref::to_double(v), dp);
  Tensor lse;
  Tensor out = attention_train(q, k, v, p, lse);
  expect_close("attention_train out " + c.name, out, want.out, tol_out);
  expect_close("attention_train lse " + c.name, lse, want.lse, tol_lse);
  if (amx) {  // the rounding really happened: f32 results would be ~1e-6 from the f32 reference
    ref::DAttnParams f32 = dp;
    f32.bf16 = false;
    EXPECT_GT(rel_err(out, ref::attention_train_fwd(ref::to_double(q), ref::to_double(k), ref::to_double(v), f32).out),
              1e-4);
  }
  ref::AttnGrads g =
      ref::attention_train_vjp(ref::to_double(dout), ref::to_double(q), ref::to_double(k), ref::to_double(v), dp);
  Tensor dq, dk = random_f32(k.shape(), 99), dv;  // dk preallocated with garbage: must be overwritten
  attention_train_backward(dout, q, k, v, out, lse, p, dq, dk, dv);
  expect_close("attention_train dq " + c.name, dq, g.dq, tol_grad);
  expect_close("attention_train dk " + c.name, dk, g.dk, tol_grad);
  expect_close("attention_train dv " + c.name, dv, g.dv, tol_grad);
}

}  // namespace

TEST(GradFastAttention, SmallAndOddSizes) {
  check_case({"T=1", 1, 2, 1, 64, 0, 0.0f, {}});
  check_case({"T=37 D=64", 37, 4, 4, 64, 0, 0.0f, {}});
  check_case({"T=37 D=80 gqa", 37, 4, 2, 80, 0, 0.0f, {}});
  check_case({"T=5 D=7", 5, 3, 1, 7, 0, 0.0f, {}});
}

TEST(GradFastAttention, PackedSegmentsWindowGqaSoftcap) {
  check_case({"segments", 37, 4, 2, 64, 0, 0.0f, runs({5, 1, 20, 11})});
  check_case({"window 7", 37, 2, 2, 16, 7, 0.0f, {}});
  check_case({"softcap 5", 37, 4, 2, 32, 0, 5.0f, {}});
  check_case({"all, crossing tiles", 150, 4, 2, 80, 40, 20.0f, runs({70, 3, 77})});
  check_case({"long single", 200, 2, 1, 128, 0, 0.0f, {}});
  check_case({"window 1", 40, 2, 1, 16, 1, 0.0f, runs({20, 20})});
}

TEST(GradFastAttention, Bf16ProductsOnAmx) {
  if (!detail::amx_attention_available(64)) std::printf("  no AMX here: bf16 falls back to f32\n");
  check_case({"T=1", 1, 2, 1, 64, 0, 0.0f, {}}, true);
  check_case({"T=37 D=80 gqa", 37, 4, 2, 80, 0, 0.0f, {}}, true);
  check_case({"T=5 D=7", 5, 3, 1, 7, 0, 0.0f, {}}, true);
  check_case({"segments from odd positions", 37, 4, 2, 64, 0, 0.0f, runs({5, 1, 20, 11})}, true);
  check_case({"all, crossing tiles", 150, 4, 2, 80, 40, 20.0f, runs({70, 3, 77})}, true);
  check_case({"window 7", 70, 2, 2, 16, 7, 0.0f, runs({33, 37})}, true);
  check_case({"long single, D=128", 200, 2, 1, 128, 0, 0.0f, {}}, true);
  check_case({"D=96 mha", 100, 3, 3, 96, 0, 0.0f, {}}, true);
}

TEST(GradFastAttention, ForwardMatchesInferenceAttention) {
  for (int64_t window : {0, 9})
    for (float cap : {0.0f, 30.0f}) {
      Tensor q = random_f32({45, 6, 64}, 40, -2, 2), k = random_f32({45, 2, 64}, 41, -2, 2);
      Tensor v = random_f32({45, 2, 64}, 42);
      const float scale = 0.125f;
      TrainAttnParams tp;
      tp.scale = scale;
      tp.window = window;
      tp.softcap = cap;
      Tensor lse;
      Tensor got = attention_train(q, k, v, tp, lse);
      Tensor want = attention(q, k, v, AttnParams{scale, 0, window, cap});
      EXPECT_LE(max_abs_diff(got, want), 2e-6) << "window " << window << " cap " << cap;
    }
}

TEST(GradFastAttention, Errors) {
  Tensor q = random_f32({4, 2, 8}, 1), k = random_f32({4, 1, 8}, 2), v = random_f32({4, 1, 8}, 3), lse;
  TrainAttnParams p;
  p.segments = Tensor::from_i32({0, 1, 0, 0}, {4});
  expect_error_with([&] { attention_train(q, k, v, p, lse); }, {"segment id 0", "position 2", "contiguously"});
  p.segments = Tensor::from_i32({0, 0, 0}, {3});
  expect_error_with([&] { attention_train(q, k, v, p, lse); }, {"segments", "4 entries"});
  p.segments = Tensor();
  Tensor out = attention_train(q, k, v, p, lse);
  Tensor bad_lse = Tensor::zeros({4, 1}), dq, dk, dv;
  expect_error_with([&] { attention_train_backward(q, q, k, v, out, bad_lse, p, dq, dk, dv); }, {"lse"});
  Tensor k3 = random_f32({4, 3, 8}, 4);
  expect_error_with([&] { attention_train(q, k3, k3, p, lse); }, {"not a multiple"});
}
