// slm's merge vs real PEFT 0.21 merge_and_unload() (tests/fixtures/lora/<case>/, made by
// tools/ref/make_lora_fixtures.py): the adapter PEFT wrote is merged into the base by adapter_merge and
// every tensor is compared with PEFT's merged/ checkpoint — f32 within 1e-6 relative (max |Δ| / max |W'|
// per tensor), bf16 bit for bit — and the merged model's logits with PEFT's merged_logits (f32 cases).
#include <gtest/gtest.h>

#include <cmath>

#include "lora/merge.h"
#include "models/model.h"
#include "models/safetensors.h"
#include "tests/lora/test_adapter_util.h"

using namespace slm;
using namespace slm::test;

namespace {

const std::vector<std::string> kCases = {"llama",  "llama3_scaled", "qwen2_qv_rslora", "qwen2_swa",
                                         "qwen3",  "phi3",          "phi3_longrope",   "gemma",
                                         "gemma2", "gemma3_text",   "qwen2_bf16_merge"};

struct Diff {
  double max_abs = 0, max_ref = 0;
  int64_t bit_mismatches = 0;
};

Diff compare(const Tensor& ours, const Tensor& ref) {
  Diff d;
  const std::vector<float> a = ours.to_f32_vector(), b = ref.to_f32_vector();
  for (size_t i = 0; i < a.size(); ++i) {
    d.max_abs = std::max(d.max_abs, std::fabs(double(a[i]) - double(b[i])));
    d.max_ref = std::max(d.max_ref, std::fabs(double(b[i])));
    d.bit_mismatches += a[i] != b[i];
  }
  return d;
}

class MergeGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(MergeGolden, EveryTensorMatchesPeftMergeAndUnload) {
  const std::string c = GetParam();
  const std::string out = temp_dir("golden_" + c) + "/merged";
  const MergeSummary s = adapter_merge(lora_fixture_base(c), lora_fixture(c) + "/adapter", out);
  const Checkpoint ours = Checkpoint::open(out), peft = Checkpoint::open(lora_fixture(c) + "/merged");
  ASSERT_EQ(ours.names(), peft.names()) << c;
  double worst = 0;
  int64_t mismatches = 0;
  for (const std::string& name : peft.names()) {
    const Tensor a = ours.get(name), b = peft.get(name);
    ASSERT_EQ(a.dtype(), b.dtype()) << name;
    ASSERT_EQ(a.shape(), b.shape()) << name;
    const Diff d = compare(a, b);
    const double rel = d.max_abs / std::max(d.max_ref, 1e-30);
    worst = std::max(worst, rel);
    mismatches += d.bit_mismatches;
    if (a.dtype() == DType::F32)
      EXPECT_LE(rel, 1e-6) << c << " " << name;
    else
      EXPECT_EQ(d.bit_mismatches, 0) << c << " " << name << " max |Δ| " << d.max_abs;
  }
  std::printf("[%s] %lld modules, %s: worst max|Δ|/max|W'| = %.3g, %lld elements differ in some bit\n", c.c_str(),
              (long long)s.modules_merged, std::string(dtype_name(s.dtype)).c_str(), worst, (long long)mismatches);
}

TEST_P(MergeGolden, MergedLogitsMatchPeft) {
  const std::string c = GetParam();
  if (c == "qwen2_bf16_merge") GTEST_SKIP() << "PEFT's merged logits of the bf16 case come from a bf16 forward";
  const std::string out = temp_dir("golden_logits_" + c) + "/merged";
  adapter_merge(lora_fixture_base(c), lora_fixture(c) + "/adapter", out);
  const SafetensorsFile ref = SafetensorsFile::open(lora_fixture(c) + "/reference.safetensors");
  const Tensor ids_t = ref.get("input_ids").contiguous();
  const std::vector<int32_t> ids(ids_t.data<int32_t>(), ids_t.data<int32_t>() + ids_t.numel());
  std::unique_ptr<Model> m = load_model(out);
  KVCache cache = m->make_cache(int64_t(ids.size()));
  const Diff d = compare(m->forward(ids, cache), ref.get("merged_logits"));
  const double tol = 1e-3 * std::max(1.0, d.max_ref);  // as the forward golden tests (tests/models)
  std::printf("[%s] merged logits: max|Δ| = %.3g (max|logit| %.3f, tolerance %.3g)\n", c.c_str(), d.max_abs, d.max_ref,
              tol);
  EXPECT_LE(d.max_abs, tol);
}

INSTANTIATE_TEST_SUITE_P(Peft, MergeGolden, ::testing::ValuesIn(kCases), [](const auto& info) { return info.param; });

}  // namespace
