// Helpers shared by the chat-template tests: fixture loading and a diff-friendly comparison that
// names the first differing byte with context on both sides.
#pragma once
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace slm::test {

inline std::string chat_fixture_dir() { return std::string(SLM_FIXTURES) + "/chat_templates"; }

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << "cannot open " << path;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline nlohmann::ordered_json read_ordered_json(const std::string& path) {
  return nlohmann::ordered_json::parse(read_text(path));
}

// JSON-quoted excerpt (escapes newlines; invalid UTF-8 at a cut is replaced, not thrown).
inline std::string quoted(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Empty when equal; otherwise where and how `got` first differs from `want`.
inline std::string first_difference(const std::string& want, const std::string& got) {
  if (want == got) return "";
  size_t i = 0;
  while (i < want.size() && i < got.size() && want[i] == got[i]) ++i;
  const size_t from = i > 60 ? i - 60 : 0;
  std::ostringstream m;
  m << "first difference at byte " << i << " (want " << want.size() << " bytes, got " << got.size() << ")\n"
    << "  want: ..." << quoted(want.substr(from, i - from + 60)) << "\n"
    << "  got:  ..." << quoted(got.substr(from, i - from + 60));
  return m.str();
}

}  // namespace slm::test
