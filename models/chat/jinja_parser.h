// The recursive-descent parser for chat templates, shared by jinja_parse_stmt.cpp (statements) and
// jinja_parse_expr.cpp (expressions): a port of jinja2/parser.py with the same precedence and the
// same tuple / test / filter rules, building the tree of jinja_ast.h. Internal to models/chat.
#pragma once
#include <algorithm>
#include <string>
#include <vector>

#include "models/chat/jinja_ast.h"

namespace slm::jinja {

constexpr int kMaxDepth = 200;  // nesting limit for expressions and blocks (stack safety)

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : t_(std::move(toks)) {}

  Body parse_all() {
    Body body = subparse({});
    if (cur().type != Tok::kEof) fail_unknown_end();
    return body;
  }

 private:
  std::vector<Token> t_;
  size_t i_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
  std::vector<MacroDef*> macros_;  // enclosing macro definitions (for caller/varargs/kwargs use)
  std::vector<std::string> tag_stack_;
  std::vector<std::vector<std::string>> end_stack_;

  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& pp) : p(pp) {
      if (++p.depth_ > kMaxDepth) p.fail("template nested too deeply (more than 200 levels)", ErrorKind::kUnsupported);
    }
    ~DepthGuard() { --p.depth_; }
  };

  const Token& cur() const { return t_[i_]; }
  const Token& look() const { return t_[std::min(i_ + 1, t_.size() - 1)]; }
  const Token& next() {
    const Token& t = t_[i_];
    if (i_ + 1 < t_.size()) ++i_;
    return t;
  }
  bool is_name(const char* n) const { return cur().type == Tok::kName && cur().text == n; }
  bool is_op(const char* o) const { return cur().type == Tok::kOp && cur().text == o; }
  bool skip_name(const char* n) {
    if (!is_name(n)) return false;
    next();
    return true;
  }
  bool skip_op(const char* o) {
    if (!is_op(o)) return false;
    next();
    return true;
  }

  [[noreturn]] void fail(const std::string& msg, ErrorKind kind = ErrorKind::kSyntax) const {
    fail_at(cur().pos, msg, kind);
  }
  [[noreturn]] static void fail_at(SrcPos p, const std::string& msg, ErrorKind kind = ErrorKind::kSyntax) {
    throw TemplateError(kind, p.line, p.col, msg);
  }
  void expect_fail(const std::string& what) const {
    if (cur().type == Tok::kEof) fail("unexpected end of template, expected '" + what + "'.");
    fail("expected token '" + what + "', got '" + describe(cur()) + "'");
  }
  void expect_op(const char* o) {
    if (!skip_op(o)) expect_fail(o);
  }
  void expect_type(Tok ty, const char* what) {
    if (cur().type != ty) expect_fail(what);
    next();
  }
  std::string expect_name() {
    if (cur().type != Tok::kName) expect_fail("name");
    return next().text;
  }
  void expect_block_end() { expect_type(Tok::kBlockEnd, "end of statement block"); }

  [[noreturn]] void fail_unknown_end(const std::string* tag = nullptr) const {
    std::string msg = tag ? "Encountered unknown tag '" + *tag + "'." : "Unexpected end of template.";
    if (!end_stack_.empty()) {
      std::string looking;
      for (const auto& e : end_stack_.back()) looking += (looking.empty() ? "'" : " or '") + e + "'";
      msg += " Jinja was looking for the following tags: " + looking + ".";
    }
    if (!tag_stack_.empty()) msg += " The innermost block that needs to be closed is '" + tag_stack_.back() + "'.";
    fail(msg);
  }

  static ExprPtr make(ExprKind k, SrcPos p) {
    auto e = std::make_unique<Expr>();
    e->kind = k;
    e->pos = p;
    return e;
  }
  static ExprPtr make1(ExprKind k, SrcPos p, ExprPtr a) {
    auto e = make(k, p);
    e->args.push_back(std::move(a));
    return e;
  }

  // ---- statements ----
  Body subparse(const std::vector<std::string>& end_tokens);
  Body parse_statements(const std::vector<std::string>& end_tokens, bool drop_needle = false);
  StmtPtr parse_statement();
  void parse_for(Stmt& s);
  void parse_if(Stmt& s);
  void parse_if_tail(Stmt& s);
  void parse_set(Stmt& s);
  Target parse_target(bool with_namespace, const std::vector<std::string>& extra_end);
  void parse_signature(MacroDef& m);
  void parse_macro(Stmt& s);
  void parse_call_block(Stmt& s);
  void parse_with(Stmt& s);
  // ---- expressions ----
  bool is_tuple_end(const std::vector<std::string>& extra_end) const;
  ExprPtr parse_tuple(bool with_condexpr, const std::vector<std::string>& extra_end, bool explicit_parens = false);
  ExprPtr parse_expression();
  ExprPtr parse_condexpr();
  ExprPtr binary(const std::string& op, SrcPos p, ExprPtr a, ExprPtr b);
  ExprPtr parse_or();
  ExprPtr parse_and();
  ExprPtr parse_not();
  ExprPtr parse_compare();
  ExprPtr parse_math1();
  ExprPtr parse_concat();
  ExprPtr parse_math2();
  ExprPtr parse_pow();
  ExprPtr parse_unary(bool with_filter);
  ExprPtr parse_primary();
  void note_name_use(const std::string& n);
  ExprPtr parse_postfix(ExprPtr e);
  ExprPtr parse_filter_expr(ExprPtr e);
  ExprPtr parse_subscript(ExprPtr node);
  ExprPtr parse_subscribed();
  CallSpec parse_call_args();
  ExprPtr parse_call(ExprPtr node);
  std::string dotted_name();
  ExprPtr parse_filter(ExprPtr node, bool start_inline);
  ExprPtr parse_test(ExprPtr node);
  static void check_filter_name(const std::string& name, SrcPos p);
  static void check_test_name(const std::string& name, SrcPos p);
};

}  // namespace slm::jinja
