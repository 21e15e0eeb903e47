// config.json parsing: both forms, family defaults as transformers 5 sets them, and clear errors for
// anything slm does not implement.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "models/config.h"
#include "models/model.h"
#include "models/safetensors.h"
#include "tensor/error.h"

using namespace slm;
using json = nlohmann::json;

namespace {

json base(const std::string& type) {
  return {{"model_type", type},      {"vocab_size", 64},          {"hidden_size", 32},
          {"intermediate_size", 48}, {"num_hidden_layers", 4},    {"num_attention_heads", 4},
          {"num_key_value_heads", 2}, {"max_position_embeddings", 128}};
}

std::string error_of(const json& j) {
  try {
    parse_config(j.dump(), "test/config.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Config, UnknownModelTypeNamesIt) {
  std::string e = error_of(base("mamba"));
  EXPECT_NE(e.find("model_type"), std::string::npos) << e;
  EXPECT_NE(e.find("mamba"), std::string::npos) << e;
  EXPECT_NE(error_of(base("gemma3")).find("gemma3_text"), std::string::npos);
}

TEST(Config, UnknownFieldIsAnErrorNamingIt) {
  json j = base("llama");
  j["attn_temperature_tuning"] = true;
  std::string e = error_of(j);
  EXPECT_NE(e.find("attn_temperature_tuning"), std::string::npos) << e;
  setenv("SLM_ALLOW_UNKNOWN_CONFIG", "1", 1);
  ModelConfig c = parse_config(j.dump());
  unsetenv("SLM_ALLOW_UNKNOWN_CONFIG");
  ASSERT_EQ(c.notes.size(), 1u);
  EXPECT_NE(c.notes[0].find("attn_temperature_tuning"), std::string::npos);
}

TEST(Config, UnimplementedValuesAreErrors) {
  json j = base("llama");
  j["rope_scaling"] = {{"rope_type", "mrope"}, {"factor", 2.0}};
  EXPECT_NE(error_of(j).find("mrope"), std::string::npos);
  j = base("llama");
  j["hidden_act"] = "relu2";
  EXPECT_NE(error_of(j).find("relu2"), std::string::npos);
  j = base("gemma3_text");
  j["use_bidirectional_attention"] = true;
  EXPECT_NE(error_of(j).find("use_bidirectional_attention"), std::string::npos);
  j = base("qwen2");
  j["layer_types"] = {"full_attention", "chunked_attention", "full_attention", "full_attention"};
  EXPECT_NE(error_of(j).find("chunked_attention"), std::string::npos);
  j = base("llama");
  j["quantization_config"] = {{"quant_method", "gptq"}};
  EXPECT_NE(error_of(j).find("quantization_config"), std::string::npos);
}

TEST(Config, MalformedInputsGiveClearErrors) {
  EXPECT_THROW(parse_config("{not json"), Error);
  EXPECT_THROW(parse_config("[1,2]"), Error);
  json j = base("qwen2");
  j.erase("hidden_size");
  EXPECT_NE(error_of(j).find("hidden_size"), std::string::npos);
  j = base("qwen2");
  j["num_attention_heads"] = "four";
  EXPECT_NE(error_of(j).find("num_attention_heads"), std::string::npos);
  j = base("qwen2");
  j["num_key_value_heads"] = 3;
  EXPECT_NE(error_of(j).find("num_key_value_heads"), std::string::npos);
  j = base("llama");
  j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}};  // missing low/high freq factors
  EXPECT_NE(error_of(j).find("low_freq_factor"), std::string::npos);
  j = base("phi3");
  j["rope_scaling"] = {{"type", "longrope"}, {"short_factor", {1.0}}, {"long_factor", {1.0}}};
  EXPECT_NE(error_of(j).find("short_factor"), std::string::npos);
  // Rope dicts that are not objects (found by fuzz_config: json's type_error escaped instead of slm::Error).
  for (const char* family : {"llama", "gemma3_text"})
    for (const char* field : {"rope_parameters", "rope_scaling"}) {
      SCOPED_TRACE(std::string(family) + " " + field);
      j = base(family);
      j[field] = false;
      EXPECT_NE(error_of(j).find("must be an object"), std::string::npos);
    }
  j = base("gemma3_text");
  j["rope_parameters"] = {{"sliding_attention", 3}};
  EXPECT_NE(error_of(j).find("sliding_attention' must be an object"), std::string::npos);
}

TEST(Config, QwenSlidingWindowOnlyWhenEnabled) {
  json j = base("qwen2");
  j["sliding_window"] = 4096;
  j["use_sliding_window"] = false;
  j["max_window_layers"] = 2;
  ModelConfig c = parse_config(j.dump());
  EXPECT_EQ(c.sliding_window, 0);
  for (auto t : c.layer_types) EXPECT_EQ(t, LayerType::FullAttention);
  j["use_sliding_window"] = true;
  c = parse_config(j.dump());
  EXPECT_EQ(c.sliding_window, 4096);
  std::vector<LayerType> want = {LayerType::FullAttention, LayerType::FullAttention, LayerType::SlidingAttention,
                                 LayerType::SlidingAttention};
  EXPECT_EQ(c.layer_types, want);
  EXPECT_FALSE(c.attention_bias);  // qwen2 biases come from its tensor table, not this flag
}

TEST(Config, GemmaFamilyDefaults) {
  json j = base("gemma2");
  ModelConfig c = parse_config(j.dump());
  EXPECT_EQ(c.attn_logit_softcapping, 50.0f);  // Gemma2Config defaults
  EXPECT_EQ(c.final_logit_softcapping, 30.0f);
  EXPECT_EQ(c.layer_types[0], LayerType::SlidingAttention);
  EXPECT_EQ(c.layer_types[1], LayerType::FullAttention);
  EXPECT_TRUE(c.tie_word_embeddings);
  j["attn_logit_softcapping"] = nullptr;  // explicit null: no cap
  EXPECT_EQ(parse_config(j.dump()).attn_logit_softcapping, 0.0f);

  j = base("gemma3_text");
  j["num_hidden_layers"] = 6;
  j["rope_theta"] = 1000000.0;
  j["rope_local_base_freq"] = 10000.0;
  j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 8.0}};
  c = parse_config(j.dump());
  EXPECT_EQ(c.layer_types[5], LayerType::FullAttention);  // sliding_window_pattern 6
  EXPECT_EQ(c.layer_types[4], LayerType::SlidingAttention);
  EXPECT_EQ(c.rope_full.rope_type, "linear");
  EXPECT_EQ(c.rope_full.factor, 8.0);
  EXPECT_EQ(c.rope_full.rope_theta, 1000000.0);
  EXPECT_EQ(c.rope_sliding.rope_type, "default");
  EXPECT_EQ(c.rope_sliding.rope_theta, 10000.0);
  EXPECT_EQ(c.final_logit_softcapping, 0.0f);
}

