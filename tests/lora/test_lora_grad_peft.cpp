// LoRA loss and gradients vs real PEFT 0.21 (tests/fixtures/lora/<case>/, tools/ref/make_lora_fixtures.py):
// the adapter PEFT wrote is loaded by adapter_load, attached to the base model, and one sequence with
// masked labels runs forward + backward through the model's own code path (LoraObjective).
// Bounds from the issue: loss within 1e-4, every gradient within 2e-3 relative (max |Δ| / max |ref|).
// ComputeMode::BF16 (bf16 weights and GEMM inputs, bf16 attention products on AMX, f32 accumulation and f32 LoRA
// weights) against the same f32 PEFT references, with documented looser bounds: loss within 1e-3 relative, every
// gradient within 6e-2 relative. Measured 2026-11-27 over the ten cases: loss ≤ 2.0e-4, gradients ≤ 4.4e-2 with the
// AMX attention (≤ 3.2e-2 with f32 attention in the same mode: the bf16 weights dominate either way).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "lora/adapter.h"
#include "lora/lora_objective.h"
#include "models/model.h"
#include "models/safetensors.h"

using namespace slm;

namespace {

const std::vector<std::string> kGradCases = {"llama", "llama3_scaled", "qwen2_qv_rslora", "qwen2_swa", "qwen3",
                                             "phi3",  "phi3_longrope", "gemma",           "gemma2",    "gemma3_text"};

std::string lora_dir(const std::string& c) { return std::string(SLM_FIXTURES) + "/lora/" + c; }

std::string base_of(const std::string& c) {
  std::ifstream f(lora_dir(c) + "/base.txt");
  std::string base;
  f >> base;
  return std::string(SLM_FIXTURES) + "/models/" + base;
}

std::vector<int32_t> ints(const Tensor& t) {
  Tensor c = t.contiguous();
  return std::vector<int32_t>(c.data<int32_t>(), c.data<int32_t>() + c.numel());
}

// max |a - b| / max(max |b|, tiny)
double rel_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  std::vector<float> x = a.to_f32_vector(), y = b.to_f32_vector();
  double d = 0, m = 1e-12;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
    d = std::max(d, std::abs(double(x[i]) - double(y[i])));
    m = std::max(m, std::abs(double(y[i])));
  }
  return d / m;
}

// The fixture's one sequence as a batch, positions before mask_before ignored.
Batch one_sequence(const std::vector<int32_t>& ids, int64_t mask_before) {
  Batch b;
  b.ids = ids;
  b.labels = shifted_labels(b.ids, mask_before);
  b.segments.assign(b.ids.size(), 0);
  for (size_t t = 0; t < b.ids.size(); ++t) b.positions.push_back(int32_t(t));
  return b;
}

class LoraGradPeft : public ::testing::TestWithParam<std::string> {};

TEST_P(LoraGradPeft, LossAndEveryGradientMatchPeft) {
  const std::string c = GetParam();
  SafetensorsFile ref = SafetensorsFile::open(lora_dir(c) + "/reference.safetensors");
  std::unique_ptr<Model> model = load_model(base_of(c));
  LoraAdapter adapter = adapter_load(lora_dir(c) + "/adapter", model->tensor_table());
  LoraObjective obj(*model, adapter);
  const Batch b = one_sequence(ints(ref.get("input_ids")), ints(ref.get("mask_before"))[0]);
  const int64_t n = b.counted_tokens();
  CrossEntropy ce = obj.forward_backward(b, 1.0f / float(n), 0);
  const double loss = ce.loss_sum / double(ce.count);
  const double ref_loss = ref.get("loss").item_f32({0});
  EXPECT_NEAR(loss, ref_loss, 1e-4) << c;

  size_t checked = 0;
  double worst = 0;
  std::string worst_name;
  for (const NamedParam& p : obj.params()) {
    ASSERT_TRUE(ref.has("grad." + p.name)) << c << ": PEFT has no parameter " << p.name;
    const double r = rel_diff(p.grad, ref.get("grad." + p.name));
    if (r > worst) worst = r, worst_name = p.name;
    EXPECT_LE(r, 2e-3) << c << " " << p.name;
    ++checked;
  }
  size_t ref_grads = 0;
  for (const auto& name : ref.names()) ref_grads += name.rfind("grad.", 0) == 0;
  EXPECT_EQ(checked, ref_grads) << c << ": every PEFT parameter has a gradient here";
  std::printf("[ %s ] loss %.7f vs PEFT %.7f; %zu grads, worst rel %.2e (%s)\n", c.c_str(), loss, ref_loss, checked,
              worst, worst_name.c_str());
}

