// jinja2's lexer (lexer.py, Lexer.tokeniter) re-done as a hand-written scanner. The regex rule each
// piece replaces is quoted next to it.
#include "models/chat/jinja_lexer.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "models/chat/jinja_unicode.h"

namespace slm::jinja {

namespace {

std::string kind_label(ErrorKind k) {
  switch (k) {
    case ErrorKind::kSyntax:
      return "syntax error";
    case ErrorKind::kUnsupported:
      return "unsupported construct";
    case ErrorKind::kRaised:
      return "the template raised an exception";
    default:
      return "error";
  }
}

// \s* over UTF-8 text from byte p.
size_t skip_space(std::string_view s, size_t p) {
  while (p < s.size()) {
    size_t q = p;
    if (!uni_isspace(utf8_next(s, q))) break;
    p = q;
  }
  return p;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

class Scanner {
 public:
  explicit Scanner(std::string src) : s_(std::move(src)) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < s_.size(); ++i)
      if (s_[i] == '\n') line_starts_.push_back(i + 1);
  }
  std::vector<Token> run();

 private:
  std::string s_;
  std::vector<size_t> line_starts_;
  std::vector<Token> out_;
  bool line_starting_ = true;  // did the previous match end with a newline?

  SrcPos pos_of(size_t off) const {
    const auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), off);
    const size_t ls = *(it - 1);
    return {int(it - line_starts_.begin()), int(utf8_length(std::string_view(s_).substr(ls, off - ls))) + 1};
  }
  [[noreturn]] void fail(size_t off, const std::string& msg) const {
    const SrcPos p = pos_of(off);
    throw TemplateError(ErrorKind::kSyntax, p.line, p.col, msg);
  }
  bool at(size_t p, std::string_view lit) const { return s_.compare(p, lit.size(), lit) == 0; }
  char ch(size_t p) const { return p < s_.size() ? s_[p] : '\0'; }
  Token& emit(Tok t, std::string text, size_t off) {
    out_.push_back(Token{t, std::move(text), 0, 0, pos_of(off)});
    return out_.back();
  }
  void emit_data(std::string text, size_t off, char sign, bool is_variable);
  size_t match_raw_begin(size_t p) const;
  size_t block_end(size_t p) const;
  size_t lex_comment(size_t p, size_t start);
  size_t lex_raw(size_t p, size_t start);
  size_t lex_tag(size_t p, bool block);
  size_t lex_number(size_t p);
  size_t lex_string(size_t p);
  size_t digits(size_t p) const;
};

// OptionalLStrip: `{%-` strips all whitespace before the tag; otherwise, with lstrip_blocks, the
// whitespace between a line start and a block or comment tag is removed (`{%+` keeps it).
void Scanner::emit_data(std::string text, size_t off, char sign, bool is_variable) {
  if (sign == '-') {
    size_t end = text.size();
    while (end > 0) {  // str.rstrip(), one code point at a time
      size_t b = end - 1;
      while (b > 0 && (static_cast<unsigned char>(text[b]) & 0xC0) == 0x80) --b;
      size_t q = b;
      if (!uni_isspace(utf8_next(text, q)) || q != end) break;
      end = b;
    }
    text.resize(end);
  } else if (sign != '+' && !is_variable) {
    const size_t nl = text.rfind('\n');
    const size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
    if ((l_pos > 0 || line_starting_) && l_pos < text.size() && skip_space(text, l_pos) == text.size())
      text.resize(l_pos);
  }
  if (!text.empty()) emit(Tok::kData, std::move(text), off);
}

// {%(\-|\+|)\s*raw\s*(?:\-%}\s*|%}) ; returns the end of the match or npos.
size_t Scanner::match_raw_begin(size_t p) const {
  size_t q = p + 2;
  if (ch(q) == '-' || ch(q) == '+') ++q;
  q = skip_space(s_, q);
  if (!at(q, "raw")) return std::string::npos;
  q = skip_space(s_, q + 3);
  if (at(q, "-%}")) return skip_space(s_, q + 3);
  if (at(q, "%}")) return q + 2;
  return std::string::npos;
}

// (?:\+%}|\-%}\s*|%}\n?) with trim_blocks; returns the end or npos.
size_t Scanner::block_end(size_t p) const {
  if (at(p, "+%}")) return p + 3;
  if (at(p, "-%}")) return skip_space(s_, p + 3);
  if (at(p, "%}")) return ch(p + 2) == '\n' ? p + 3 : p + 2;
  return std::string::npos;
}

