// MLC parameter layouts per family, checked against tables written by hand from MLC's model and loader
// files (mlc-ai/mlc-llm @ 79d603f python/mlc_llm/model/<family>/*.py; the same table is docs/mlc_params.md).
// Fixture configs: C=64, F=128, V=320 (tests/fixtures/models/<family>/config.json).
#include <gtest/gtest.h>

#include <functional>
#include <map>

#include "codegen/mlc_layout.h"
#include "tests/codegen/codegen_test_util.h"

using namespace slm;
using namespace slm::codegen;
using slm::testing_codegen::fixture;
using slm::testing_codegen::fixture_config;

namespace {

// One MLC module weight: "W" = nn.Linear/nn.Embedding weight (quantised under q4), "V" = a vector kept in
// the model dtype (norm, bias).
struct Expect {
  std::string name;  // without .weight/.bias suffix for W; full name for V
  Shape shape;
  char kind;  // 'W' or 'V'
};

struct FamilyExpect {
  std::string family;
  int64_t layers;
  std::vector<Expect> globals;  // outside the layers
  std::vector<Expect> layer0;   // "{L}" replaced by the layer prefix
  std::string layer_prefix;     // "model.layers.0."
};

// Written from the MLC model files: parameter names are the nn.Module attribute paths.
const std::vector<FamilyExpect>& expectations() {
  static const std::vector<FamilyExpect> e = {
      {"llama",
       2,  // llama_model.py: qkv_proj (H+2Hkv)*D = (4+4)*16, gate_up_proj 2F, untied lm_head
       {{"model.embed_tokens", {320, 64}, 'W'}, {"model.norm.weight", {64}, 'V'}, {"lm_head", {320, 64}, 'W'}},
       {{"input_layernorm.weight", {64}, 'V'},
        {"self_attn.qkv_proj", {128, 64}, 'W'},
        {"self_attn.o_proj", {64, 64}, 'W'},
        {"post_attention_layernorm.weight", {64}, 'V'},
        {"mlp.gate_up_proj", {256, 64}, 'W'},
        {"mlp.down_proj", {64, 128}, 'W'}},
       "model.layers.0."},
      {"qwen2",
       2,  // qwen2_model.py: c_attn with bias=True, tied (no lm_head)
       {{"model.embed_tokens", {320, 64}, 'W'}, {"model.norm.weight", {64}, 'V'}},
       {{"input_layernorm.weight", {64}, 'V'},
        {"self_attn.c_attn", {128, 64}, 'W'},
        {"self_attn.c_attn.bias", {128}, 'V'},
        {"self_attn.o_proj", {64, 64}, 'W'},
        {"post_attention_layernorm.weight", {64}, 'V'},
        {"mlp.gate_up_proj", {256, 64}, 'W'},
        {"mlp.down_proj", {64, 128}, 'W'}},
       "model.layers.0."},
      {"qwen3",
       2,  // qwen3_model.py: c_attn (4+4)*32 rows, q_norm/k_norm over head_dim 32, untied
       {{"model.embed_tokens", {320, 64}, 'W'}, {"model.norm.weight", {64}, 'V'}, {"lm_head", {320, 64}, 'W'}},
       {{"input_layernorm.weight", {64}, 'V'},
        {"self_attn.c_attn", {256, 64}, 'W'},
        {"self_attn.o_proj", {64, 128}, 'W'},
        {"self_attn.q_norm.weight", {32}, 'V'},
        {"self_attn.k_norm.weight", {32}, 'V'},
        {"post_attention_layernorm.weight", {64}, 'V'},
        {"mlp.gate_up_proj", {256, 64}, 'W'},
        {"mlp.down_proj", {64, 128}, 'W'}},
       "model.layers.0."},
      {"phi3",
       2,  // phi3_model.py: transformer.embd / transformer.h.N.{ln, mixer.qkv_proj, mixer.out_proj, …}
       {{"transformer.embd", {320, 64}, 'W'}, {"transformer.norm.weight", {64}, 'V'}, {"lm_head", {320, 64}, 'W'}},
       {{"ln.weight", {64}, 'V'},
        {"mixer.qkv_proj", {128, 64}, 'W'},
        {"mixer.out_proj", {64, 64}, 'W'},
        {"post_attention_layernorm.weight", {64}, 'V'},
        {"mlp.gate_up_proj", {256, 64}, 'W'},
        {"mlp.down_proj", {64, 128}, 'W'}},
       "transformer.h.0."},
      {"gemma",
       2,  // gemma_model.py: qkv_proj (4+2*1)*32, always tied
       {{"model.embed_tokens", {320, 64}, 'W'}, {"model.norm.weight", {64}, 'V'}},
       {{"input_layernorm.weight", {64}, 'V'},
        {"self_attn.qkv_proj", {192, 64}, 'W'},
        {"self_attn.o_proj", {64, 128}, 'W'},
        {"post_attention_layernorm.weight", {64}, 'V'},
        {"mlp.gate_up_proj", {256, 64}, 'W'},
        {"mlp.down_proj", {64, 128}, 'W'}},
       "model.layers.0."},
      {"gemma2",
       4,  // gemma2_model.py: four norms per layer
       {{"model.embed_tokens", {320, 64}, 'W'}, {"model.norm.weight", {64}, 'V'}},
       {{"input_layernorm.weight", {64}, 'V'},
        {"post_attention_layernorm.weight", {64}, 'V'},
        {"pre_feedforward_layernorm.weight", {64}, 'V'},
        {"post_feedforward_layernorm.weight", {64}, 'V'},
        {"self_attn.qkv_proj", {256, 64}, 'W'},
        {"self_attn.o_proj", {64, 128}, 'W'},
        {"mlp.gate_up_proj", {256, 64}, 'W'},
        {"mlp.down_proj", {64, 128}, 'W'}},
       "model.layers.0."},
      {"gemma3_text",
       6,  // gemma3_model.py: language_model.model.*, q/k/v apart, q_norm/k_norm
       {{"language_model.model.embed_tokens", {320, 64}, 'W'}, {"language_model.model.norm.weight", {64}, 'V'}},
       {{"input_layernorm.weight", {64}, 'V'},
        {"post_attention_layernorm.weight", {64}, 'V'},
        {"pre_feedforward_layernorm.weight", {64}, 'V'},
        {"post_feedforward_layernorm.weight", {64}, 'V'},
        {"self_attn.q_proj", {128, 64}, 'W'},
        {"self_attn.k_proj", {64, 64}, 'W'},
        {"self_attn.v_proj", {64, 64}, 'W'},
        {"self_attn.o_proj", {64, 128}, 'W'},
        {"self_attn.q_norm.weight", {32}, 'V'},
        {"self_attn.k_norm.weight", {32}, 'V'},
        {"mlp.gate_up_proj", {256, 64}, 'W'},
        {"mlp.down_proj", {64, 128}, 'W'}},
       "language_model.model.layers.0."},
  };
  return e;
}

// name -> (shape, dtype) of the stored tensors MLC writes for `e` under `scheme` (group_quantization.py:
// q_weight (N, ceil(K/32)*4) uint32, q_scale (N, ceil(K/32)) model dtype; q0: .weight in the model dtype).
std::map<std::string, std::pair<Shape, std::string>> expected_params(const FamilyExpect& fe, quant::Scheme scheme) {
  const bool q4 = scheme == quant::Scheme::Q4F16_1 || scheme == quant::Scheme::Q4F32_1;
  const std::string md = scheme == quant::Scheme::Q4F16_1 || scheme == quant::Scheme::Q0F16 ? "float16" : "float32";
  std::map<std::string, std::pair<Shape, std::string>> out;
  auto add = [&](const std::string& prefix, const Expect& x) {
    const std::string n = prefix + x.name;
    if (x.kind == 'V') {
      out[n] = {x.shape, md};
    } else if (q4) {
      const int64_t groups = (x.shape[1] + 31) / 32;
      out[n + ".q_weight"] = {{x.shape[0], groups * 4}, "uint32"};
      out[n + ".q_scale"] = {{x.shape[0], groups}, md};
    } else {
      out[n + ".weight"] = {x.shape, md};
    }
  };
  for (const auto& g : fe.globals) add("", g);
  for (const auto& l : fe.layer0) add(fe.layer_prefix, l);
  return out;
}

class Layout : public ::testing::TestWithParam<std::string> {};

TEST_P(Layout, NamesShapesDtypesMatchMlcForEveryScheme) {
  const FamilyExpect* fe = nullptr;
  for (const auto& e : expectations())
    if (e.family == GetParam()) fe = &e;
  ASSERT_NE(fe, nullptr);
  const ModelConfig cfg = fixture_config(fe->family);
  for (quant::Scheme s : {quant::Scheme::Q4F16_1, quant::Scheme::Q4F32_1, quant::Scheme::Q0F16, quant::Scheme::Q0F32}) {
    const MlcLayout L = mlc_layout(cfg, s);
    const auto want = expected_params(*fe, s);
    std::map<std::string, std::pair<Shape, std::string>> got_l0;
    size_t per_layer = 0, globals = 0;
    for (const auto& p : L.params) {
      const bool in_layer = p.name.find(".layers.") != std::string::npos || p.name.rfind("transformer.h.", 0) == 0;
      if (!in_layer) ++globals;
      if (p.name.rfind(fe->layer_prefix, 0) == 0) ++per_layer;
      if (!in_layer || p.name.rfind(fe->layer_prefix, 0) == 0) got_l0[p.name] = {p.shape, p.dtype};
    }
    EXPECT_EQ(got_l0, want) << fe->family << " " << quant::scheme_info(s).name;
    EXPECT_EQ(L.params.size(), globals + per_layer * size_t(fe->layers)) << fe->family;
  }
}

INSTANTIATE_TEST_SUITE_P(Families, Layout,
                         ::testing::Values("llama", "qwen2", "qwen3", "phi3", "gemma", "gemma2", "gemma3_text"));

// The fused tensors' parts, in concatenation order (standard_loader.py: concatenate([q, k, v], axis=0),
// concatenate([gate, up], axis=0)).
TEST(Layout, FusedPartsAreConcatenatedQKVAndGateUpInOrder) {
  const MlcLayout L = mlc_layout(fixture_config("qwen2"), quant::Scheme::Q4F16_1);
  std::map<std::string, const MlcSource*> by;
  for (const auto& s : L.sources) by[s.mlc_name] = &s;
  const MlcSource* qkv = by.at("model.layers.1.self_attn.c_attn.weight");
  EXPECT_EQ(qkv->hf_names, (std::vector<std::string>{"model.layers.1.self_attn.q_proj.weight",
                                                     "model.layers.1.self_attn.k_proj.weight",
                                                     "model.layers.1.self_attn.v_proj.weight"}));
  EXPECT_EQ(qkv->hf_rows, (std::vector<int64_t>{64, 32, 32}));
  const MlcSource* bias = by.at("model.layers.1.self_attn.c_attn.bias");
  EXPECT_EQ(bias->hf_names[0], "model.layers.1.self_attn.q_proj.bias");
  EXPECT_FALSE(bias->quantised);
  const MlcSource* gu = by.at("model.layers.0.mlp.gate_up_proj.weight");
  EXPECT_EQ(gu->hf_names,
            (std::vector<std::string>{"model.layers.0.mlp.gate_proj.weight", "model.layers.0.mlp.up_proj.weight"}));
  EXPECT_TRUE(gu->quantised);
}

// gemma*_loader.py add_one: every RMSNorm weight (gemma3 also q_norm/k_norm) is stored as x + 1; other
// families' norms (qwen3's q_norm too) are copied.
TEST(Layout, GemmaNormsAreStoredPlusOneOthersCopied) {
  for (const char* fam : {"gemma", "gemma2", "gemma3_text", "qwen3", "llama"}) {
    const MlcLayout L = mlc_layout(fixture_config(fam), quant::Scheme::Q0F32);
    const bool gemma = std::string(fam).rfind("gemma", 0) == 0;
    int norms = 0;
    for (const auto& s : L.sources) {
      if (s.role != TensorRole::Norm) {
        EXPECT_NE(s.transform, MlcTransform::AddOne) << s.mlc_name;
        continue;
      }
      ++norms;
      EXPECT_EQ(s.transform == MlcTransform::AddOne, gemma) << fam << " " << s.mlc_name;
    }
    EXPECT_GT(norms, 0) << fam;
  }
}

ModelConfig edited(const std::string& fam, const std::function<void(nlohmann::json&)>& edit) {
  nlohmann::json j = nlohmann::json::parse(slm::testing_codegen::read_text(fixture(fam) + "/config.json"));
  edit(j);
  return parse_config(j.dump(), fam + " (edited)");
}

TEST(Layout, ModelsMlcCannotRepresentAreRefusedNamingTheTensor) {
  auto expect_error = [](const ModelConfig& c, const std::string& needle) {
    try {
      mlc_layout(c, quant::Scheme::Q4F16_1);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error(edited("llama", [](auto& j) { j["attention_bias"] = true; }), "self_attn.q_proj.bias");
  expect_error(edited("llama", [](auto& j) { j["mlp_bias"] = true; }), "mlp_bias");
  expect_error(edited("gemma", [](auto& j) { j["attention_bias"] = true; }), "gemma");
  expect_error(edited("gemma3_text", [](auto& j) { j["tie_word_embeddings"] = false; }), "lm_head.weight");
}

TEST(Layout, Qwen3AttentionBiasFusesQkvBiasAndKeepsOProjBias) {
  const MlcLayout L = mlc_layout(edited("qwen3", [](auto& j) { j["attention_bias"] = true; }), quant::Scheme::Q4F16_1);
  ASSERT_NE(L.find("model.layers.0.self_attn.c_attn.bias"), nullptr);
  EXPECT_EQ(L.find("model.layers.0.self_attn.c_attn.bias")->shape, (Shape{256}));
  EXPECT_NE(L.find("model.layers.0.self_attn.o_proj.bias"), nullptr);  // qwen3_model.py: o_proj bias=attention_bias
}

// huggingface_loader.py _loading_order over safe_open(...).keys(), which are sorted: each MLC parameter is
// emitted at the first HF tensor it uses. qwen2 (tied), sorted HF names per layer: input_layernorm,
// mlp.down_proj, mlp.gate_proj (-> gate_up), mlp.up_proj, post_attention_layernorm, self_attn.k_proj.bias
// (-> c_attn.bias), k_proj.weight (-> c_attn.weight), o_proj, q_*, v_*.
TEST(Layout, LoadingOrderFollowsMlcForASingleFileCheckpoint) {
  const MlcLayout L = mlc_layout(fixture_config("qwen2"), quant::Scheme::Q4F16_1);
  std::vector<std::string> got;
  for (size_t i : mlc_loading_order(L, hf_file_order(fixture("qwen2")))) got.push_back(L.sources[i].mlc_name);
  std::vector<std::string> want = {"model.embed_tokens.weight"};
  for (int l = 0; l < 2; ++l)
    for (const char* n : {"input_layernorm.weight", "mlp.down_proj.weight", "mlp.gate_up_proj.weight",
                          "post_attention_layernorm.weight", "self_attn.c_attn.bias", "self_attn.c_attn.weight",
                          "self_attn.o_proj.weight"})
      want.push_back("model.layers." + std::to_string(l) + "." + n);
  want.push_back("model.norm.weight");
  EXPECT_EQ(got, want);
}

// For model.safetensors.index.json the loader walks weight_map in file order, grouped by shard file.
TEST(Layout, HfFileOrderGroupsTheIndexByFileInWeightMapOrder) {
  const std::vector<std::string> order = hf_file_order(fixture("qwen2_bf16_sharded"));
  nlohmann::ordered_json idx = nlohmann::ordered_json::parse(
      slm::testing_codegen::read_text(fixture("qwen2_bf16_sharded") + "/model.safetensors.index.json"));
  ASSERT_EQ(order.size(), idx["weight_map"].size());
  // Its first entry is lm_head.weight (in model-00006); every other tensor of that file follows it directly.
  EXPECT_EQ(order[0], idx["weight_map"].begin().key());
  const std::string first_file = idx["weight_map"].begin().value();
  size_t n_first = 0;
  for (auto it = idx["weight_map"].begin(); it != idx["weight_map"].end(); ++it) n_first += it.value() == first_file;
  for (size_t i = 0; i < n_first; ++i) EXPECT_EQ(idx["weight_map"][order[i]], first_file) << order[i];
}

}  // namespace
