// Tokenizer behaviour the real files do not exercise (tiny handmade tokenizer.json files; expected ids follow
// the HF tokenizers source semantics cited in models/tokenizer/*), clear errors for unsupported components and
// malformed files, invalid UTF-8 input, special tokens from tokenizer_config.json.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "models/tokenizer/regex.h"
#include "models/tokenizer/tokenizer.h"
#include "models/tokenizer/unicode.h"
#include "tensor/error.h"
#include "tests/tokenizer/tokenizer_fixtures.h"

namespace slm {
namespace {

using nlohmann::json;
using Ids = std::vector<int32_t>;

// A character-level BPE: a b - -- a- -b ab ▁ ▁a ▁b space <unk> < m > x <0xC3> <0xA9> A.
json base_tokenizer() {
  json vocab = {{"a", 0},  {"b", 1},    {"-", 2},  {"--", 3}, {"a-", 4},  {"-b", 5},     {"ab", 6},
                {"▁", 7},  {"▁a", 8},   {"▁b", 9}, {" ", 10}, {"<unk>", 11}, {"<", 12}, {"m", 13},
                {">", 14}, {"x", 15}, {"<0xC3>", 16}, {"<0xA9>", 17}, {"h", 18}, {"i", 19}};
  json merges = {"a -", "- b", "- -", "▁ a", "▁ b", "a b"};
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", json::array()},
          {"normalizer", nullptr},
          {"pre_tokenizer", nullptr},
          {"post_processor", nullptr},
          {"decoder", nullptr},
          {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}, {"unk_token", nullptr}}}};
}

Tokenizer make(const json& j) { return Tokenizer::from_json_string(j.dump(), "test.json"); }

json split(const std::string& pat, const std::string& behavior, bool invert = false) {
  return {{"type", "Split"}, {"pattern", {{"String", pat}}}, {"behavior", behavior}, {"invert", invert}};
}

TEST(TokenizerUnit, MergesByRank) {
  EXPECT_EQ(make(base_tokenizer()).encode("a-b"), (Ids{4, 1}));  // "a -" (rank 0) beats "- b" (rank 1)
  EXPECT_EQ(make(base_tokenizer()).encode("ab-b"), (Ids{6, 5}));
}

TEST(TokenizerUnit, SplitBehaviours) {
  json j = base_tokenizer();
  auto ids = [&](const json& pre, const std::string& text) {
    j["pre_tokenizer"] = pre;
    return make(j).encode(text);
  };
  EXPECT_EQ(ids(split("-", "Isolated"), "a-b"), (Ids{0, 2, 1}));
  EXPECT_EQ(ids(split("-", "Removed"), "a-b"), (Ids{0, 1}));
  EXPECT_EQ(ids(split("-", "MergedWithPrevious"), "a-b"), (Ids{4, 1}));
  EXPECT_EQ(ids(split("-", "MergedWithNext"), "a-b"), (Ids{0, 5}));
  EXPECT_EQ(ids(split("-", "Contiguous"), "a--b"), (Ids{0, 3, 1}));
  EXPECT_EQ(ids(split("-", "Isolated"), "a--b"), (Ids{0, 2, 2, 1}));
  EXPECT_EQ(ids(split("-", "Removed", true), "a-b"), (Ids{2}));
  json seq = {{"type", "Sequence"}, {"pretokenizers", {split("-", "Isolated"), {{"type", "WhitespaceSplit"}}}}};
  EXPECT_EQ(ids(seq, " a  -b "), (Ids{0, 2, 1}));
}