std::vector<Token> Scanner::run() {
  size_t pos = 0;
  while (pos < s_.size()) {
    // root: (.*?)(?:raw_begin|{#(\-|\+|)|{%(\-|\+|)|{{(\-|\+|))
    size_t p = pos;
    size_t raw_end = std::string::npos;
    for (; p + 1 < s_.size(); ++p) {
      if (s_[p] != '{') continue;
      const char k = s_[p + 1];
      if (k == '%') raw_end = match_raw_begin(p);
      if (k == '{' || k == '%' || k == '#') break;
    }
    if (p + 1 >= s_.size()) {  // data: .+
      emit(Tok::kData, s_.substr(pos), pos);
      break;
    }
    const char kind = s_[p + 1];
    const char sign = (ch(p + 2) == '-' || ch(p + 2) == '+') ? s_[p + 2] : '\0';
    emit_data(s_.substr(pos, p - pos), pos, sign, kind == '{');
    line_starting_ = false;
    const size_t after = p + 2 + (sign ? 1 : 0);
    if (raw_end != std::string::npos) {
      line_starting_ = s_[raw_end - 1] == '\n';
      pos = lex_raw(raw_end, p);
    } else if (kind == '#') {
      pos = lex_comment(after, p);
    } else {
      emit(kind == '{' ? Tok::kVarBegin : Tok::kBlockBegin, "", p);
      pos = lex_tag(after, kind == '%');
    }
  }
  out_.push_back(Token{Tok::kEof, "", 0, 0, pos_of(s_.size())});
  return std::move(out_);
}

// (.*?)((?:\+#}|\-#}\s*|#}\n?))
size_t Scanner::lex_comment(size_t p, size_t start) {
  for (size_t q = p; q < s_.size(); ++q) {
    size_t end = std::string::npos;
    if (at(q, "+#}")) {
      end = q + 3;
    } else if (at(q, "-#}")) {
      end = skip_space(s_, q + 3);
    } else if (at(q, "#}")) {
      end = ch(q + 2) == '\n' ? q + 3 : q + 2;
    }
    if (end != std::string::npos) {
      line_starting_ = s_[end - 1] == '\n';
      return end;
    }
  }
  fail(start, "Missing end of comment tag");
}

// (.*?)((?:{%(\-|\+|))\s*endraw\s*(?:\+%}|\-%}\s*|%}\n?)), the text being OptionalLStrip data.
size_t Scanner::lex_raw(size_t p, size_t start) {
  for (size_t q = p; q + 1 < s_.size(); ++q) {
    if (!at(q, "{%")) continue;
    size_t r = q + 2;
    const char sign = (ch(r) == '-' || ch(r) == '+') ? s_[r] : '\0';
    if (sign) ++r;
    r = skip_space(s_, r);
    if (!at(r, "endraw")) continue;
    const size_t end = block_end(skip_space(s_, r + 6));
    if (end == std::string::npos) continue;
    emit_data(s_.substr(p, q - p), p, sign, false);
    line_starting_ = s_[end - 1] == '\n';
    return end;
  }
  fail(start, "Missing end of raw directive");
}

size_t Scanner::lex_tag(size_t p, bool block) {
  std::vector<char> balance;
  while (p < s_.size()) {
    if (balance.empty()) {
      size_t end = std::string::npos;
      if (block) {
        end = block_end(p);
      } else if (at(p, "-}}")) {
        end = skip_space(s_, p + 3);
      } else if (at(p, "}}")) {
        end = p + 2;
      }
      if (end != std::string::npos) {
        emit(block ? Tok::kBlockEnd : Tok::kVarEnd, "", p);
        line_starting_ = s_[end - 1] == '\n';
        return end;
      }
    }
    const size_t ws = skip_space(s_, p);
    if (ws != p) {
      p = ws;
      continue;
    }
    const char c = s_[p];
    if (is_digit(c)) {
      p = lex_number(p);
    } else if (is_name_start(c)) {
      size_t q = p;
      while (q < s_.size() && is_name_char(s_[q])) ++q;
      if (q < s_.size() && static_cast<unsigned char>(s_[q]) >= 0x80) {
        size_t r = q;
        if (uni_isalpha(utf8_next(s_, r))) {
          const SrcPos sp = pos_of(p);
          throw TemplateError(ErrorKind::kUnsupported, sp.line, sp.col, "non-ASCII identifiers are not supported");
        }
      }
      emit(Tok::kName, s_.substr(p, q - p), p);
      p = q;
    } else if (c == '\'' || c == '"') {
      p = lex_string(p);
    } else {
      static const char* kOps2[] = {"**", "//", "==", "!=", ">=", "<="};
      std::string op;
      for (const char* o : kOps2)
        if (at(p, o)) op = o;
      if (op.empty() && std::string_view("+-/*%~[](){}><=.:|,;").find(c) != std::string_view::npos) op = c;
      if (op.empty()) {
        size_t q = p;
        const char32_t u = utf8_next(s_, q);
        std::string shown;
        utf8_append(u, shown);
        if (static_cast<unsigned char>(c) >= 0x80 && uni_isalpha(u)) {
          const SrcPos sp = pos_of(p);
          throw TemplateError(ErrorKind::kUnsupported, sp.line, sp.col, "non-ASCII identifiers are not supported");
        }
        fail(p, "unexpected char " + repr_string(shown));
      }
      if (op == "{" || op == "(" || op == "[") {
        balance.push_back(op == "{" ? '}' : op == "(" ? ')' : ']');
      } else if (op == "}" || op == ")" || op == "]") {
        if (balance.empty()) fail(p, "unexpected '" + op + "'");
        const char want = balance.back();
        balance.pop_back();
        if (want != op[0]) fail(p, "unexpected '" + op + "', expected '" + std::string(1, want) + "'");
      }
      emit(Tok::kOp, op, p);
      p += op.size();
    }
  }
  return p;  // end of template inside a tag: the parser reports what it expected
}

