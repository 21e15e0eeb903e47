// Adapter init (PEFT's kaiming_uniform_(a=√5) bound, B zero, seeded determinism), save/load round trips in
// PEFT's key layout, loading the adapters real PEFT 0.21 wrote, and load errors that name the key.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "models/safetensors.h"
#include "tests/lora/test_adapter_util.h"

using namespace slm;
using namespace slm::test;

namespace {

LoraConfig config_for(const std::string& targets, int64_t r = 8, double alpha = 16) {
  LoraConfig c;
  c.r = r;
  c.lora_alpha = alpha;
  c.target_modules = lora_targets_from_cli(targets);
  return c;
}

bool bit_equal(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.contiguous().raw(), b.contiguous().raw(), a.nbytes()) == 0;
}

// An adapter directory with the given tensors and config text.
std::string write_adapter(const std::string& tag, const NamedTensors& tensors, const std::string& config) {
  const std::string dir = temp_dir(tag);
  safetensors_write(dir + "/adapter_model.safetensors", tensors, {{"format", "pt"}});
  write_file(dir + "/adapter_config.json", config);
  return dir;
}

const char* const kQvConfig = R"({"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": ["q_proj"]})";

// lora_A / lora_B of both layers' q_proj for the llama fixture (C = 64, H*D = 64), rank 2.
NamedTensors llama_q_tensors(const std::string& infix = "") {
  NamedTensors t;
  for (int l = 0; l < 2; ++l) {
    const std::string m = "base_model.model.model.layers." + std::to_string(l) + ".self_attn.q_proj";
    t.push_back({m + ".lora_A" + infix + ".weight", random_tensor({2, 64}, 10 + l)});
    t.push_back({m + ".lora_B" + infix + ".weight", random_tensor({64, 2}, 20 + l)});
  }
  return t;
}

}  // namespace

TEST(AdapterInit, KaimingUniformAandZeroB) {
  const auto table = table_of(model_fixture("llama"));
  const LoraAdapter a = adapter_init(config_for("", 8, 16), table, 1234);
  ASSERT_EQ(a.modules.size(), 14u);
  for (const auto& [module, m] : a.modules) {
    const TensorSpec* spec = nullptr;
    for (const auto& s : table)
      if (s.name == module + ".weight") spec = &s;
    ASSERT_NE(spec, nullptr) << module;
    const int64_t N = spec->shape[0], K = spec->shape[1];
    EXPECT_EQ(m.A.shape(), (Shape{8, K})) << module;
    EXPECT_EQ(m.B.shape(), (Shape{N, 8})) << module;
    EXPECT_EQ(m.r, 8);
    EXPECT_EQ(m.scaling, 2.0);
    for (float v : m.B.to_f32_vector()) ASSERT_EQ(v, 0.0f) << module;
    // kaiming_uniform_(a=sqrt(5)): gain sqrt(2 / (1 + 5)), bound = sqrt(3) * gain / sqrt(fan_in) = 1 / sqrt(K).
    const double bound = 1.0 / std::sqrt(double(K));
    const std::vector<float> v = m.A.to_f32_vector();
    double sum = 0, sq = 0, mx = 0;
    for (float x : v) {
      ASSERT_LE(std::fabs(x), bound * (1 + 1e-6)) << module;
      sum += x, sq += double(x) * x, mx = std::max(mx, double(std::fabs(x)));
    }
    const double n = double(v.size()), mean = sum / n, var = sq / n - mean * mean;
    const double var_u = bound * bound / 3;  // variance of U(-b, b)
    EXPECT_LT(std::fabs(mean), 5 * std::sqrt(var_u / n)) << module;
    EXPECT_NEAR(var / var_u, 1.0, 0.15) << module;  // n >= 512 samples
    EXPECT_GT(mx, 0.95 * bound) << module;
  }
}

TEST(AdapterInit, DeterministicPerSeedAndIndependentOfOtherModules) {
  const auto table = table_of(model_fixture("qwen2"));
  const LoraAdapter a = adapter_init(config_for(""), table, 7), b = adapter_init(config_for(""), table, 7);
  const LoraAdapter c = adapter_init(config_for(""), table, 8);
  const LoraAdapter q = adapter_init(config_for("q_proj"), table, 7);
  for (const auto& [module, m] : a.modules) {
    EXPECT_TRUE(bit_equal(m.A, b.find(module)->A)) << module;
    EXPECT_FALSE(bit_equal(m.A, c.find(module)->A)) << module;
    if (const LoraModule* qm = q.find(module)) {
      EXPECT_TRUE(bit_equal(m.A, qm->A)) << module;
    }
  }
  EXPECT_FALSE(bit_equal(a.find("model.layers.0.self_attn.k_proj")->A.narrow(1, 0, 64),
                         a.find("model.layers.0.self_attn.q_proj")->A.narrow(1, 0, 64)));
}