TEST(TokenizerUnit, MetaspacePrependSchemes) {
  json j = base_tokenizer();
  j["added_tokens"] = {{{"id", 20}, {"content", "<s>"}, {"special", true}, {"normalized", false}}};
  j["decoder"] = {{"type", "Metaspace"}, {"replacement", "▁"}, {"prepend_scheme", "always"}, {"split", true}};
  auto with = [&](const std::string& scheme) {
    j["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "▁"}, {"prepend_scheme", scheme}, {"split", true}};
    return make(j);
  };
  EXPECT_EQ(with("always").encode("a b"), (Ids{8, 9}));
  EXPECT_EQ(with("never").encode("a b"), (Ids{0, 9}));
  EXPECT_EQ(with("always").encode("<s>a"), (Ids{20, 8}));
  EXPECT_EQ(with("first").encode("<s>a"), (Ids{20, 0}));     // the piece does not start the input
  EXPECT_EQ(with("first").encode("a<s>a"), (Ids{8, 20, 0}));
  EXPECT_EQ(with("always").decode({8, 9}), "a b");           // the first token loses its ▁
}

TEST(TokenizerUnit, AddedTokenOptions) {
  json j = base_tokenizer();
  auto tok = [&](json extra) {
    json t = {{"id", 30}, {"content", "<m>"}, {"special", false}, {"normalized", false}};
    t.update(extra);
    j["added_tokens"] = {t};
    return make(j);
  };
  EXPECT_EQ(tok(json::object()).encode("a <m>b"), (Ids{0, 10, 20, 1}));  // new id: vocabulary size (20)
  EXPECT_EQ(tok({{"lstrip", true}}).encode("a <m>b"), (Ids{0, 20, 1}));
  EXPECT_EQ(tok({{"rstrip", true}}).encode("a<m> b"), (Ids{0, 20, 1}));
  EXPECT_EQ(tok({{"single_word", true}}).encode("x<m>"), (Ids{15, 12, 13, 14}));
  EXPECT_EQ(tok({{"single_word", true}}).encode("x <m>"), (Ids{15, 10, 20}));
  // normalized: true tokens match the normalised text (Lowercase here).
  j["normalizer"] = {{"type", "Lowercase"}};
  j["added_tokens"] = {{{"id", 30}, {"content", "HI"}, {"special", false}, {"normalized", true}}};
  Tokenizer t = make(j);
  EXPECT_EQ(t.encode("a Hi"), (Ids{0, 10, 20}));
  EXPECT_EQ(t.decode({20}), "hi");  // decoded through its normalised spelling, joined by ' ' without decoder
}

TEST(TokenizerUnit, UnknownAndByteFallback) {
  json j = base_tokenizer();
  j["model"]["unk_token"] = "<unk>";
  j["model"]["byte_fallback"] = true;
  EXPECT_EQ(make(j).encode("aé"), (Ids{0, 16, 17}));
  j["model"]["byte_fallback"] = false;
  j["model"]["fuse_unk"] = true;
  EXPECT_EQ(make(j).encode("aéé"), (Ids{0, 11}));
  j["model"]["fuse_unk"] = false;
  EXPECT_EQ(make(j).encode("aéé"), (Ids{0, 11, 11}));
  j["model"]["unk_token"] = nullptr;
  EXPECT_EQ(make(j).encode("aéé"), (Ids{0}));  // no unk token: unknown characters vanish, as in HF
}

TEST(TokenizerUnit, TemplateProcessing) {
  json j = base_tokenizer();
  j["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single", {{{"SpecialToken", {{"id", "<x>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                  {{"SpecialToken", {{"id", "<h>"}, {"type_id", 0}}}}}},
      {"pair", nullptr},
      {"special_tokens", {{"<x>", {{"id", "<x>"}, {"ids", {15}}, {"tokens", {"x"}}}},
                          {"<h>", {{"id", "<h>"}, {"ids", {18, 19}}, {"tokens", {"h", "i"}}}}}}};
  Tokenizer t = make(j);
  EXPECT_EQ(t.encode("ab"), (Ids{15, 6, 18, 19}));
  EXPECT_EQ(t.encode("ab", false), (Ids{6}));
  Tokenizer::Encoding e = t.encode_with_offsets("ab", true);
  ASSERT_EQ(e.offsets.size(), 4u);
  EXPECT_EQ(e.offsets[0], (std::pair<size_t, size_t>{0, 0}));
  EXPECT_EQ(e.offsets[1], (std::pair<size_t, size_t>{0, 2}));
}

void expect_error(const std::string& text, const std::string& needle) {
  try {
    Tokenizer::from_json_string(text, "bad.json");
    ADD_FAILURE() << "no error for " << text.substr(0, 200);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad.json"), std::string::npos) << e.what();
  }
}

TEST(TokenizerUnit, ClearErrors) {
  json j = base_tokenizer();
  expect_error("{\"model\": ", "not valid JSON");
  expect_error("[1, 2]", "top level");
  j["model"]["type"] = "WordPiece";
  expect_error(j.dump(), "model type 'WordPiece' is not supported");
  j = base_tokenizer();
  j["pre_tokenizer"] = {{"type", "BertPreTokenizer"}};
  expect_error(j.dump(), "pre_tokenizer type 'BertPreTokenizer' is not supported");
  j = base_tokenizer();
  j["normalizer"] = {{"type", "BertNormalizer"}};
  expect_error(j.dump(), "normalizer type 'BertNormalizer'");
  j = base_tokenizer();
  j["decoder"] = {{"type", "WordPiece"}};
  expect_error(j.dump(), "decoder type 'WordPiece'");
  j = base_tokenizer();
  j["post_processor"] = {{"type", "RobertaProcessing"}};
  expect_error(j.dump(), "post_processor type 'RobertaProcessing' is not supported");
  j = base_tokenizer();
  j["model"]["merges"].push_back("a zz");
  expect_error(j.dump(), "missing from the vocabulary");
  j = base_tokenizer();
  j["model"]["merges"].push_back("a b c");
  expect_error(j.dump(), "two tokens separated by one space");
  j = base_tokenizer();
  j["truncation"] = {{"max_length", 8}};
  expect_error(j.dump(), "\"truncation\" is set");
  j = base_tokenizer();
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
  expect_error(j.dump(), "does not compile");
  j = base_tokenizer();
  j["model"].erase("vocab");
  expect_error(j.dump(), "needs a \"vocab\" object");
  try {
    Tokenizer::load("/nonexistent/model");
    ADD_FAILURE() << "no error for a missing directory";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/model: does not exist"), std::string::npos) << e.what();
  }
}

TEST(TokenizerUnit, MalformedCompanionFile) {
  auto dir = std::filesystem::temp_directory_path() / "slm_tok_companion";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "tokenizer.json") << base_tokenizer().dump();
  std::ofstream(dir / "tokenizer_config.json") << "{\"eos_token\": 5}";
  try {
    Tokenizer::load(dir.string());
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer_config.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("eos_token"), std::string::npos) << e.what();
  }
  std::ofstream(dir / "tokenizer_config.json") << "{\"eos_token\": {\"content\": \"x\"}, \"add_bos_token\": true}";
  std::ofstream(dir / "generation_config.json") << "{\"eos_token_id\": [15, 3]}";
  Tokenizer t = Tokenizer::load(dir.string());
  EXPECT_EQ(t.special_tokens().eos, "x");
  EXPECT_EQ(t.special_tokens().eos_id, std::optional<int32_t>(15));
  EXPECT_EQ(t.special_tokens().eos_ids, (Ids{15, 3}));
  EXPECT_TRUE(t.special_tokens().add_bos_token);
  EXPECT_EQ(t.encode("ab"), (Ids{6}));  // add_bos_token is transformers-level: ids unchanged
  std::filesystem::remove_all(dir);
}

TEST(TokenizerUnit, OnigTranslation) {
  EXPECT_EQ(tok::translate_onig(R"(a\sb)").find("\\x{85}") != std::string::npos, true);
  EXPECT_EQ(tok::translate_onig(R"([^\s\p{L}])").rfind("[^\\t", 0), 0u);
  EXPECT_THROW(tok::translate_onig(R"([\S])"), Error);
}

class RealTokenizers : public ::testing::Test {
 protected:
  static Tokenizer load(const std::string& name) {
    std::string missing;
    std::string dir = test::npm_tokenizer_dir(SLM_NPM_TOKENIZERS, name, &missing);
    if (!missing.empty()) throw Error(missing);
    return Tokenizer::load(dir);
  }
};

TEST_F(RealTokenizers, SpecialTokensAndVocab) {
  Tokenizer q = load("qwen3");
  EXPECT_EQ(q.vocab_size(), 151669);
  EXPECT_EQ(q.token_to_id("<|im_start|>"), std::optional<int32_t>(151644));
  EXPECT_TRUE(q.is_special(151644));
  EXPECT_FALSE(q.is_special(151668));  // </think> is added but not special
  EXPECT_EQ(q.id_to_token(151668), "</think>");
  EXPECT_EQ(q.special_tokens().eos, "<|im_end|>");
  EXPECT_EQ(q.special_tokens().eos_id, std::optional<int32_t>(151645));
  EXPECT_EQ(q.special_tokens().pad_id, std::optional<int32_t>(151643));
  EXPECT_FALSE(q.special_tokens().bos_id.has_value());
  EXPECT_FALSE(q.special_tokens().chat_template.empty());
  Tokenizer l = load("llama2");
  EXPECT_EQ(l.vocab_size(), 32000);
  EXPECT_EQ(l.special_tokens().bos_id, std::optional<int32_t>(1));
  EXPECT_EQ(l.special_tokens().unk_id, std::optional<int32_t>(0));
  EXPECT_EQ(l.encode("hi").front(), 1);  // TemplateProcessing adds <s>
  // llama3's tokenizer.json post-processor is ByteLevel: HF adds no <|begin_of_text|> on encode.
  Tokenizer l3 = load("llama3");
  EXPECT_EQ(l3.encode("hi"), l3.encode("hi", false));
}

TEST_F(RealTokenizers, InvalidUtf8IsReplaced) {
  Tokenizer q = load("qwen3");
  std::string bad = "ab\xFF\xC3(cd\xE2\x82";
  std::string fixed = "ab\xEF\xBF\xBD\xEF\xBF\xBD(cd\xEF\xBF\xBD";
  EXPECT_EQ(q.encode(bad), q.encode(fixed));
  Tokenizer::Encoding e = q.encode_with_offsets(bad, false);
  ASSERT_FALSE(e.offsets.empty());
  EXPECT_EQ(e.offsets.front().first, 0u);
  EXPECT_EQ(e.offsets.back().second, bad.size());  // offsets index the caller's bytes
  for (auto [s, t] : e.offsets) EXPECT_LE(t, bad.size());
}

TEST_F(RealTokenizers, StreamHoldsBackPartialCharacters) {
  Tokenizer q = load("qwen3");
  std::vector<int32_t> ids = q.encode("\xF0\x9F\x98\x80 ok", false);  // 😀 spans several byte-level tokens
  StreamDecoder sd(q, false);
  std::string first = sd.push(ids[0]);
  EXPECT_TRUE(first.empty() || first == "\xF0\x9F\x98\x80");
  std::string all = first;
  for (size_t i = 1; i < ids.size(); ++i) all += sd.push(ids[i]);
  all += sd.finish();
  EXPECT_EQ(all, "\xF0\x9F\x98\x80 ok");
}

// ByteFallback (llama2): decode() turns a whole invalid or cut byte run into U+FFFD after the fact; the stream
// keeps what it emitted, never throws, and stays valid UTF-8.
TEST_F(RealTokenizers, StreamSurvivesBrokenByteRuns) {
  Tokenizer l = load("llama2");
  std::vector<int32_t> ids = l.encode("ab \xF0\x9F\xAB\xA0", false);  // U+1FAE0: byte fallback
  ASSERT_EQ(l.id_to_token(ids.back()), "<0xA0>");
  ids.pop_back();  // cut inside the emoji
  const int32_t ff = *l.token_to_id("<0xFF>");
  ids.insert(ids.begin() + 1, ff);  // an invalid byte mid-stream
  StreamDecoder sd(l, false);
  std::string all;
  for (int32_t id : ids) all += sd.push(id);
  all += sd.finish();
  EXPECT_EQ(tok::utf8_valid_prefix(all), all.size());
  EXPECT_NE(all.find("\xEF\xBF\xBD"), std::string::npos);
  EXPECT_EQ(all.substr(all.size() - 3), "\xEF\xBF\xBD");
}

}  // namespace
}  // namespace slm
