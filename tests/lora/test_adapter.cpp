// LoraConfig (adapter_config.json) and target resolution: round trips, the files real PEFT 0.21 wrote
// (tests/fixtures/lora/*/adapter/), a PEFT-0.10-style file written by hand, unsupported fields, and
// target_modules semantics of PEFT's check_target_module_exists on the tiny llama / qwen2 / phi3 fixtures.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "tests/lora/test_adapter_util.h"

using namespace slm;
using namespace slm::test;

namespace {

std::vector<std::string> resolve(const std::string& model, const LoraTargets& t, bool strict = true,
                                 const LoraTargets& exclude = {}) {
  LoraConfig c;
  c.target_modules = t;
  c.exclude_modules = exclude;
  return lora_resolve_targets(c, table_of(model_fixture(model)), strict);
}

LoraTargets names(std::vector<std::string> n) {
  LoraTargets t;
  t.names = std::move(n);
  return t;
}

LoraTargets regex(const std::string& r) {
  LoraTargets t;
  t.is_regex = true;
  t.regex = r;
  return t;
}

// A typical adapter_config.json of PEFT 0.10–0.12 (before exclude_modules, lora_bias, peft_version).
const char* const kPeft010Config = R"({
  "alpha_pattern": {},
  "auto_mapping": null,
  "base_model_name_or_path": "Qwen/Qwen2.5-0.5B-Instruct",
  "bias": "none",
  "fan_in_fan_out": false,
  "inference_mode": true,
  "init_lora_weights": true,
  "layer_replication": null,
  "layers_pattern": null,
  "layers_to_transform": null,
  "loftq_config": {},
  "lora_alpha": 32,
  "lora_dropout": 0.05,
  "megatron_config": null,
  "megatron_core": "megatron.core",
  "modules_to_save": null,
  "peft_type": "LORA",
  "r": 16,
  "rank_pattern": {},
  "revision": null,
  "target_modules": ["v_proj", "q_proj", "o_proj", "k_proj"],
  "task_type": "CAUSAL_LM",
  "use_dora": false,
  "use_rslora": false
})";

}  // namespace

TEST(LoraConfig, RoundTripKeepsEveryField) {
  LoraConfig c;
  c.r = 16;
  c.lora_alpha = 32;
  c.lora_dropout = 0.05;
  c.use_rslora = true;
  c.target_modules = names({"q_proj", "v_proj", "self_attn.o_proj"});
  c.exclude_modules = regex(".*\\.1\\..*");
  c.rank_pattern = {{"v_proj", 4}, {"model.layers.0.self_attn.q_proj", 2}};
  c.alpha_pattern = {{"q_proj", 7.5}};
  c.base_model_name_or_path = "Qwen/Qwen2.5-0.5B";
  c.revision = "main";
  const std::string text = lora_config_json(c);
  const LoraConfig d = lora_config_parse(text);
  EXPECT_EQ(d.r, 16);
  EXPECT_EQ(d.lora_alpha, 32);
  EXPECT_EQ(d.lora_dropout, 0.05);
  EXPECT_TRUE(d.use_rslora);
  EXPECT_EQ(d.target_modules.names, c.target_modules.names);
  EXPECT_TRUE(d.exclude_modules.is_regex);
  EXPECT_EQ(d.exclude_modules.regex, c.exclude_modules.regex);
  // PEFT writes json.dumps(sort_keys=True), which sorts nested dicts too: rank_pattern comes back sorted.
  EXPECT_EQ(d.rank_pattern,
            (std::vector<std::pair<std::string, int64_t>>{{"model.layers.0.self_attn.q_proj", 2}, {"v_proj", 4}}));
  EXPECT_EQ(d.alpha_pattern, c.alpha_pattern);
  EXPECT_EQ(d.base_model_name_or_path, c.base_model_name_or_path);
  EXPECT_EQ(d.revision, "main");
  EXPECT_EQ(lora_config_json(d), text);  // a fixed point
}