TEST(AdapterInit, Bf16BaseRoundsAThroughBf16LikePeft) {
  const auto table = table_of(model_fixture("qwen2_bf16_sharded"));
  const LoraAdapter a = adapter_init(config_for("q_proj"), table, 3, DType::BF16);
  const LoraAdapter f = adapter_init(config_for("q_proj"), table, 3, DType::F32);
  for (const auto& [module, m] : a.modules) {
    EXPECT_EQ(m.A.dtype(), DType::F32);
    const std::vector<float> v = m.A.to_f32_vector(), w = f.find(module)->A.to_f32_vector();
    for (size_t i = 0; i < v.size(); ++i) ASSERT_EQ(v[i], round_bf16(w[i]));
  }
}

TEST(AdapterInit, RankAlphaPatternsAndUnsupportedInit) {
  LoraConfig c = config_for("q_proj,v_proj", 8, 16);
  c.rank_pattern = {{"v_proj", 2}};
  c.alpha_pattern = {{"model.layers.1.self_attn.q_proj", 4}};
  const LoraAdapter a = adapter_init(c, table_of(model_fixture("llama")), 1);
  EXPECT_EQ(a.find("model.layers.0.self_attn.v_proj")->A.size(0), 2);
  EXPECT_EQ(a.find("model.layers.0.self_attn.v_proj")->scaling, 8.0);
  EXPECT_EQ(a.find("model.layers.1.self_attn.q_proj")->scaling, 0.5);
  EXPECT_EQ(a.find("model.layers.0.self_attn.q_proj")->scaling, 2.0);
  c.init_lora_weights = "gaussian";
  expect_error([&] { adapter_init(c, table_of(model_fixture("llama")), 1); }, {"init_lora_weights", "gaussian"});
}

TEST(AdapterSaveLoad, RoundTripInPeftLayout) {
  const auto table = table_of(model_fixture("phi3"));
  LoraAdapter a = adapter_init(config_for(""), table, 5);
  uint32_t seed = 100;
  for (auto& [module, m] : a.modules) m.B = random_tensor(m.B.shape(), seed++, 0.05f);
  const std::string dir = temp_dir("roundtrip") + "/adapter";
  adapter_save(a, dir);
  adapter_save(a, dir);  // replacing an existing adapter works and leaves nothing behind
  EXPECT_EQ(std::distance(fs::directory_iterator(fs::path(dir).parent_path()), fs::directory_iterator{}), 1);

  const SafetensorsFile st = SafetensorsFile::open(dir + "/adapter_model.safetensors");
  EXPECT_EQ(st.metadata(), (std::map<std::string, std::string>{{"format", "pt"}}));
  EXPECT_EQ(st.entries().size(), 16u);
  EXPECT_TRUE(st.has("base_model.model.model.layers.0.self_attn.qkv_proj.lora_A.weight"));
  EXPECT_TRUE(st.has("base_model.model.model.layers.1.mlp.gate_up_proj.lora_B.weight"));
  for (const auto& e : st.entries()) EXPECT_EQ(e.dtype, DType::F32) << e.name;
  // all-linear is written as the resolved list, as PEFT does.
  const LoraConfig written = lora_config_load(dir);
  EXPECT_FALSE(written.target_modules.all_linear);
  EXPECT_EQ(written.target_modules.names.size(), 8u);

  const LoraAdapter b = adapter_load(dir, table);
  ASSERT_EQ(b.modules.size(), a.modules.size());
  for (const auto& [module, m] : a.modules) {
    const LoraModule* n = b.find(module);
    ASSERT_NE(n, nullptr) << module;
    EXPECT_TRUE(bit_equal(m.A, n->A)) << module;
    EXPECT_TRUE(bit_equal(m.B, n->B)) << module;
    EXPECT_EQ(m.scaling, n->scaling);
  }
  EXPECT_EQ(b.config.r, 8);
  EXPECT_EQ(b.config.lora_alpha, 16);
}

TEST(AdapterSaveLoad, LoadsEveryAdapterPeftWrote) {
  for (const char* c : {"llama", "llama3_scaled", "qwen2_qv_rslora", "qwen2_swa", "qwen3", "phi3", "phi3_longrope",
                        "gemma", "gemma2", "gemma3_text", "qwen2_bf16_merge"}) {
    const auto table = table_of(lora_fixture_base(c));
    const LoraAdapter a = adapter_load(lora_fixture(c) + "/adapter", table);
    // Per layer: q, v (qwen2_qv_rslora); qkv, o, gate_up, down (phi3); q, k, v, o, gate, up, down (the rest).
    const int64_t per_layer = std::string(c) == "qwen2_qv_rslora" ? 2 : std::string(c).rfind("phi3", 0) == 0 ? 4 : 7;
    const size_t expected = size_t(per_layer * load_config(lora_fixture_base(c)).num_hidden_layers);
    EXPECT_EQ(a.modules.size(), expected) << c;
    for (const auto& [module, m] : a.modules) {
      EXPECT_EQ(m.A.dtype(), DType::F32);
      EXPECT_EQ(m.A.size(0), a.config.r) << c << " " << module;
      EXPECT_DOUBLE_EQ(m.scaling, a.config.use_rslora ? a.config.lora_alpha / std::sqrt(double(m.r))
                                                      : a.config.lora_alpha / double(m.r));
    }
  }
}

