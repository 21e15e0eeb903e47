// PEFT reads what slm writes: adapters trained by `slm train` (tests/fixtures/lora/slm_trained, made by
// tools/ref/make_slm_trained_fixture.sh) were loaded on the device machine with PeftModel.from_pretrained
// (tools/ref/check_peft_loads_slm.py). Its recorded result must show PEFT reproducing slm's logits and merge,
// and slm's logits with the adapter, computed now, must still equal the logits PEFT computed then.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "lora/adapter.h"
#include "lora/lora_objective.h"
#include "models/model.h"
#include "models/safetensors.h"

using namespace slm;

namespace {

class PeftLoadsSlm : public ::testing::TestWithParam<std::string> {};

TEST_P(PeftLoadsSlm, PeftReproducesOurLogitsAndMerge) {
  const std::string dir = std::string(SLM_FIXTURES) + "/lora/slm_trained/" + GetParam();
  nlohmann::json r = nlohmann::json::parse(std::ifstream(dir + "/peft_result.json"));
  EXPECT_LE(r["max_abs_logit_diff"].get<double>(), 1e-5 * std::max(1.0, r["max_abs_logit"].get<double>()));
  EXPECT_EQ(r["max_abs_merged_weight_diff"].get<double>(), 0.0);  // slm merge == merge_and_unload, bit for bit

  std::unique_ptr<Model> m = load_model(std::string(SLM_FIXTURES) + "/models/" + r["base"].get<std::string>());
  LoraAdapter adapter = adapter_load(dir + "/adapter", m->tensor_table());
  EXPECT_EQ(int64_t(adapter.modules.size()), r["lora_modules"].get<int64_t>());  // PEFT adapted the same modules
  adapter_attach(*m, adapter);
  Tensor ids = SafetensorsFile::open(dir + "/slm_logits.safetensors").get("input_ids").contiguous();
  std::vector<int32_t> v(ids.data<int32_t>(), ids.data<int32_t>() + ids.numel());
  KVCache cache = m->make_cache(int64_t(v.size()));
  std::vector<float> ours = m->forward(v, cache).to_f32_vector();
  std::vector<float> peft = SafetensorsFile::open(dir + "/peft_logits.safetensors").get("logits").to_f32_vector();
  ASSERT_EQ(ours.size(), peft.size());
  double d = 0;
  for (size_t i = 0; i < ours.size(); ++i) d = std::max(d, double(std::abs(ours[i] - peft[i])));
  EXPECT_LE(d, 1e-5) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(Fixtures, PeftLoadsSlm, ::testing::Values("qwen2", "phi3"),
                         [](const auto& info) { return info.param; });

}  // namespace