TEST(LoraConfig, WrittenJsonIsWhatPeftLoads) {
  LoraConfig c;
  c.target_modules = names({"q_proj"});
  c.lora_alpha = 16;
  const std::string text = lora_config_json(c);
  const nlohmann::json j = nlohmann::json::parse(text);
  EXPECT_EQ(j.at("peft_type"), "LORA");  // PeftConfig.from_pretrained dispatches on it
  EXPECT_EQ(j.at("task_type"), "CAUSAL_LM");
  EXPECT_EQ(j.at("bias"), "none");
  EXPECT_EQ(j.at("use_dora"), false);
  EXPECT_EQ(j.at("fan_in_fan_out"), false);
  EXPECT_EQ(j.at("init_lora_weights"), true);
  EXPECT_EQ(j.at("inference_mode"), true);
  EXPECT_TRUE(j.at("lora_alpha").is_number_integer());  // 16, not 16.0: the annotation is int
  EXPECT_EQ(j.at("target_modules"), nlohmann::json::array({"q_proj"}));
  EXPECT_TRUE(j.at("modules_to_save").is_null());
  // json.dumps(indent=2, sort_keys=True): two-space indent, keys in order.
  EXPECT_EQ(text.rfind("{\n  \"alpha_pattern\": {},\n  \"auto_mapping\": null,", 0), 0u) << text;
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  size_t last = 0;
  for (const auto& k : keys) {
    const size_t at = text.find("\n  \"" + k + "\":");
    ASSERT_NE(at, std::string::npos) << k;
    EXPECT_GT(at, last) << "key order: " << k;
    last = at;
  }
}

TEST(LoraConfig, ReadsTheFilesPeft021Wrote) {
  struct Case {
    const char* name;
    int64_t r;
    double alpha;
    bool rslora;
  };
  for (const Case& k : {Case{"llama", 4, 8, false}, Case{"llama3_scaled", 4, 16, false},
                        Case{"qwen2_qv_rslora", 8, 8, true}, Case{"phi3", 4, 8, false}, Case{"gemma2", 4, 8, false}}) {
    const LoraConfig c = lora_config_load(lora_fixture(k.name) + "/adapter");
    EXPECT_EQ(c.r, k.r) << k.name;
    EXPECT_EQ(c.lora_alpha, k.alpha) << k.name;
    EXPECT_EQ(c.use_rslora, k.rslora) << k.name;
    EXPECT_EQ(c.lora_dropout, 0.0) << k.name;
    EXPECT_EQ(c.init_lora_weights, "true") << k.name;
    EXPECT_EQ(c.task_type, "CAUSAL_LM") << k.name;
    EXPECT_EQ(c.peft_version, "0.21.0") << k.name;
    EXPECT_FALSE(c.target_modules.all_linear || c.target_modules.is_regex) << k.name;
  }
  const LoraConfig qv = lora_config_load(lora_fixture("qwen2_qv_rslora") + "/adapter");
  EXPECT_EQ(std::set<std::string>(qv.target_modules.names.begin(), qv.target_modules.names.end()),
            (std::set<std::string>{"q_proj", "v_proj"}));
  EXPECT_EQ(qv.base_model_name_or_path, "tests/fixtures/models/qwen2");
}

TEST(LoraConfig, ReadsAPeft010StyleFile) {
  const LoraConfig c = lora_config_parse(kPeft010Config);
  EXPECT_EQ(c.r, 16);
  EXPECT_EQ(c.lora_alpha, 32);
  EXPECT_DOUBLE_EQ(c.lora_dropout, 0.05);
  EXPECT_EQ(c.target_modules.names, (std::vector<std::string>{"v_proj", "q_proj", "o_proj", "k_proj"}));
  EXPECT_TRUE(c.peft_version.empty());
  EXPECT_TRUE(c.rank_pattern.empty());
  EXPECT_DOUBLE_EQ(lora_scaling(c, 16, 32), 2.0);
}

TEST(LoraConfig, OptionalFieldsTakePeftDefaults) {
  const LoraConfig c = lora_config_parse(R"({"peft_type": "LORA", "target_modules": "all-linear"})");
  EXPECT_EQ(c.r, 8);  // LoraConfig defaults: r=8, lora_alpha=8, dropout 0
  EXPECT_EQ(c.lora_alpha, 8);
  EXPECT_EQ(c.lora_dropout, 0);
  EXPECT_TRUE(c.target_modules.all_linear);
  EXPECT_TRUE(lora_config_parse(R"({"target_modules": "ALL-LINEAR"})").target_modules.all_linear);
  const LoraConfig f =
      lora_config_parse(R"({"target_modules": ".*q_proj", "lora_alpha": 12.5, "init_lora_weights": "gaussian"})");
  EXPECT_TRUE(f.target_modules.is_regex);
  EXPECT_EQ(f.lora_alpha, 12.5);
  EXPECT_EQ(f.init_lora_weights, "gaussian");
}