TEST(AdapterSaveLoad, AcceptsAdapterNamesNoPrefixAndHalfPrecision) {
  const auto table = table_of(model_fixture("llama"));
  const LoraAdapter plain = adapter_load(write_adapter("plain", llama_q_tensors(), kQvConfig), table);
  const LoraAdapter named = adapter_load(write_adapter("named", llama_q_tensors(".default"), kQvConfig), table);
  NamedTensors bare = llama_q_tensors();
  for (auto& [name, t] : bare) name = name.substr(std::string("base_model.model.").size());
  const LoraAdapter unprefixed = adapter_load(write_adapter("bare", bare, kQvConfig), table);
  NamedTensors half = llama_q_tensors();
  for (auto& [name, t] : half) t = t.to(DType::BF16);
  const LoraAdapter bf16 = adapter_load(write_adapter("bf16", half, kQvConfig), table);
  for (const auto& [module, m] : plain.modules) {
    EXPECT_TRUE(bit_equal(m.A, named.find(module)->A));
    EXPECT_TRUE(bit_equal(m.B, unprefixed.find(module)->B));
    EXPECT_EQ(bf16.find(module)->A.dtype(), DType::F32);
    EXPECT_EQ(bf16.find(module)->A.to_f32_vector()[0], round_bf16(m.A.to_f32_vector()[0]));
  }
  EXPECT_EQ(plain.find("model.layers.0.self_attn.q_proj")->scaling, 2.0);
}

TEST(AdapterSaveLoad, MismatchesAreErrorsNamingTheKey) {
  const auto llama = table_of(model_fixture("llama"));
  const std::string key0 = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";
  // An adapter made for another base (phi3: fused qkv_proj) onto llama.
  expect_error(
      [&] { adapter_load(lora_fixture("phi3") + "/adapter", llama); },
      {"'base_model.model.model.layers.0.mlp.gate_up_proj.lora_A.weight'", "not a linear layer of this base model"});
  // Wrong K.
  NamedTensors t = llama_q_tensors();
  t[0].second = random_tensor({2, 32}, 1);
  expect_error([&] { adapter_load(write_adapter("bad_k", t, kQvConfig), llama); },
               {"'" + key0 + "'", "[2, 32]", "[r, 64]", "different base model"});
  // Rank disagrees with the config.
  expect_error(
      [&] {
        adapter_load(write_adapter("bad_r", llama_q_tensors(), R"({"r": 4, "target_modules": ["q_proj"]})"), llama);
      },
      {"'" + key0 + "'", "rank 2", "r = 4"});
  // Missing lora_B.
  t = llama_q_tensors();
  t.pop_back();
  expect_error([&] { adapter_load(write_adapter("no_b", t, kQvConfig), llama); },
               {"model.layers.1.self_attn.q_proj", "only lora_A"});
  // The config targets modules the file lacks, and the file holds modules the config does not target.
  expect_error(
      [&] {
        adapter_load(write_adapter("few", llama_q_tensors(), R"({"r": 2, "target_modules": ["q_proj", "v_proj"]})"),
                     llama);
      },
      {"targets 'model.layers.0.self_attn.v_proj'", "base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight"});
  expect_error(
      [&] {
        adapter_load(write_adapter("extra", llama_q_tensors(),
                                   R"({"r": 2, "target_modules": ["model.layers.0.self_attn.q_proj"]})"),
                     llama);
      },
      {"model.layers.1.self_attn.q_proj", "does not select"});
  // Tensors of unsupported features.
  t = llama_q_tensors();
  t.push_back({"base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector", random_tensor({64}, 3)});
  expect_error([&] { adapter_load(write_adapter("dora", t, kQvConfig), llama); }, {"lora_magnitude_vector", "DoRA"});
  t = llama_q_tensors();
  t.push_back({"base_model.model.lm_head.weight", random_tensor({4}, 3)});
  expect_error([&] { adapter_load(write_adapter("mts", t, kQvConfig), llama); }, {"'base_model.model.lm_head.weight'"});
  // Mixed adapter names.
  t = llama_q_tensors();
  t[3].first = "base_model.model.model.layers.1.self_attn.q_proj.lora_B.other.weight";
  expect_error([&] { adapter_load(write_adapter("mixed", t, kQvConfig), llama); }, {"'other'", "one adapter"});
  // Legacy .bin only.
  const std::string bin = temp_dir("bin");
  write_file(bin + "/adapter_config.json", kQvConfig);
  write_file(bin + "/adapter_model.bin", "x");
  expect_error([&] { adapter_load(bin, llama); },
               {"adapter_model.safetensors", "adapter_model.bin", "safe_serialization"});
}
