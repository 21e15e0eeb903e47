// Pattern matching for Split / Replace: a PCRE2 regex (UTF + UCP, JIT when available) or a literal string.
// HF `tokenizers` compiles these patterns with Oniguruma; translate_onig() rewrites the few constructs whose
// meaning differs in PCRE2 (\s, \S, \h: Oniguruma uses the Unicode White_Space set, PCRE2 also matches
// U+180E). find_all() follows the onig crate's find_iter: an empty match right where the previous match
// ended is skipped by advancing one character.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace slm::tok {

class Pattern {
 public:
  // A literal string pattern (SplitPattern::String) — matched as an escaped regex would be.
  static Pattern literal(std::string s);
  // A regex pattern (SplitPattern::Regex), Oniguruma syntax. Throws slm::Error when it does not compile.
  static Pattern regex(const std::string& onig_pattern);

  // Non-overlapping matches in s as (start, end) byte offsets, left to right. `s` must be valid UTF-8.
  void find_all(std::string_view s, std::vector<std::pair<uint32_t, uint32_t>>& out) const;
  const std::string& source() const { return source_; }

 private:
  struct Compiled;
  std::string source_;
  bool is_literal_ = true;
  std::shared_ptr<const Compiled> re_;
};

// Oniguruma -> PCRE2 pattern rewrite (exposed for tests).
std::string translate_onig(const std::string& pattern);

}  // namespace slm::tok