// (\d+_)*\d+ : digits with single underscores between them; returns the end or npos.
size_t Scanner::digits(size_t p) const {
  if (!is_digit(ch(p))) return std::string::npos;
  ++p;
  while (true) {
    if (is_digit(ch(p))) {
      ++p;
    } else if (ch(p) == '_' && is_digit(ch(p + 1))) {
      p += 2;
    } else {
      return p;
    }
  }
}

size_t Scanner::lex_number(size_t p) {
  // float: (?<!\.)(\d+_)*\d+((\.(\d+_)*\d+)?e[+\-]?(\d+_)*\d+|\.(\d+_)*\d+)
  if (p == 0 || s_[p - 1] != '.') {
    const size_t ip = digits(p);
    size_t end = std::string::npos;
    size_t q = ip;
    if (ch(q) == '.' && digits(q + 1) != std::string::npos) q = digits(q + 1);
    if (ch(q) == 'e' || ch(q) == 'E') {
      size_t r = q + 1;
      if (ch(r) == '+' || ch(r) == '-') ++r;
      if (digits(r) != std::string::npos) end = digits(r);
    }
    if (end == std::string::npos && q != ip) end = q;
    if (end != std::string::npos) {
      std::string text;
      for (size_t i = p; i < end; ++i)
        if (s_[i] != '_') text += s_[i];
      double v = 0;
      std::from_chars(text.data(), text.data() + text.size(), v);
      emit(Tok::kFloat, text, p).fval = v;
      return end;
    }
  }
  // integer: 0b(_?[0-1])+ | 0o(_?[0-7])+ | 0x(_?[\da-f])+ | [1-9](_?\d)* | 0(_?0)*
  auto prefixed = [&](int base) -> size_t {
    size_t q = p + 2;
    auto ok = [&](char c) {
      const char l = char(c | 0x20);
      return base == 16 ? (is_digit(c) || (l >= 'a' && l <= 'f')) : (c >= '0' && c < char('0' + base));
    };
    size_t end = std::string::npos;
    while (true) {
      const size_t r = ch(q) == '_' ? q + 1 : q;
      if (!ok(ch(r))) return end;
      q = r + 1, end = q;
    }
  };
  size_t end = std::string::npos;
  int base = 10;
  const char x = char(ch(p + 1) | 0x20);
  if (s_[p] == '0' && (x == 'b' || x == 'o' || x == 'x')) {
    base = x == 'b' ? 2 : x == 'o' ? 8 : 16;
    end = prefixed(base);
    if (end == std::string::npos) base = 10;
  }
  if (end == std::string::npos) {
    end = p + 1;
    const char want = s_[p] == '0' ? '0' : '\0';
    while (true) {
      const size_t r = ch(end) == '_' ? end + 1 : end;
      if (want ? ch(r) != '0' : !is_digit(ch(r))) break;
      end = r + 1;
    }
  }
  std::string text;
  for (size_t i = p + (base == 10 ? 0 : 2); i < end; ++i)
    if (s_[i] != '_') text += s_[i];
  int64_t v = 0;
  const auto res = std::from_chars(text.data(), text.data() + text.size(), v, base);
  if (res.ec != std::errc()) {
    const SrcPos sp = pos_of(p);
    throw TemplateError(ErrorKind::kUnsupported, sp.line, sp.col, "integer literal beyond 64 bits");
  }
  emit(Tok::kInt, s_.substr(p, end - p), p).ival = v;
  return end;
}

