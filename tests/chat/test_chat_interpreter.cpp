// Interpreter unit cases: each (template, context) of expected.json's "mini" list was rendered by
// jinja2 in transformers' environment (trim_blocks, lstrip_blocks, loopcontrols, sandbox, HF's
// tojson); slm must give the same string, or fail where jinja2 fails. Covers whitespace control,
// trim/lstrip blocks, loops, scoping, namespaces, macros, filters, tests, methods, slicing and
// Undefined behaviour (tools/ref/make_template_fixtures.py MINI_CASES).
#include <gtest/gtest.h>

#include "chat_test_util.h"
#include "models/chat/jinja_ast.h"
#include "models/chat/jinja_eval.h"
#include "models/chat/jinja_json.h"

namespace slm::test {
namespace {

using jinja::ErrorKind;
using jinja::TemplateError;

std::string render_mini(const std::string& src, const nlohmann::ordered_json& context) {
  const auto tpl = jinja::parse_template(src);
  jinja::RenderOptions opt;
  std::tm tm{};
  tm.tm_year = 2025 - 1900, tm.tm_mon = 2, tm.tm_mday = 9, tm.tm_hour = 13, tm.tm_min = 5, tm.tm_yday = 67;
  opt.now = tm;
  const jinja::Value ctx = jinja::from_json(context);
  return jinja::render(*tpl, ctx.dict(), opt);
}

TEST(ChatInterpreter, MatchesJinja2) {
  const auto expected = read_ordered_json(chat_fixture_dir() + "/expected.json");
  int ok = 0, total = 0;
  for (const auto& c : expected["mini"]) {
    ++total;
    const std::string name = c["name"];
    const std::string src = c["template"];
    SCOPED_TRACE(name + ": " + quoted(src));
    if (c.value("slm_refuses", false)) {
      try {
        render_mini(src, c["context"]);
        ADD_FAILURE() << name << ": slm was expected to refuse this construct";
      } catch (const TemplateError& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kUnsupported) << e.what();
        ++ok;
      }
      continue;
    }
    if (c.contains("expected")) {
      try {
        const std::string got = render_mini(src, c["context"]);
        const std::string diff = first_difference(c["expected"], got);
        EXPECT_TRUE(diff.empty()) << name << ": " << diff;
        ok += diff.empty();
      } catch (const TemplateError& e) {
        ADD_FAILURE() << name << ": threw " << e.what() << "; jinja2 rendered " << quoted(c["expected"]);
      }
    } else {
      try {
        const std::string got = render_mini(src, c["context"]);
        ADD_FAILURE() << name << ": jinja2 raised " << c["error"] << " (" << c["message"] << "), slm rendered "
                      << quoted(got);
      } catch (const TemplateError& e) {
        const std::string cls = c["error"];
        if (cls != "TemplateSyntaxError" && cls != "SyntaxError") {
          EXPECT_EQ(e.detail(), c["message"]) << e.what();
        }
        ++ok;
      }
    }
  }
  std::printf("[ chat ] %d of %d interpreter cases agree with jinja2\n", ok, total);
  EXPECT_GT(total, 150);
}

// Found by fuzz_template: trim's chars argument was read as a string before its type was checked, so a
// non-string argument escaped as std::bad_variant_access instead of Python's TypeError (str.strip(2)).
TEST(ChatInterpreter, TrimWithANonStringArgumentIsATypeError) {
  for (const char* src : {"{{ 'ab'|trim(2) }}", "{{ [1].append|trim(2) }}"}) {
    SCOPED_TRACE(src);
    try {
      render_mini(src, nlohmann::ordered_json::object());
      ADD_FAILURE() << "rendered; jinja2 raises TypeError";
    } catch (const TemplateError& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kRuntime) << e.what();
      EXPECT_EQ(e.detail(), "strip arg must be None or str");
    }
  }
}

}  // namespace
}  // namespace slm::test
