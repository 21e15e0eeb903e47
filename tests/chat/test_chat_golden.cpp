// Parity with transformers: every template x conversation x add_generation_prompt (x variant) of
// tests/fixtures/chat_templates/expected.json, made by tools/ref/make_template_fixtures.py with
// transformers' render_jinja_template, must render to the identical string; renders transformers
// refuses (raise_exception, role alternation, type errors) must throw slm::Error with the same
// message.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "chat_test_util.h"
#include "models/chat/jinja_lexer.h"
#include "models/chat/template.h"
#include "tensor/error.h"

namespace slm::test {
namespace {

struct Golden {
  nlohmann::ordered_json expected, conversations;
  std::map<std::string, nlohmann::ordered_json> specs;
  std::map<std::string, std::string> sources;
};

const Golden& golden() {
  static const Golden g = [] {
    Golden out;
    const std::string dir = chat_fixture_dir();
    out.expected = read_ordered_json(dir + "/expected.json");
    for (const auto& c : read_ordered_json(dir + "/conversations.json"))
      out.conversations[c["name"].get<std::string>()] = c;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      if (e.path().extension() != ".jinja") continue;
      const std::string name = e.path().stem().string();
      out.sources[name] = read_text(e.path().string());
      out.specs[name] = read_ordered_json(dir + "/" + name + ".json");
    }
    return out;
  }();
  return g;
}

std::vector<std::string> template_names() {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(chat_fixture_dir()))
    if (e.path().extension() == ".jinja") names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

// The clock the fixture script fixed for strftime_now (2025-03-09 13:05:00).
std::tm fixed_now() {
  std::tm tm{};
  tm.tm_year = 2025 - 1900, tm.tm_mon = 2, tm.tm_mday = 9, tm.tm_hour = 13, tm.tm_min = 5;
  tm.tm_wday = 0, tm.tm_yday = 67;
  return tm;
}

bool plain_messages(const nlohmann::ordered_json& msgs) {
  for (const auto& m : msgs)
    if (m.size() != 2 || !m.contains("role") || !m.contains("content") || !m["content"].is_string()) return false;
  return true;
}

class ChatGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(ChatGolden, MatchesTransformers) {
  const Golden& g = golden();
  const std::string& name = GetParam();
  const auto& spec = g.specs.at(name);
  ChatTemplate tpl(g.sources.at(name), nlohmann::json::parse(spec["special_tokens"].dump()));
  tpl.set_now(fixed_now());
  int renders = 0, errors = 0;
  for (const auto& rec : g.expected["renders"]) {
    if (rec["template"] != name) continue;
    const std::string variant = rec["variant"];
    nlohmann::ordered_json extra = nlohmann::ordered_json::object();
    for (const auto& v : spec["variants"])
      if (v["name"] == variant) extra = v["extra"];
    const auto& msgs = g.conversations.at(rec["conversation"].get<std::string>())["messages"];
    const bool agp = rec["add_generation_prompt"];
    const std::string what = name + " / " + (variant.empty() ? "default" : variant) + " / " +
                             rec["conversation"].get<std::string>() +
                             " / add_generation_prompt=" + (agp ? "true" : "false");
    if (rec.contains("expected")) {
      ++renders;
      std::string got;
      try {
        got = tpl.render_json(msgs, agp, extra);
      } catch (const Error& e) {
        ADD_FAILURE() << what << ": threw " << e.what();
        continue;
      }
      const std::string diff = first_difference(rec["expected"], got);
      EXPECT_TRUE(diff.empty()) << what << ": " << diff;
      if (plain_messages(msgs)) {  // the role/content API must agree with the JSON one
        std::vector<ChatMessage> cm;
        for (const auto& m : msgs) cm.push_back({m["role"], m["content"]});
        EXPECT_EQ(tpl.render(cm, agp, extra), got) << what << " (ChatMessage API)";
      }
    } else {
      ++errors;
      const std::string cls = rec["error"], msg = rec["message"];
      try {
        const std::string got = tpl.render_json(msgs, agp, extra);
        ADD_FAILURE() << what << ": transformers raised " << cls << " (" << msg << ") but slm rendered "
                      << quoted(got.substr(0, 300));
      } catch (const jinja::TemplateError& e) {
        if (cls != "TemplateSyntaxError" && cls != "SyntaxError") {
          EXPECT_EQ(e.detail(), msg) << what << ": " << e.what();
        }
        if (cls == "TemplateError") {
          EXPECT_EQ(e.kind(), jinja::ErrorKind::kRaised) << what;
        }
      }
    }
  }
  EXPECT_GT(renders + errors, 0) << "no expected renders for " << name << " — regenerate expected.json";
  std::printf("[ chat ] %-32s %3d renders, %3d expected errors\n", name.c_str(), renders, errors);
}

INSTANTIATE_TEST_SUITE_P(Templates, ChatGolden, ::testing::ValuesIn(template_names()), [](const auto& info) {
  std::string n = info.param;
  for (char& c : n)
    if (!isalnum(static_cast<unsigned char>(c))) c = '_';
  return n;
});

TEST(ChatGoldenMeta, FixtureCoversEveryTemplateAndWasMadeByTransformers) {
  const Golden& g = golden();
  EXPECT_NE(g.expected["generator"].get<std::string>().find("transformers"), std::string::npos);
  std::set<std::string> seen;
  for (const auto& r : g.expected["renders"]) seen.insert(r["template"].get<std::string>());
  for (const auto& [name, src] : g.sources) EXPECT_TRUE(seen.count(name)) << name << " has no renders in expected.json";
}

}  // namespace
}  // namespace slm::test
