// Tokenizer for chat templates: a port of jinja2's lexer state machine (jinja2/lexer.py) with the
// environment transformers uses: default delimiters, trim_blocks=True, lstrip_blocks=True,
// keep_trailing_newline=False, no line statements. `{%- -%}` / `{%+ +%}` whitespace control,
// raw blocks, string escapes and numeric literals follow jinja2 exactly.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "models/chat/jinja_value.h"
#include "tensor/error.h"

namespace slm::jinja {

// Every error the interpreter reports: syntax, unsupported construct, runtime failure, or a
// template's own raise_exception(). `what()` is the full message; `detail()` the bare text
// (for kRaised: exactly the template's message).
class TemplateError : public slm::Error {
 public:
  TemplateError(ErrorKind kind, int line, int col, const std::string& detail);
  ErrorKind kind() const { return kind_; }
  int line() const { return line_; }
  int column() const { return col_; }
  const std::string& detail() const { return detail_; }

 private:
  ErrorKind kind_;
  int line_, col_;
  std::string detail_;
};

struct SrcPos {
  int line = 0, col = 0;  // 1-based; 0 when unknown
};

enum class Tok : uint8_t { kData, kVarBegin, kVarEnd, kBlockBegin, kBlockEnd, kName, kString, kInt, kFloat, kOp, kEof };

struct Token {
  Tok type;
  std::string text;  // data, name, string value (unescaped), operator
  int64_t ival = 0;
  double fval = 0;
  SrcPos pos;
};

std::vector<Token> tokenize(const std::string& source);

// Human description of a token for error messages, as jinja2 describes it.
std::string describe(const Token& t);

}  // namespace slm::jinja