// ('([^'\\]*(?:\\.[^'\\]*)*)'|"...") then .encode("ascii", "backslashreplace").decode("unicode-escape")
size_t Scanner::lex_string(size_t p) {
  const char q = s_[p];
  size_t e = p + 1;
  while (e < s_.size() && s_[e] != q) e += (s_[e] == '\\') ? 2 : 1;
  if (e >= s_.size()) fail(p, std::string("unexpected char ") + (q == '\'' ? "\"'\"" : "'\"'"));
  const std::string_view body = std::string_view(s_).substr(p + 1, e - p - 1);
  std::string out;
  auto hex = [&](size_t& i, int n, const char* what) -> char32_t {
    char32_t v = 0;
    for (int k = 0; k < n; ++k, ++i) {
      const char c = i < body.size() ? body[i] : '\0';
      const char l = char(c | 0x20);
      if (!is_digit(c) && !(l >= 'a' && l <= 'f')) fail(p, std::string("truncated ") + what + " escape");
      v = v * 16 + char32_t(is_digit(c) ? c - '0' : l - 'a' + 10);
    }
    return v;
  };
  for (size_t i = 0; i < body.size();) {
    const char32_t c = utf8_next(body, i);
    if (c != '\\') {
      utf8_append(c, out);
      continue;
    }
    const char32_t n = utf8_next(body, i);
    char buf[16];
    switch (n) {
      case '\n':
        break;
      case '\\':
        out += '\\';
        break;
      case '\'':
        out += '\'';
        break;
      case '"':
        out += '"';
        break;
      case 'a':
        out += '\a';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'v':
        out += '\v';
        break;
      case 'x':
        utf8_append(hex(i, 2, "\\xXX"), out);
        break;
      case 'u':
        utf8_append(hex(i, 4, "\\uXXXX"), out);
        break;
      case 'U': {
        const char32_t v = hex(i, 8, "\\UXXXXXXXX");
        if (v > 0x10FFFF) fail(p, "illegal Unicode character");
        utf8_append(v, out);
        break;
      }
      case 'N': {
        const SrcPos sp = pos_of(p);
        throw TemplateError(ErrorKind::kUnsupported, sp.line, sp.col, "\\N{...} escapes in string literals");
      }
      default:
        if (n >= '0' && n <= '7') {
          char32_t v = n - '0';
          for (int k = 0; k < 2 && i < body.size() && body[i] >= '0' && body[i] <= '7'; ++k, ++i)
            v = v * 8 + char32_t(body[i] - '0');
          utf8_append(v, out);
        } else if (n >= 0x80) {
          // backslashreplace turned the character into \xNN / \uNNNN / \UNNNNNNNN; the escaped
          // backslash before it then leaves that text literal.
          std::snprintf(buf, sizeof(buf), n < 0x100 ? "\\x%02x" : n < 0x10000 ? "\\u%04x" : "\\U%08x", unsigned(n));
          out += buf;
        } else {
          out += '\\';
          utf8_append(n, out);
        }
    }
  }
  emit(Tok::kString, std::move(out), p);
  return e + 1;
}

}  // namespace

TemplateError::TemplateError(ErrorKind kind, int line, int col, const std::string& detail)
    : slm::Error("[chat_template] " + kind_label(kind) +
                 (line > 0 ? " at line " + std::to_string(line) + ", column " + std::to_string(col) : "") + ": " +
                 detail),
      kind_(kind),
      line_(line),
      col_(col),
      detail_(detail) {}

std::vector<Token> tokenize(const std::string& source) {
  // Newlines are normalised to \n and one trailing newline dropped (keep_trailing_newline=False).
  std::string src;
  src.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      src += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      src += source[i];
    }
  }
  if (!src.empty() && src.back() == '\n') src.pop_back();
  return Scanner(std::move(src)).run();
}

std::string describe(const Token& t) {
  switch (t.type) {
    case Tok::kData:
      return "template data / text";
    case Tok::kVarBegin:
      return "begin of print statement";
    case Tok::kVarEnd:
      return "end of print statement";
    case Tok::kBlockBegin:
      return "begin of statement block";
    case Tok::kBlockEnd:
      return "end of statement block";
    case Tok::kName:
      return t.text;
    case Tok::kString:
      return "string";
    case Tok::kInt:
      return "integer";
    case Tok::kFloat:
      return "float";
    case Tok::kOp:
      return t.text;
    case Tok::kEof:
      return "end of template";
  }
  return "?";
}

}  // namespace slm::jinja
