// threading.h, and the kernels whose rows are each computed by one thread give the same bits on 1 or N threads.
#include "ops_test_util.h"
#include "tensor/threading.h"

using namespace slm;
using namespace slm::test;

TEST(Threading, SetAndRestore) {
  const int before = num_threads();
  EXPECT_GE(before, 1);
  set_num_threads(1);
  EXPECT_EQ(num_threads(), 1);
  set_num_threads(0);  // default
  EXPECT_EQ(num_threads(), before);
}

TEST(Threading, RowKernelsIndependentOfThreadCount) {
  Tensor x1 = random_f32({1, 300}, 1), w = random_f32({500, 300}, 2);
  Tensor q = random_f32({40, 4, 32}, 3), k = random_f32({40, 2, 32}, 4), v = random_f32({40, 2, 32}, 5);
  Tensor g = random_f32({40, 999}, 6), u = random_f32({40, 999}, 7);
  AttnParams p{0.2f, 0, 9, 0.0f};
  auto run = [&] {
    return std::vector<Tensor>{linear(x1, w), linear(x1, w.to(DType::BF16)), attention(q, k, v, p),
                               gated_act(g, u, Activation::SiLU), rmsnorm(g, random_f32({999}, 8), 1e-5f, false)};
  };
  std::vector<Tensor> many = run();
  set_num_threads(1);
  std::vector<Tensor> one = run();
  set_num_threads(0);
  for (size_t i = 0; i < many.size(); ++i) EXPECT_EQ(count_bit_diffs(many[i], one[i]), 0) << "kernel " << i;
}
