// JSONL chat datasets: the three schemas, validation errors with file:line, --skip-bad counting.
#include <gtest/gtest.h>

#include <fstream>

#include "models/chat/dataset.h"
#include "tensor/error.h"

using namespace slm;

namespace {

std::string write(const std::string& name, const std::string& text) {
  std::string p = ::testing::TempDir() + "/" + name;
  std::ofstream(p, std::ios::binary) << text;
  return p;
}

std::string error_of(const std::string& path) {
  try {
    read_chat_jsonl(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ChatData, ThreeSchemas) {
  std::string p = write("three.jsonl",
                        "{\"messages\":[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\",\"content\":\"Q\"},"
                        "{\"role\":\"assistant\",\"content\":\"A\"}]}\n"
                        "\n"
                        "{\"prompt\":\"P\",\"completion\":\"C\"}\r\n"
                        "{\"instruction\":\"I\",\"input\":\"X\",\"output\":\"O\"}\n"
                        "{\"instruction\":\"I2\",\"output\":\"O2\"}\n");
  ChatDataset d = read_chat_jsonl(p);
  ASSERT_EQ(d.conversations.size(), 4u);
  EXPECT_EQ(d.conversations[0].messages.size(), 3u);
  EXPECT_EQ(d.conversations[0].messages[0].role, "system");
  EXPECT_EQ(d.conversations[1].line, 3);
  EXPECT_EQ(d.conversations[1].messages[1].content, "C");
  EXPECT_EQ(d.conversations[2].messages[0].content, "I\n\nX");
  EXPECT_EQ(d.conversations[3].messages[0].content, "I2");
}

TEST(ChatData, BadLinesNameFileAndLine) {
  struct Case {
    std::string line, want;
  } cases[] = {
      {"{not json", "not valid JSON"},
      {"[1,2]", "JSON object"},
      {"{\"messages\":[]}", "empty"},
      {"{\"messages\":[{\"role\":\"user\"}]}", "content"},
      {"{\"messages\":[{\"role\":\"bot\",\"content\":\"x\"}]}", "bot"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}", "no assistant"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"system\",\"content\":\"s\"},"
       "{\"role\":\"assistant\",\"content\":\"a\"}]}", "system message may only come first"},
      {"{\"prompt\":\"p\"}", "completion"},
      {"{\"prompt\":1,\"completion\":\"c\"}", "must be a string"},
      {"{\"text\":\"x\"}", "expected"},
      {"{\"prompt\":\"\xff\",\"completion\":\"c\"}", "not valid JSON"},
  };
  for (const auto& c : cases) {
    std::string p = write("bad.jsonl", "{\"prompt\":\"p\",\"completion\":\"c\"}\n" + c.line + "\n");
    std::string e = error_of(p);
    EXPECT_NE(e.find("bad.jsonl:2"), std::string::npos) << c.line << " -> " << e;
    EXPECT_NE(e.find(c.want), std::string::npos) << c.line << " -> " << e;
  }
}

TEST(ChatData, SkipBadCountsAndContinues) {
  std::string p = write("skip.jsonl", "{\"prompt\":\"p\",\"completion\":\"c\"}\n{oops\n{\"x\":1}\n"
                                      "{\"prompt\":\"p2\",\"completion\":\"c2\"}\n");
  ChatDataset d = read_chat_jsonl(p, /*skip_bad=*/true);
  EXPECT_EQ(d.conversations.size(), 2u);
  EXPECT_EQ(d.skipped, 2);
  ASSERT_EQ(d.problems.size(), 2u);
  EXPECT_NE(d.problems[0].find("skip.jsonl:2"), std::string::npos);
  EXPECT_THROW(read_chat_jsonl(write("allbad.jsonl", "{oops\n"), true), Error);
  EXPECT_THROW(read_chat_jsonl("/nonexistent.jsonl"), Error);
}

}  // namespace
