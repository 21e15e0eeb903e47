// Export verification (codegen/export_verify.h): the memory plan that picks f32 or bf16 compute (or refuses),
// and verify_export in both modes on a tiny real-architecture fixture. Weight errors are measured on the exact
// dequantised values whatever the mode, so they must equal an independent dequantize_ref(quantize_ref(w)) - w;
// q0f32 must reproduce the model (max |dlogit| <= 1e-3) in bf16 compute too.
#include <gtest/gtest.h>

#include <cmath>

#include "codegen/export_load.h"
#include "codegen/export_verify.h"
#include "codegen/export_weights.h"
#include "models/safetensors.h"
#include "quant/group_quant.h"
#include "tests/codegen/codegen_test_util.h"

using namespace slm;
using namespace slm::codegen;
using slm::testing_codegen::fixture;
using slm::testing_codegen::fixture_config;
using slm::testing_codegen::fresh_dir;

namespace {

// Qwen/Qwen2.5-0.5B-Instruct's config.json.
const char* kQwen25_05B = R"({
  "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "bos_token_id": 151643, "eos_token_id": 151645,
  "hidden_act": "silu", "hidden_size": 896, "intermediate_size": 4864, "max_position_embeddings": 32768,
  "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2, "rms_norm_eps": 1e-06,
  "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
  "use_sliding_window": false, "vocab_size": 151936
})";

TEST(VerifyPlan, TwoResidentCopiesDecideTheModeAndTheRefusal) {
  const ModelConfig c = parse_config(kQwen25_05B, "test config");
  uint64_t f32 = 0, bf16 = 0;  // the resident bytes of one model, from the tensor table
  for (const TensorSpec& s : make_model(c, ComputeMode::F32, {})->tensor_table()) {
    const uint64_t n = uint64_t(shape_numel(s.shape));
    const bool mm = s.role == TensorRole::Linear || s.role == TensorRole::LmHead || s.role == TensorRole::Embedding;
    f32 += 4 * n;
    bf16 += (mm ? 2 : 4) * n;
  }
  EXPECT_EQ(f32, 4u * 494032768u);  // Qwen2.5-0.5B's parameter count, tied embedding counted once
  const auto q = quant::Scheme::Q4F16_1;
  const uint64_t need_f32 = verify_memory_bytes(c, q, ComputeMode::F32, 48);
  const uint64_t need_bf16 = verify_memory_bytes(c, q, ComputeMode::BF16, 48);
  EXPECT_GE(need_f32, 2 * f32);
  EXPECT_LE(need_f32, 2 * f32 + (uint64_t(1) << 30));  // the transients stay well under a model copy
  EXPECT_GE(need_bf16, 2 * bf16);
  EXPECT_LT(need_bf16, need_f32 - f32 / 2);
  EXPECT_EQ(verify_memory_bytes(c, q, ComputeMode::F32, 48, 1), need_f32 - f32);  // --quant auto without verify

  EXPECT_EQ(plan_verification(c, q, 48, 0).mode, ComputeMode::F32);  // unknown: f32
  EXPECT_EQ(plan_verification(c, q, 48, need_f32).mode, ComputeMode::F32);
  const VerifyPlan mid = plan_verification(c, q, 48, need_f32 - 1);
  EXPECT_TRUE(mid.fits);
  EXPECT_EQ(mid.mode, ComputeMode::BF16);
  EXPECT_NE(mid.describe().find("bf16"), std::string::npos) << mid.describe();
  const VerifyPlan none = plan_verification(c, q, 48, need_bf16 - 1);
  EXPECT_FALSE(none.fits);
  EXPECT_NE(none.describe().find("even with bf16"), std::string::npos) << none.describe();
}

std::string export_fixture(const std::string& c, quant::Scheme s) {
  const std::string dir = fresh_dir("verify_" + c + "_" + quant::scheme_info(s).name);
  ExportOptions opt;
  opt.scheme = s;
  export_weights(fixture(c), fixture_config(c), dir, opt);
  slm::testing_codegen::write_min_chat_config(dir, fixture(c), quant::scheme_info(s).name);
  return dir;
}

// max |dequantize_ref(quantize_ref(w)) - w| of an HF weight, computed without the export.
double direct_error(const std::string& c, const std::string& name, quant::Scheme s) {
  const Tensor w = Checkpoint::open(fixture(c)).get(name).contiguous();
  const Tensor d = quant::dequantize_ref(quant::quantize_ref(w, s));
  const Tensor wf = w.to(DType::F32);
  double m = 0;
  for (int64_t i = 0; i < wf.numel(); ++i)
    m = std::max(m, std::abs(double(wf.data<float>()[i]) - double(d.data<float>()[i])));
  return m;
}

TEST(VerifyExport, Bf16ComputeKeepsExactWeightErrorsAndTheQ0F32Bound) {
  const std::string c = "qwen2";
  const auto prompts = verify_prompts(fixture(c), fixture_config(c).vocab_size);
  for (quant::Scheme s : {quant::Scheme::Q0F32, quant::Scheme::Q4F16_1}) {
    SCOPED_TRACE(quant::scheme_info(s).name);
    const std::string dir = export_fixture(c, s);
    std::vector<VerifyReport> reports;
    for (ComputeMode mode : {ComputeMode::F32, ComputeMode::BF16}) {
      auto original = load_model(fixture(c), mode);
      reports.push_back(verify_export(fixture(c), dir, *original, prompts));
      EXPECT_EQ(reports.back().mode, mode);
      EXPECT_EQ(verify_failure(reports.back(), s), "");
      EXPECT_GT(reports.back().compare.positions, 0);
    }
    const VerifyReport &f32 = reports[0], &bf16 = reports[1];
    ASSERT_EQ(f32.weight_errors.size(), bf16.weight_errors.size());
    ASSERT_FALSE(f32.weight_errors.empty());
    int checked = 0;
    for (size_t i = 0; i < f32.weight_errors.size(); ++i) {
      const WeightError &a = f32.weight_errors[i], &b = bf16.weight_errors[i];
      EXPECT_EQ(a.name, b.name);
      EXPECT_EQ(a.max_abs, b.max_abs) << a.name;
      EXPECT_EQ(a.mean_abs, b.mean_abs) << a.name;
      const bool q4_linear = s == quant::Scheme::Q4F16_1 && a.name.find("proj.weight") != std::string::npos;
      if (s == quant::Scheme::Q0F32) {
        EXPECT_EQ(a.max_abs, 0.0) << a.name;
      }
      if (q4_linear) {
        EXPECT_EQ(a.max_abs, direct_error(c, a.name, s)) << a.name;  // fused parts included
        ++checked;
      }
    }
    EXPECT_GE(checked, s == quant::Scheme::Q4F16_1 ? 7 : 0);  // q, k, v, o, gate, up, down of every layer
    if (s == quant::Scheme::Q0F32) {
      EXPECT_LE(f32.compare.max_abs_logit_diff, 1e-5);
      EXPECT_LE(bf16.compare.max_abs_logit_diff, 1e-3);  // both sides round the same weights the same way
    }
  }
}

}  // namespace
