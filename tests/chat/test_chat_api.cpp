// ChatTemplate API: loading from a model directory (the three places a template can live, special
// tokens as strings or AddedToken objects), kwargs overriding special tokens, the fixed clock, and
// errors that name the construct and its line/column.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "chat_test_util.h"
#include "models/chat/jinja_lexer.h"
#include "models/chat/template.h"
#include "tensor/error.h"

namespace slm::test {
namespace {

namespace fs = std::filesystem;
using jinja::ErrorKind;
using jinja::TemplateError;

std::string temp_model_dir(const std::string& tag) {
  const fs::path d = fs::path(testing::TempDir()) / ("slm_chat_" + std::to_string(getpid()) + "_" + tag);
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

void write(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

const char* kChatml =
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

TEST(ChatTemplateApi, LoadsStringTemplateAndAddedTokenObjects) {
  const std::string dir = temp_model_dir("string");
  nlohmann::json cfg = {{"chat_template", "{{ bos_token }}|{{ eos_token }}|{{ pad_token is defined }}"},
                        {"bos_token", {{"__type", "AddedToken"}, {"content", "<s>"}, {"lstrip", false}}},
                        {"eos_token", "</s>"},
                        {"pad_token", nullptr}};
  write(dir + "/tokenizer_config.json", cfg.dump());
  const ChatTemplate t = ChatTemplate::from_model_dir(dir);
  EXPECT_EQ(t.render({{"user", "x"}}, false), "<s>|</s>|False");
  EXPECT_EQ(t.special_tokens()["bos_token"], "<s>");
}

TEST(ChatTemplateApi, PicksDefaultFromTemplateList) {
  const std::string dir = temp_model_dir("list");
  nlohmann::json cfg = {
      {"chat_template",
       {{{"name", "tool_use"}, {"template", "TOOLS"}}, {{"name", "default"}, {"template", "DEFAULT"}}}}};
  write(dir + "/tokenizer_config.json", cfg.dump());
  EXPECT_EQ(ChatTemplate::from_model_dir(dir).render({{"user", "x"}}, true), "DEFAULT");
  EXPECT_EQ(ChatTemplate::from_model_dir(dir, "tool_use").render({{"user", "x"}}, true), "TOOLS");
  try {
    ChatTemplate::from_model_dir(dir, "rag");
    ADD_FAILURE() << "expected an error for a missing template name";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("\"tool_use\""), std::string::npos) << e.what();
  }
}

TEST(ChatTemplateApi, JinjaFileTakesPrecedenceOverConfig) {
  const std::string dir = temp_model_dir("jinja_file");
  write(dir + "/tokenizer_config.json", nlohmann::json({{"chat_template", "CONFIG"}, {"eos_token", "E"}}).dump());
  write(dir + "/chat_template.jinja", "FILE {{ eos_token }}\n");
  EXPECT_EQ(ChatTemplate::from_model_dir(dir).render({{"user", "x"}}, false), "FILE E");
}

TEST(ChatTemplateApi, MissingTemplateIsAnErrorThatSaysWhere) {
  const std::string dir = temp_model_dir("none");
  write(dir + "/tokenizer_config.json", R"({"bos_token": "<s>"})");
  try {
    ChatTemplate::from_model_dir(dir);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no chat template"), std::string::npos) << e.what();
  }
}

TEST(ChatTemplateApi, ChatMessagesAndJsonMessagesAgree) {
  const ChatTemplate t(kChatml);
  const std::vector<ChatMessage> msgs = {{"system", "Be brief."}, {"user", "Hi"}};
  const std::string want =
      "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n";
  EXPECT_EQ(t.render(msgs, true), want);
  const auto j =
      nlohmann::ordered_json::parse(R"([{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}])");
  EXPECT_EQ(t.render_json(j, true), want);
}

TEST(ChatTemplateApi, ExtraKwargsOverrideSpecialTokensAndToolsDefaultToNone) {
  const ChatTemplate t(
      "{{ bos_token }}{{ tools is none }}{{ documents is none }}{{ enable_thinking | default('unset') }}",
      {{"bos_token", "<s>"}});
  const std::vector<ChatMessage> one = {{"user", "x"}};
  EXPECT_EQ(t.render(one, false), "<s>TrueTrueunset");
  EXPECT_EQ(t.render(one, false, {{"bos_token", "[B]"}, {"enable_thinking", false}}), "[B]TrueTrueFalse");
}

TEST(ChatTemplateApi, KeyOrderOfJsonMessagesIsKept) {
  const ChatTemplate t("{{ messages[0].tool_calls[0].arguments | tojson }} {{ messages[0] }}");
  const auto j = nlohmann::ordered_json::parse(
      R"([{"role":"assistant","tool_calls":[{"arguments":{"zeta":1,"alpha":[true,null,2.5]}}]}])");
  EXPECT_EQ(
      t.render_json(j, false),
      R"({"zeta": 1, "alpha": [true, null, 2.5]} {'role': 'assistant', 'tool_calls': [{'arguments': {'zeta': 1, 'alpha': [True, None, 2.5]}}]})");
}

TEST(ChatTemplateApi, FixedClockFeedsStrftimeNow) {
  ChatTemplate t("{{ strftime_now('%d %b %Y') }}");
  std::tm tm{};
  tm.tm_year = 2024 - 1900, tm.tm_mon = 6, tm.tm_mday = 26;
  t.set_now(tm);
  EXPECT_EQ(t.render({{"user", "x"}}, false), "26 Jul 2024");
}

template <class F>
TemplateError expect_template_error(F&& f) {
  try {
    f();
  } catch (const TemplateError& e) {
    return e;
  }
  ADD_FAILURE() << "expected a TemplateError";
  return TemplateError(ErrorKind::kRuntime, 0, 0, "none");
}

TEST(ChatTemplateApi, SyntaxErrorsNameLineAndColumn) {
  const auto e = expect_template_error([] { ChatTemplate("line one\n{% if x %}\n  {{ x + }}\n{% endif %}"); });
  EXPECT_EQ(e.kind(), ErrorKind::kSyntax);
  EXPECT_EQ(e.line(), 3);
  EXPECT_EQ(e.column(), 10);
  EXPECT_NE(std::string(e.what()).find("line 3, column 10"), std::string::npos) << e.what();
}

TEST(ChatTemplateApi, UnsupportedConstructsAreNamedAtLoadTime) {
  auto e = expect_template_error([] { ChatTemplate("ok\n  {{ text | wordwrap(20) }}"); });
  EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
  EXPECT_EQ(e.line(), 2);
  EXPECT_NE(std::string(e.what()).find("wordwrap"), std::string::npos) << e.what();
  e = expect_template_error([] { ChatTemplate("{% extends 'base.html' %}"); });
  EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
  e = expect_template_error([] { ChatTemplate("{% for x in y recursive %}{% endfor %}"); });
  EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
  e = expect_template_error([] { ChatTemplate("{{ x | no_such_filter }}"); });
  EXPECT_EQ(e.kind(), ErrorKind::kSyntax);
}

TEST(ChatTemplateApi, RaiseExceptionKeepsTheTemplatesMessage) {
  const ChatTemplate t(
      "{% if messages[0]['role'] == 'system' %}\n"
      "  {{ raise_exception('System role not supported') }}\n"
      "{% endif %}");
  const auto e = expect_template_error([&] { t.render({{"system", "x"}}, false); });
  EXPECT_EQ(e.kind(), ErrorKind::kRaised);
  EXPECT_EQ(e.detail(), "System role not supported");
  EXPECT_EQ(e.line(), 2);
  const slm::Error& base = e;  // callers catch slm::Error
  EXPECT_NE(std::string(base.what()).find("System role not supported"), std::string::npos);
}

TEST(ChatTemplateApi, RuntimeErrorsNameTheirPosition) {
  const ChatTemplate t("{% for m in messages %}\n{{ m.content + 1 }}{% endfor %}");
  const auto e = expect_template_error([&] { t.render({{"user", "hi"}}, false); });
  EXPECT_EQ(e.kind(), ErrorKind::kRuntime);
  EXPECT_EQ(e.line(), 2);
  EXPECT_EQ(e.detail(), "can only concatenate str (not \"int\") to str");
}

TEST(ChatTemplateApi, RunawayTemplatesAreStopped) {
  const ChatTemplate t(
      "{% for a in range(100000) %}{% for b in range(100000) %}{% for c in range(100000) %}"
      "{% endfor %}{% endfor %}{% endfor %}");
  const auto e = expect_template_error([&] { t.render({{"user", "x"}}, false); });
  EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
}

TEST(ChatTemplateApi, EmptyConversationIsRefusedAsTransformersDoes) {
  EXPECT_THROW(ChatTemplate(kChatml).render({}, true), Error);
}

TEST(ChatTemplateApi, DeepNestingIsRefusedNotACrash) {
  std::string deep(5000, '(');
  deep = "{{ " + deep + "1" + std::string(5000, ')') + " }}";
  EXPECT_THROW(ChatTemplate{deep}, Error);
  const ChatTemplate t("{% set ns = namespace(x=[]) %}{% for i in range(5000) %}{% set ns.x = [ns.x] %}{% endfor %}");
  EXPECT_THROW(t.render({{"user", "x"}}, false), Error);
}

}  // namespace
}  // namespace slm::test