TEST(Config, Phi3LegacyLongropeTakesTopLevelOriginalMax) {
  json j = base("phi3");
  j["hidden_size"] = 64;  // head_dim 16 -> 8 factors
  j["max_position_embeddings"] = 131072;
  j["original_max_position_embeddings"] = 4096;
  j["rope_scaling"] = {{"type", "su"}, {"short_factor", std::vector<double>(8, 1.0)},
                       {"long_factor", std::vector<double>(8, 2.0)}};
  ModelConfig c = parse_config(j.dump());
  EXPECT_EQ(c.rope_full.rope_type, "longrope");
  EXPECT_EQ(c.rope_full.original_max_position_embeddings, 4096);
  EXPECT_DOUBLE_EQ(c.rope_full.factor, 32.0);
  EXPECT_EQ(c.head_dim, 16);
}

// A checkpoint whose tensors disagree with its config is refused, naming the tensor.
class WeightsVsConfig : public ::testing::Test {
 protected:
  std::string dir = ::testing::TempDir() + "/slm_weights_vs_config";
  void write_model(const std::vector<std::pair<std::string, Tensor>>& tensors) {
    std::filesystem::create_directories(dir);
    std::filesystem::copy_file(std::string(SLM_FIXTURES) + "/models/llama/config.json", dir + "/config.json",
                               std::filesystem::copy_options::overwrite_existing);
    safetensors_write(dir + "/model.safetensors", tensors);
  }
  std::vector<std::pair<std::string, Tensor>> fixture_tensors() {
    SafetensorsFile f = SafetensorsFile::open(std::string(SLM_FIXTURES) + "/models/llama/model.safetensors");
    std::vector<std::pair<std::string, Tensor>> v;
    for (const auto& n : f.names()) v.push_back({n, f.get(n).clone()});
    return v;
  }
  std::string load_error() {
    try {
      load_model(dir);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
};

TEST_F(WeightsVsConfig, MissingExtraAndMisshapenTensors) {
  auto t = fixture_tensors();
  write_model(t);
  EXPECT_EQ(load_error(), "");
  auto missing = t;
  missing.erase(missing.begin());
  write_model(missing);
  EXPECT_NE(load_error().find(t.front().first), std::string::npos);
  auto extra = t;
  extra.push_back({"model.layers.0.self_attn.o_proj.bias", Tensor::zeros({64})});
  write_model(extra);
  EXPECT_NE(load_error().find("o_proj.bias"), std::string::npos);
  auto bad = t;
  for (auto& [n, x] : bad)
    if (n == "model.norm.weight") x = Tensor::zeros({63});
  write_model(bad);
  std::string e = load_error();
  EXPECT_NE(e.find("model.norm.weight"), std::string::npos) << e;
  EXPECT_NE(e.find("[63]"), std::string::npos) << e;
}

}  // namespace

namespace {

TEST(Config, HugeOrFractionalIntegersAreErrorsNotUndefinedBehaviour) {
  json j = base("llama");
  j["num_hidden_layers"] = 3e37;  // found by fuzz_config
  EXPECT_NE(error_of(j).find("num_hidden_layers"), std::string::npos);
  j["num_hidden_layers"] = 2.5;
  EXPECT_NE(error_of(j).find("num_hidden_layers"), std::string::npos);
  j["num_hidden_layers"] = 4.0;  // a float holding an integer is accepted
  EXPECT_EQ(parse_config(j.dump()).num_hidden_layers, 4);
}

}  // namespace

namespace {

TEST(Config, Phi4MiniHubFieldsAreAcceptedAndBiasFlagsChecked) {
  json j = base("phi3");
  j["hidden_size"] = 64;
  j["partial_rotary_factor"] = 0.75;
  j["full_attn_mod"] = 1;
  j["interpolate_factor"] = 1;
  j["lm_head_bias"] = false;
  j["mlp_bias"] = false;
  EXPECT_EQ(error_of(j), "");
  j["lm_head_bias"] = true;
  EXPECT_NE(error_of(j).find("lm_head_bias"), std::string::npos);
  j["lm_head_bias"] = false;
  j["mlp_bias"] = true;
  EXPECT_NE(error_of(j).find("mlp_bias"), std::string::npos);
}

}  // namespace

namespace {

TEST(LoadModel, RefusesAPlanThatDoesNotFitInMemory) {
  const std::string dir = std::string(SLM_FIXTURES) + "/models/qwen2_bf16_sharded";
  setenv("SLM_MEMORY_AVAILABLE", "100000", 1);  // bytes: f32 needs ~450 kB, bf16 mode ~3 kB
  std::string e;
  try {
    load_model(dir);  // f32 compute converts every bf16 weight
  } catch (const Error& x) {
    e = x.what();
  }
  EXPECT_NE(e.find("--compute bf16"), std::string::npos) << e;
  EXPECT_NO_THROW(load_model(dir, ComputeMode::BF16));  // matmul weights stay mapped; only norms convert
  unsetenv("SLM_MEMORY_AVAILABLE");
}

}  // namespace