TEST(LoraConfig, FeaturesThatChangeTheMathAreErrorsNamingTheField) {
  const std::string base = R"("peft_type": "LORA", "r": 4, "target_modules": ["q_proj"])";
  auto parse = [&](const std::string& extra) { return [=] { lora_config_parse("{" + base + ", " + extra + "}"); }; };
  expect_error(parse(R"("use_dora": true)"), {"'use_dora'", "DoRA"});
  expect_error(parse(R"("bias": "all")"), {"'bias'", "\"all\""});
  expect_error(parse(R"("bias": "lora_only")"), {"'bias'"});
  expect_error(parse(R"("fan_in_fan_out": true)"), {"'fan_in_fan_out'"});
  expect_error(parse(R"("layers_to_transform": [0, 1])"), {"'layers_to_transform'"});
  expect_error(parse(R"("layers_pattern": "layers")"), {"'layers_pattern'"});
  expect_error(parse(R"("modules_to_save": ["lm_head"])"), {"'modules_to_save'"});
  expect_error(parse(R"("lora_bias": true)"), {"'lora_bias'"});
  expect_error(parse(R"("layer_replication": [[0, 2]])"), {"'layer_replication'"});
  expect_error(parse(R"("alora_invocation_tokens": [5, 6])"), {"'alora_invocation_tokens'"});
  expect_error(parse(R"("init_lora_weights": "pissa_niter_4")"),
               {"'init_lora_weights'", "pissa_niter_4", "path_initial_model_for_weight_conversion"});
  expect_error(parse(R"("init_lora_weights": "olora")"), {"'init_lora_weights'"});
  expect_error(parse(R"("task_type": "SEQ_CLS")"), {"task_type", "SEQ_CLS"});
  expect_error(parse(R"("rank_pattern": {"q_proj": 2.5})"), {"rank_pattern", "q_proj", "integer"});
  expect_error([] { lora_config_parse(R"({"peft_type": "IA3", "target_modules": ["q"]})"); }, {"peft_type", "IA3"});
  expect_error([] { lora_config_parse(R"({"peft_type": "LORA", "target_modules": null})"); }, {"target_modules"});
  expect_error([] { lora_config_parse(R"({"r": 0, "target_modules": ["q_proj"]})"); }, {"'r'", "positive"});
  expect_error([] { lora_config_parse(R"({"r": 4.5, "target_modules": ["q_proj"]})"); }, {"'r'", "integer"});
  expect_error([] { lora_config_parse("{\"r\": 4,", "my/adapter_config.json"); }, {"my/adapter_config.json", "JSON"});
  expect_error([] { lora_config_load("/nonexistent/adapter"); }, {"/nonexistent/adapter/adapter_config.json"});
  // Defaults written explicitly are fine (PEFT writes every field).
  EXPECT_NO_THROW(parse(R"("use_dora": false, "bias": "none", "layers_to_transform": null, "modules_to_save": [],
                           "target_parameters": null, "lora_bias": false, "megatron_core": "megatron.core")")());
}

TEST(LoraTargetsCli, ParsesNamesAndDefault) {
  EXPECT_TRUE(lora_targets_from_cli("").all_linear);
  EXPECT_TRUE(lora_targets_from_cli("all-linear").all_linear);
  EXPECT_EQ(lora_targets_from_cli("q_proj,k_proj,q_proj").names, (std::vector<std::string>{"q_proj", "k_proj"}));
  expect_error([] { lora_targets_from_cli("q_proj,,v_proj"); }, {"--targets", "empty"});
}

TEST(LoraTargets, AllLinearIsEveryLinearLayerButLmHead) {
  const auto llama = resolve("llama", lora_targets_from_cli(""));
  ASSERT_EQ(llama.size(), 14u);  // 2 layers x (q, k, v, o, gate, up, down); lm_head (untied) excluded
  EXPECT_EQ(llama.front(), "model.layers.0.self_attn.q_proj");
  EXPECT_EQ(llama.back(), "model.layers.1.mlp.down_proj");
  for (const auto& m : llama) EXPECT_EQ(m.find("lm_head"), std::string::npos);
  EXPECT_EQ(resolve("qwen2", lora_targets_from_cli("")).size(), 14u);  // tied embeddings
  const auto phi3 = resolve("phi3", lora_targets_from_cli(""));
  EXPECT_EQ(phi3, (std::vector<std::string>{"model.layers.0.self_attn.qkv_proj", "model.layers.0.self_attn.o_proj",
                                            "model.layers.0.mlp.gate_up_proj", "model.layers.0.mlp.down_proj",
                                            "model.layers.1.self_attn.qkv_proj", "model.layers.1.self_attn.o_proj",
                                            "model.layers.1.mlp.gate_up_proj", "model.layers.1.mlp.down_proj"}));
}

TEST(LoraTargets, ListNamesMatchTheLastComponentsLikePeft) {
  EXPECT_EQ(resolve("qwen2", names({"q_proj", "v_proj"})),
            (std::vector<std::string>{"model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj",
                                      "model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj"}));
  EXPECT_EQ(resolve("phi3", names({"qkv_proj", "gate_up_proj"})).size(), 4u);
  // A dotted suffix and a full module name (PEFT 0.21 writes full names for all-linear).
  EXPECT_EQ(resolve("llama", names({"mlp.down_proj"})).size(), 2u);
  EXPECT_EQ(resolve("llama", names({"model.layers.1.self_attn.o_proj"})),
            (std::vector<std::string>{"model.layers.1.self_attn.o_proj"}));
  // "proj" is not a component of "q_proj": no partial-name matches.
  expect_error([] { resolve("llama", names({"proj"})); }, {"'proj'", "matches no linear layer", "q_proj"});
}

TEST(LoraTargets, RegexIsAFullMatch) {
  EXPECT_EQ(resolve("llama", regex(R"(.*\.0\.self_attn\.(q|v)_proj)")),
            (std::vector<std::string>{"model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj"}));
  // fullmatch: a pattern matching only a prefix of the name selects nothing.
  expect_error([] { resolve("llama", regex("model.layers.0")); }, {"matches no linear layer"});
  expect_error([] { resolve("llama", regex(".*")); }, {"not a linear layer"});  // embeddings and norms too
  expect_error([] { resolve("llama", regex("(")); }, {"target_modules", "does not compile"});
}

TEST(LoraTargets, ExcludeModules) {
  const auto r = resolve("llama", lora_targets_from_cli(""), true, names({"down_proj", "model.layers.0.mlp.up_proj"}));
  EXPECT_EQ(r.size(), 11u);
  for (const auto& m : r) EXPECT_EQ(m.find("down_proj"), std::string::npos);
  EXPECT_EQ(resolve("llama", names({"q_proj"}), true, regex(".*layers\\.1\\..*")).size(), 1u);
}

TEST(LoraTargets, UnknownNamesAreErrorsForNewAdaptersOnly) {
  // Phi-3 has fused projections: q_proj does not exist there.
  expect_error(
      [] {
        resolve("phi3", names({"q_proj", "v_proj"}));
      },
      {"'q_proj'", "matches no linear layer", "available: down_proj, gate_up_proj, o_proj, qkv_proj"});
  // A loaded config may name modules this family lacks, as PEFT accepts while something matches.
  EXPECT_EQ(resolve("phi3", names({"q_proj", "qkv_proj"}), /*strict=*/false).size(), 2u);
  expect_error([] { resolve("phi3", names({"q_proj"}), false); }, {"matches no linear layer", "qkv_proj"});
  expect_error([] { resolve("llama", names({"lm_head"})); }, {"'lm_head'", "not supported"});
  expect_error([] { resolve("llama", names({"embed_tokens"})); }, {"not a linear layer"});
  expect_error([] { resolve("llama", LoraTargets{}); }, {"no target modules"});
}

TEST(LoraTargets, RankAndAlphaPatterns) {
  LoraConfig c;
  c.r = 8;
  c.lora_alpha = 16;
  c.rank_pattern = {{"v_proj", 4}, {"model.layers.1.self_attn.q_proj", 2}, {"q_proj", 6}};
  c.alpha_pattern = {{"layers\\.1\\.mlp\\..*", 3}};
  EXPECT_EQ(lora_rank_for(c, "model.layers.0.self_attn.v_proj"), 4);
  EXPECT_EQ(lora_rank_for(c, "model.layers.1.self_attn.q_proj"), 2);  // first match wins
  EXPECT_EQ(lora_rank_for(c, "model.layers.0.self_attn.q_proj"), 6);
  EXPECT_EQ(lora_rank_for(c, "model.layers.0.self_attn.k_proj"), 8);
  EXPECT_EQ(lora_rank_for(c, "model.layers.0.self_attn.qv_proj"), 8);  // "(.*\.)?(v_proj)$" needs a dot before
  EXPECT_EQ(lora_alpha_for(c, "model.layers.1.mlp.up_proj"), 3);
  EXPECT_EQ(lora_alpha_for(c, "model.layers.0.mlp.up_proj"), 16);
  EXPECT_DOUBLE_EQ(lora_scaling(c, 4, 16), 4.0);
  c.use_rslora = true;
  EXPECT_DOUBLE_EQ(lora_scaling(c, 4, 16), 8.0);  // alpha / sqrt(r)
  EXPECT_DOUBLE_EQ(lora_scaling(c, 8, 8), 8 / std::sqrt(8.0));
}
