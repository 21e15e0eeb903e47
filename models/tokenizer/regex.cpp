// See regex.h. PCRE2 8-bit library, compiled once per pattern; matching is thread-safe (match data per call).
#define PCRE2_CODE_UNIT_WIDTH 8
#include "models/tokenizer/regex.h"

#include <pcre2.h>

#include "models/tokenizer/unicode.h"
#include "tensor/error.h"

namespace slm::tok {

namespace {
// Unicode White_Space, the set Oniguruma's \s matches in UTF-8 mode.
constexpr const char* kWhiteSpaceSet =
    "\\t\\n\\x0B\\f\\r\\x20\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}";
constexpr const char* kHexSet = "0-9a-fA-F";
}  // namespace

std::string translate_onig(const std::string& p) {
  std::string out;
  out.reserve(p.size() + 64);
  int class_depth = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      char e = p[++i];
      bool in_class = class_depth > 0;
      if (e == 's' || e == 'h') {
        const char* set = e == 's' ? kWhiteSpaceSet : kHexSet;
        out += in_class ? std::string(set) : "[" + std::string(set) + "]";
      } else if (e == 'S' || e == 'H') {
        const char* set = e == 'S' ? kWhiteSpaceSet : kHexSet;
        SLM_CHECK(!in_class, std::string("[tokenizer] regex '") + p + "': \\" + e +
                                 " inside a character class is not supported");
        out += "[^" + std::string(set) + "]";
      } else {
        out += '\\';
        out += e;
      }
      continue;
    }
    if (c == '[') {
      ++class_depth;
      out += c;
      // A ']' right after '[' or '[^' is a literal member.
      if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i];
      if (i + 1 < p.size() && p[i + 1] == ']') out += p[++i];
      continue;
    }
    if (c == ']' && class_depth > 0) --class_depth;
    out += c;
  }
  return out;
}

struct Pattern::Compiled {
  pcre2_code* code = nullptr;
  ~Compiled() {
    if (code) pcre2_code_free(code);
  }
};

Pattern Pattern::literal(std::string s) {
  SLM_CHECK(!s.empty(), "[tokenizer] an empty string pattern is not supported");
  Pattern pat;
  pat.source_ = std::move(s);
  pat.is_literal_ = true;
  return pat;
}

Pattern Pattern::regex(const std::string& onig_pattern) {
  Pattern pat;
  pat.source_ = onig_pattern;
  pat.is_literal_ = false;
  std::string translated = translate_onig(onig_pattern);
  int err = 0;
  PCRE2_SIZE err_off = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                                   PCRE2_UTF | PCRE2_UCP, &err, &err_off, nullptr);
  if (!code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    throw Error("[tokenizer] regex '" + onig_pattern + "' does not compile with PCRE2 (as '" + translated +
                "'): " + reinterpret_cast<const char*>(msg) + " at offset " + std::to_string(err_off));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter when JIT is unavailable
  auto c = std::make_shared<Compiled>();
  c->code = code;
  pat.re_ = std::move(c);
  return pat;
}

void Pattern::find_all(std::string_view s, std::vector<std::pair<uint32_t, uint32_t>>& out) const {
  out.clear();
  if (is_literal_) {
    size_t pos = 0;
    while ((pos = s.find(source_, pos)) != std::string_view::npos) {
      out.emplace_back(static_cast<uint32_t>(pos), static_cast<uint32_t>(pos + source_.size()));
      pos += source_.size();
    }
    return;
  }
  pcre2_match_data* md = pcre2_match_data_create(1, nullptr);
  SLM_CHECK(md, "[tokenizer] out of memory creating regex match data");
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(s.data());
  size_t pos = 0;
  bool have_last = false;
  size_t last_end = 0;
  while (pos <= s.size()) {
    int rc = pcre2_match(re_->code, subject, s.size(), pos, PCRE2_NO_UTF_CHECK, md, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      pcre2_match_data_free(md);
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof msg);
      throw Error("[tokenizer] regex '" + source_ + "' failed to match: " + reinterpret_cast<const char*>(msg));
    }
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    size_t ms = ov[0], me = ov[1];
    if (ms == me && have_last && last_end == me) {
      // onig find_iter: skip an empty match adjacent to the previous match, advance one character.
      if (pos >= s.size()) break;
      pos += utf8_len(static_cast<unsigned char>(s[pos]));
      continue;
    }
    out.emplace_back(static_cast<uint32_t>(ms), static_cast<uint32_t>(me));
    have_last = true;
    last_end = me;
    pos = me;
  }
  pcre2_match_data_free(md);
}

}  // namespace slm::tok
