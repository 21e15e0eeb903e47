// Full-parameter training (lora/full_objective.h, used by slm pretrain) vs transformers: loss and the gradient of
// every weight of tiny real-architecture models (tests/fixtures/full_grad, tools/ref/make_full_grad_fixtures.py).
// Covers embedding (incl. the tied head), every norm (Gemma-2's 1 + w sandwich norms, Qwen3's q/k norms),
// biases and fused projections. Bounds as for LoRA: loss 1e-4, gradients 2e-3 relative (max |Δ| / max |ref|).
#include <gtest/gtest.h>

#include "lora/full_objective.h"
#include "lora/lora_objective.h"
#include "models/model.h"
#include "models/safetensors.h"

using namespace slm;

namespace {

class FullGrad : public ::testing::TestWithParam<std::string> {};

TEST_P(FullGrad, LossAndEveryWeightGradientMatchTransformers) {
  const std::string dir = std::string(SLM_FIXTURES) + "/models/" + GetParam();
  SafetensorsFile ref = SafetensorsFile::open(std::string(SLM_FIXTURES) + "/full_grad/" + GetParam() + ".safetensors");
  ModelConfig cfg = load_config(dir);
  Checkpoint ck = Checkpoint::open(dir);
  WeightMap weights;
  for (const TensorSpec& s : make_model(cfg, ComputeMode::F32, {})->tensor_table()) weights[s.name] = ck.get(s.name).to(DType::F32);
  std::unique_ptr<Model> model = make_model(cfg, ComputeMode::F32, weights);
  FullObjective obj(*model, weights);
  Tensor ids_t = ref.get("input_ids").contiguous();
  Batch b;
  b.ids.assign(ids_t.data<int32_t>(), ids_t.data<int32_t>() + ids_t.numel());
  b.labels = shifted_labels(b.ids, 0);
  b.segments.assign(b.ids.size(), 0);
  for (size_t t = 0; t < b.ids.size(); ++t) b.positions.push_back(int32_t(t));
  CrossEntropy ce = obj.forward_backward(b, 1.0f / float(b.counted_tokens()), 0);
  EXPECT_NEAR(ce.loss_sum / double(ce.count), ref.get("loss").item_f32({0}), 1e-4);
  size_t n = 0;
  double worst = 0;
  for (const NamedParam& p : obj.params()) {
    ASSERT_TRUE(ref.has("grad." + p.name)) << p.name;
    std::vector<float> a = p.grad.to_f32_vector(), r = ref.get("grad." + p.name).to_f32_vector();
    double d = 0, m = 1e-12;
    for (size_t i = 0; i < a.size(); ++i) d = std::max(d, double(std::abs(a[i] - r[i]))), m = std::max(m, double(std::abs(r[i])));
    EXPECT_LE(d / m, 2e-3) << p.name;
    worst = std::max(worst, d / m);
    ++n;
  }
  size_t ref_grads = 0;
  for (const auto& name : ref.names()) ref_grads += name.rfind("grad.", 0) == 0;
  EXPECT_EQ(n, ref_grads);
  std::printf("[ %s ] %zu weight gradients, worst rel %.2e\n", GetParam().c_str(), n, worst);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FullGrad, ::testing::Values("qwen2", "qwen3", "phi3", "gemma2", "llama3_scaled"),
                         [](const auto& info) { return info.param; });

}  // namespace