TEST_P(LoraGradPeft, Bf16ComputeStaysNearPeft) {
  const std::string c = GetParam();
  SafetensorsFile ref = SafetensorsFile::open(lora_dir(c) + "/reference.safetensors");
  std::unique_ptr<Model> model = load_model(base_of(c), ComputeMode::BF16);
  LoraAdapter adapter = adapter_load(lora_dir(c) + "/adapter", model->tensor_table());
  LoraObjective obj(*model, adapter);
  const Batch b = one_sequence(ints(ref.get("input_ids")), ints(ref.get("mask_before"))[0]);
  CrossEntropy ce = obj.forward_backward(b, 1.0f / float(b.counted_tokens()), 0);
  const double loss = ce.loss_sum / double(ce.count), ref_loss = ref.get("loss").item_f32({0});
  EXPECT_NEAR(loss, ref_loss, 1e-3 * std::abs(ref_loss)) << c;
  double worst = 0;
  std::string worst_name;
  for (const NamedParam& p : obj.params()) {
    const double r = rel_diff(p.grad, ref.get("grad." + p.name));
    if (r > worst) worst = r, worst_name = p.name;
    EXPECT_LE(r, 6e-2) << c << " " << p.name;
  }
  std::printf("[ %s bf16 ] loss %.6f vs PEFT %.6f (rel %.1e); worst grad rel %.2e (%s)\n", c.c_str(), loss, ref_loss,
              std::abs(loss - ref_loss) / std::abs(ref_loss), worst, worst_name.c_str());
}

TEST_P(LoraGradPeft, AdaptedLogitsMatchPeft) {
  const std::string c = GetParam();
  SafetensorsFile ref = SafetensorsFile::open(lora_dir(c) + "/reference.safetensors");
  std::unique_ptr<Model> model = load_model(base_of(c));
  LoraAdapter adapter = adapter_load(lora_dir(c) + "/adapter", model->tensor_table());
  LoraObjective obj(*model, adapter);  // attaches the adapter; inference goes through the same proj()
  std::vector<int32_t> ids = ints(ref.get("input_ids"));
  KVCache cache = model->make_cache(int64_t(ids.size()));
  Tensor logits = model->forward(ids, cache);
  EXPECT_LE(rel_diff(logits, ref.get("logits")), 1e-5) << c;
}

TEST_P(LoraGradPeft, GradCheckpointGivesTheSameGradients) {
  const std::string c = GetParam();
  SafetensorsFile ref = SafetensorsFile::open(lora_dir(c) + "/reference.safetensors");
  std::unique_ptr<Model> model = load_model(base_of(c));
  LoraAdapter a1 = adapter_load(lora_dir(c) + "/adapter", model->tensor_table());
  LoraAdapter a2 = adapter_load(lora_dir(c) + "/adapter", model->tensor_table());
  a1.config.lora_dropout = a2.config.lora_dropout = 0.25;  // masks must be reproduced by the recompute
  const Batch b = one_sequence(ints(ref.get("input_ids")), 3);
  std::vector<std::vector<float>> plain, recomputed;
  {
    LoraObjective obj(*model, a1, false);
    obj.forward_backward(b, 0.1f, 7);
    for (auto& p : obj.params()) plain.push_back(p.grad.to_f32_vector());
  }
  {
    LoraObjective obj(*model, a2, true);
    obj.forward_backward(b, 0.1f, 7);
    for (auto& p : obj.params()) recomputed.push_back(p.grad.to_f32_vector());
  }
  ASSERT_EQ(plain.size(), recomputed.size());
  for (size_t i = 0; i < plain.size(); ++i) EXPECT_EQ(plain[i], recomputed[i]) << c << " param " << i;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, LoraGradPeft, ::testing::ValuesIn(kGradCases),
                         [](const auto& info) { return info.param; });

}  // namespace
