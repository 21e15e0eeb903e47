// The training memory plan (lora/memory_plan.h) against what a LoRA step really holds: the packed copies of the
// frozen weights oneDNN reads (tensor/ops.h FrozenWeights) — whole small weights, and pieces of the long ones
// (the head, an MLP wider than 2 · kLinearPiece) — are in the plan's weights at training lengths and not below.
#include <gtest/gtest.h>

#include "lora/lora_objective.h"
#include "lora/memory_plan.h"
#include "models/model.h"
#include "tensor/onednn_gemm.h"
#include "test_adapter_util.h"

using namespace slm;

namespace {

// One Llama layer whose weights fall on every side of the packing rules in bf16: q/k/v/o small (packed both
// ways), gate/up 9000 × 256 (4.6 MB: the forward reads it plain, the input gradient in packed 2048-row pieces),
// down 256 × 9000 (4.6 MB, one piece: plain both ways), an untied lm_head 5000 × 256 (2.6 MB: packed forward,
// packed pieces backward).
const char* kConfig = R"({
  "model_type": "llama", "hidden_size": 256, "intermediate_size": 9000, "num_hidden_layers": 1,
  "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 5000, "max_position_embeddings": 512,
  "rms_norm_eps": 1e-6, "tie_word_embeddings": false
})";

TEST(MemoryPlan, CountsThePackedCopiesATrainingStepMakes) {
  const ModelConfig cfg = parse_config(kConfig, "test config");
  for (ComputeMode mode : {ComputeMode::F32, ComputeMode::BF16}) {
    SCOPED_TRACE(mode == ComputeMode::BF16 ? "bf16" : "f32");
    const DType wdt = mode == ComputeMode::BF16 ? DType::BF16 : DType::F32;
    std::vector<TensorSpec> table = make_model(cfg, mode, {})->tensor_table();
    WeightMap weights;
    uint32_t seed = 1;
    for (const TensorSpec& s : table) {
      const bool mm = s.role == TensorRole::Linear || s.role == TensorRole::Embedding || s.role == TensorRole::LmHead;
      weights[s.name] = s.role == TensorRole::Norm
                            ? Tensor::from_f32(std::vector<float>(size_t(shape_numel(s.shape)), 1.0f), s.shape)
                            : test::random_tensor(s.shape, seed++, 0.05f).to(mm ? wdt : DType::F32);
    }
    std::unique_ptr<Model> model = make_model(cfg, mode, weights);
    LoraConfig lc;
    lc.r = 8;
    lc.lora_alpha = 16;
    lc.target_modules.all_linear = true;
    LoraAdapter adapter = adapter_init(lc, table, 3, wdt);
    int64_t lora_params = 0;
    for (const auto& [name, m] : adapter.modules) lora_params += m.A.numel() + m.B.numel();

    // The shortest length whose counted rows (all but the last: shifted labels) reach kRuntimeMBelow, so the head
    // packs too (the head runs on counted rows only).
    const int64_t T = 129;
    const size_t before = detail::frozen_packed_bytes();
    size_t packed = 0;
    {
      LoraObjective objective(*model, adapter);
      Batch b;
      for (int64_t t = 0; t < T; ++t) {
        b.ids.push_back(int32_t((t * 37 + 5) % cfg.vocab_size));
        b.positions.push_back(int32_t(t));
        b.segments.push_back(0);
      }
      b.labels = shifted_labels(b.ids, 0);
      objective.forward_backward(b, 1.0f / float(b.counted_tokens()), 1);
      packed = detail::frozen_packed_bytes() - before;
    }
    EXPECT_EQ(detail::frozen_packed_bytes(), before);  // the copies go with the objective
    const uint64_t planned = plan_training_memory(cfg, mode, T, lora_params, lc.r, false).weights -
                             plan_training_memory(cfg, mode, 64, lora_params, lc.r, false).weights;
    EXPECT_GT(packed, 0u);
    // The plan counts plain bytes (oneDNN's blocked layouts pad a little) and every layer's q/k/v input gradient
    // (layer 0 needs none: nothing below it trains), so it may sit slightly above or below.
    EXPECT_GE(double(packed), 0.9 * double(planned));
    EXPECT_LE(double(packed), 1.25 * double(planned));
  }
}

}  // namespace
