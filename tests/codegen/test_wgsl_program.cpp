// The dispatch program (codegen/wgsl_program.h): every step names a planned kernel, binds each of its
// bindings exactly once (to a declared buffer or an MLC parameter the export writes), gives every uniform
// field a value, and the decode has the documented dispatches per layer. Whether the program computes the
// model is tests/web/test_model_gpu.mjs (the GPU against native slm, per family).
#include <gtest/gtest.h>

#include <set>

#include "codegen/mlc_layout.h"
#include "codegen/wgsl_emit.h"
#include "codegen_test_util.h"

namespace slm::codegen {
namespace {

using json = nlohmann::ordered_json;
using testing_codegen::fixture_config;

void check_program(const std::string& family, quant::Scheme scheme, size_t per_layer_decode) {
  SCOPED_TRACE(family);
  const ModelConfig c = fixture_config(family);
  const WgslKernelSet set = emit_wgsl_kernels(c, scheme);
  const json& m = set.manifest;
  const json& prog = m["program"];
  std::map<std::string, json> kernels;
  for (const json& k : m["kernels"]) kernels[k["name"]] = k;
  std::set<std::string> buffers, params;
  for (const json& b : prog["buffers"]) EXPECT_TRUE(buffers.insert(b["name"].get<std::string>()).second) << b["name"];
  for (const MlcSource& s : mlc_layout(c, scheme).sources)
    for (const std::string& n : quant::mlc_param_names(scheme, s.mlc_name.substr(0, s.mlc_name.rfind(".weight")))) params.insert(n);
  for (const MlcSource& s : mlc_layout(c, scheme).sources) params.insert(s.mlc_name);

  auto check_step = [&](const json& st) {
    ASSERT_TRUE(kernels.count(st["kernel"])) << st["kernel"];
    const json& k = kernels[st["kernel"]];
    EXPECT_EQ(st["bind"].size(), k["bindings"].size()) << st["kernel"];
    for (const json& b : k["bindings"]) {
      ASSERT_TRUE(st["bind"].contains(b["name"])) << st["kernel"] << "." << b["name"];
      const json& src = st["bind"][b["name"].get<std::string>()];
      if (src.contains("buffer")) {
        EXPECT_TRUE(buffers.count(src["buffer"])) << src;
      } else {
        EXPECT_TRUE(params.count(src["param"])) << st["kernel"] << " binds " << src["param"] << ", which the export does not write";
      }
    }
    if (!k["uniform"].is_null() && k["template"] != "sample.wgsl") {  // the runtime packs the sampling uniform
      for (const json& f : k["uniform"]["fields"]) {
        EXPECT_TRUE(st["uniform"].contains(f["name"])) << st["kernel"] << "." << f["name"];
      }
    }
  };
  for (const char* part : {"prefill", "decode"})
    for (const json& st : prog[part]) check_step(st);
  check_step(prog["greedy"]);
  // The sampling stages: prep, 4 top-k rounds, exp, 4 top-p rounds, sums, pick — all on one parts buffer.
  ASSERT_EQ(prog["sample"].size(), 20u);
  EXPECT_EQ(prog["sample"].front()["kernel"], "sample_prep");
  EXPECT_EQ(prog["sample"].back()["kernel"], "sample_pick");
  int topk = 0, topp = 0;
  for (const json& st : prog["sample"]) {
    check_step(st);
    EXPECT_EQ(st["bind"]["parts"]["buffer"], "sample_parts");
    const std::string k = st["kernel"], when = st.value("when", "");
    EXPECT_EQ(when, k.rfind("sample_topk_", 0) == 0 ? "top_k" : k.rfind("sample_topp_", 0) == 0 ? "top_p" : "") << k;
    topk += when == "top_k";
    topp += when == "top_p";
  }
  EXPECT_EQ(topk, 8);
  EXPECT_EQ(topp, 8);
  // embed + per layer + lm_head.
  EXPECT_EQ(prog["decode"].size(), 2 + per_layer_decode * size_t(c.num_hidden_layers));
  EXPECT_EQ(prog["context_window"], c.max_position_embeddings);
  // Each layer's cache is written and read by its own kernels (rope_kv and attention in prefill, the split
  // attention in decode).
  for (const json& st : prog["decode"]) {
    if (st.contains("layer") && st["bind"].contains("k_cache")) {
      EXPECT_EQ(st["bind"]["k_cache"]["buffer"], "k_cache." + std::to_string(st["layer"].get<int64_t>()));
    }
  }
}

TEST(WgslProgram, StepsBindEveryBindingToABufferOrAnExportedParameter) {
  // gemv_qkv, attention split (rope folded in) + merge, gemv_o, gemv_gate_up, gemv_down.
  check_program("qwen2", quant::Scheme::Q4F32_1, 6);
  check_program("llama", quant::Scheme::Q4F16_1, 6);
  check_program("phi3", quant::Scheme::Q4F32_1, 6);
  check_program("gemma2", quant::Scheme::Q4F32_1, 8);        // post-attention and post-feed-forward norms
  check_program("gemma3_text", quant::Scheme::Q4F32_1, 10);  // + separate q, k, v GEMVs
}

TEST(WgslProgram, LongropeHasTwoRangesAndRecomputesAtTheSwitch) {
  const ModelConfig c = fixture_config("phi3_longrope");
  const json prog = emit_wgsl_kernels(c, quant::Scheme::Q4F32_1).manifest["program"];
  ASSERT_EQ(prog["rope_tables"].size(), 1u);
  const json& ranges = prog["rope_tables"][0]["ranges"];
  ASSERT_EQ(ranges.size(), 2u);
  EXPECT_EQ(prog["recompute_at"], c.rope_full.original_max_position_embeddings);
  EXPECT_NE(ranges[0]["inv_freq"], ranges[1]["inv_freq"]);  // short vs long factors
  // Default rope: one range, the table filled by the runtime (exact cos/sin), unless Inline is asked for.
  const json q = emit_wgsl_kernels(fixture_config("qwen2"), quant::Scheme::Q4F32_1).manifest["program"];
  ASSERT_EQ(q["rope_tables"].size(), 1u);
  EXPECT_EQ(q["rope_tables"][0]["ranges"].size(), 1u);
  EXPECT_EQ(q["recompute_at"], 0);
  WgslOptions inline_rope;
  inline_rope.rope = WgslRope::Inline;
  EXPECT_TRUE(emit_wgsl_kernels(fixture_config("qwen2"), quant::Scheme::Q4F32_1, inline_rope).manifest["program"]["rope_tables"].empty());
}

}  // namespace
}  // namespace slm::codegen
