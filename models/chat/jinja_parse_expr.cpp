// Expressions of the chat-template parser (see jinja_parser.h): jinja2/parser.py's precedence
// climbing from conditional expressions down to primaries, subscripts, calls, filters and tests.
// Unknown filters and tests fail here, at load time, as jinja2 fails at compile time.
#include "models/chat/jinja_builtins.h"
#include "models/chat/jinja_parser.h"

namespace slm::jinja {

bool Parser::is_tuple_end(const std::vector<std::string>& extra_end) const {
  if (cur().type == Tok::kVarEnd || cur().type == Tok::kBlockEnd || is_op(")")) return true;
  if (cur().type == Tok::kName)
    for (const auto& e : extra_end)
      if (cur().text == e) return true;
  return false;
}

ExprPtr Parser::parse_tuple(bool with_condexpr, const std::vector<std::string>& extra_end, bool explicit_parens) {
  const SrcPos p = cur().pos;
  std::vector<ExprPtr> args;
  bool is_tuple = false;
  while (true) {
    if (!args.empty()) expect_op(",");
    if (is_tuple_end(extra_end)) break;
    args.push_back(with_condexpr ? parse_condexpr() : parse_or());
    if (is_op(",")) {
      is_tuple = true;
    } else {
      break;
    }
  }
  if (!is_tuple) {
    if (!args.empty()) return std::move(args[0]);
    if (!explicit_parens) fail("Expected an expression, got '" + describe(cur()) + "'");
  }
  auto e = make(ExprKind::kTuple, p);
  e->args = std::move(args);
  return e;
}

ExprPtr Parser::parse_expression() { return parse_condexpr(); }

ExprPtr Parser::parse_condexpr() {
  DepthGuard g(*this);
  SrcPos p = cur().pos;
  ExprPtr e = parse_or();
  while (skip_name("if")) {
    auto c = make(ExprKind::kCondExpr, p);
    ExprPtr test = parse_or();
    ExprPtr otherwise = skip_name("else") ? parse_condexpr() : nullptr;
    c->args.push_back(std::move(test));
    c->args.push_back(std::move(e));
    c->args.push_back(std::move(otherwise));
    e = std::move(c);
    p = cur().pos;
  }
  return e;
}

ExprPtr Parser::binary(const std::string& op, SrcPos p, ExprPtr a, ExprPtr b) {
  auto e = make(ExprKind::kBinary, p);
  e->name = op;
  e->args.push_back(std::move(a));
  e->args.push_back(std::move(b));
  return e;
}

ExprPtr Parser::parse_or() {
  const SrcPos p = cur().pos;
  ExprPtr e = parse_and();
  while (skip_name("or")) e = binary("or", p, std::move(e), parse_and());
  return e;
}

ExprPtr Parser::parse_and() {
  const SrcPos p = cur().pos;
  ExprPtr e = parse_not();
  while (skip_name("and")) e = binary("and", p, std::move(e), parse_not());
  return e;
}

ExprPtr Parser::parse_not() {
  DepthGuard g(*this);
  if (is_name("not")) {
    const SrcPos p = next().pos;
    return make1(ExprKind::kNot, p, parse_not());
  }
  return parse_compare();
}

ExprPtr Parser::parse_compare() {
  const SrcPos p = cur().pos;
  ExprPtr e = parse_math1();
  std::vector<std::string> ops;
  std::vector<ExprPtr> rhs;
  while (true) {
    if (cur().type == Tok::kOp &&
        (is_op("==") || is_op("!=") || is_op("<") || is_op("<=") || is_op(">") || is_op(">="))) {
      ops.push_back(next().text);
    } else if (skip_name("in")) {
      ops.push_back("in");
    } else if (is_name("not") && look().type == Tok::kName && look().text == "in") {
      next(), next();
      ops.push_back("notin");
    } else {
      break;
    }
    rhs.push_back(parse_math1());
  }
  if (ops.empty()) return e;
  auto c = make(ExprKind::kCompare, p);
  c->args.push_back(std::move(e));
  for (auto& r : rhs) c->args.push_back(std::move(r));
  c->ops = std::move(ops);
  return c;
}

ExprPtr Parser::parse_math1() {
  const SrcPos p = cur().pos;
  ExprPtr e = parse_concat();
  while (is_op("+") || is_op("-")) {
    const std::string op = next().text;
    e = binary(op, p, std::move(e), parse_concat());
  }
  return e;
}

ExprPtr Parser::parse_concat() {
  const SrcPos p = cur().pos;
  ExprPtr e = parse_math2();
  while (skip_op("~")) e = binary("~", p, std::move(e), parse_math2());
  return e;
}

ExprPtr Parser::parse_math2() {
  const SrcPos p = cur().pos;
  ExprPtr e = parse_pow();
  while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
    const std::string op = next().text;
    e = binary(op, p, std::move(e), parse_pow());
  }
  return e;
}

ExprPtr Parser::parse_pow() {
  const SrcPos p = cur().pos;
  ExprPtr e = parse_unary(true);
  while (skip_op("**")) e = binary("**", p, std::move(e), parse_unary(true));
  return e;
}

ExprPtr Parser::parse_unary(bool with_filter) {
  DepthGuard g(*this);
  const SrcPos p = cur().pos;
  ExprPtr e;
  if (skip_op("-")) {
    e = make1(ExprKind::kNeg, p, parse_unary(false));
  } else if (skip_op("+")) {
    e = make1(ExprKind::kPos, p, parse_unary(false));
  } else {
    e = parse_primary();
  }
  e = parse_postfix(std::move(e));
  if (with_filter) e = parse_filter_expr(std::move(e));
  return e;
}

ExprPtr Parser::parse_primary() {
  DepthGuard g(*this);
  const Token& tok = cur();
  const SrcPos p = tok.pos;
  if (tok.type == Tok::kName) {
    const std::string n = next().text;
    auto e = make(ExprKind::kConst, p);
    if (n == "true" || n == "True") {
      e->value = Value(true);
    } else if (n == "false" || n == "False") {
      e->value = Value(false);
    } else if (n == "none" || n == "None") {
      e->value = Value::none();
    } else {
      e->kind = ExprKind::kName;
      e->name = n;
      note_name_use(n);
    }
    return e;
  }
  if (tok.type == Tok::kString) {
    std::string s;
    while (cur().type == Tok::kString) s += next().text;
    auto e = make(ExprKind::kConst, p);
    e->value = Value(std::move(s));
    return e;
  }
  if (tok.type == Tok::kInt || tok.type == Tok::kFloat) {
    auto e = make(ExprKind::kConst, p);
    e->value = tok.type == Tok::kInt ? Value(tok.ival) : Value(tok.fval);
    next();
    return e;
  }
  if (is_op("(")) {
    next();
    ExprPtr e = parse_tuple(true, {}, true);
    expect_op(")");
    return e;
  }
  if (is_op("[")) {
    next();
    auto e = make(ExprKind::kList, p);
    while (!is_op("]")) {
      if (!e->args.empty()) expect_op(",");
      if (is_op("]")) break;
      e->args.push_back(parse_expression());
    }
    expect_op("]");
    return e;
  }
  if (is_op("{")) {
    next();
    auto e = make(ExprKind::kDict, p);
    while (!is_op("}")) {
      if (!e->args.empty()) expect_op(",");
      if (is_op("}")) break;
      e->args.push_back(parse_expression());
      expect_op(":");
      e->args.push_back(parse_expression());
    }
    expect_op("}");
    return e;
  }
  fail("unexpected '" + describe(tok) + "'");
}

// caller / varargs / kwargs referenced inside a macro body make the macro accept them.
void Parser::note_name_use(const std::string& n) {
  if (macros_.empty()) return;
  MacroDef* m = macros_.back();
  if (n == "caller") m->uses_caller = true;
  if (n == "varargs") m->uses_varargs = true;
  if (n == "kwargs") m->uses_kwargs = true;
}

ExprPtr Parser::parse_postfix(ExprPtr e) {
  while (true) {
    if (is_op(".") || is_op("[")) {
      e = parse_subscript(std::move(e));
    } else if (is_op("(")) {
      e = parse_call(std::move(e));
    } else {
      return e;
    }
  }
}

ExprPtr Parser::parse_filter_expr(ExprPtr e) {
  while (true) {
    if (is_op("|")) {
      e = parse_filter(std::move(e), false);
    } else if (is_name("is")) {
      e = parse_test(std::move(e));
    } else if (is_op("(")) {
      e = parse_call(std::move(e));
    } else {
      return e;
    }
  }
}

ExprPtr Parser::parse_subscript(ExprPtr node) {
  const Token tok = next();
  if (tok.text == ".") {
    const Token attr = next();
    if (attr.type == Tok::kName) {
      auto e = make1(ExprKind::kGetattr, tok.pos, std::move(node));
      e->name = attr.text;
      return e;
    }
    if (attr.type != Tok::kInt) fail_at(attr.pos, "expected name or number");
    auto idx = make(ExprKind::kConst, attr.pos);
    idx->value = Value(attr.ival);
    auto e = make1(ExprKind::kGetitem, tok.pos, std::move(node));
    e->args.push_back(std::move(idx));
    return e;
  }
  std::vector<ExprPtr> args;
  while (!is_op("]")) {
    if (!args.empty()) expect_op(",");
    args.push_back(parse_subscribed());
  }
  expect_op("]");
  auto e = make1(ExprKind::kGetitem, tok.pos, std::move(node));
  if (args.size() == 1) {
    e->args.push_back(std::move(args[0]));
  } else {
    auto t = make(ExprKind::kTuple, tok.pos);
    t->args = std::move(args);
    e->args.push_back(std::move(t));
  }
  return e;
}

ExprPtr Parser::parse_subscribed() {
  const SrcPos p = cur().pos;
  std::vector<ExprPtr> parts;
  if (skip_op(":")) {
    parts.push_back(nullptr);
  } else {
    ExprPtr node = parse_expression();
    if (!skip_op(":")) return node;
    parts.push_back(std::move(node));
  }
  if (is_op(":") || is_op("]") || is_op(",")) {
    parts.push_back(nullptr);
  } else {
    parts.push_back(parse_expression());
  }
  if (skip_op(":")) {
    parts.push_back(is_op("]") || is_op(",") ? nullptr : parse_expression());
  } else {
    parts.push_back(nullptr);
  }
  auto e = make(ExprKind::kSlice, p);
  e->args = std::move(parts);
  return e;
}

CallSpec Parser::parse_call_args() {
  const SrcPos p = cur().pos;
  expect_op("(");
  CallSpec c;
  bool need_comma = false;
  auto ensure = [&](bool ok) {
    if (!ok) fail_at(p, "invalid syntax for function call expression");
  };
  while (!is_op(")")) {
    if (need_comma) {
      expect_op(",");
      if (is_op(")")) break;
    }
    if (skip_op("*")) {
      ensure(!c.dyn_args && !c.dyn_kwargs);
      c.dyn_args = parse_expression();
    } else if (skip_op("**")) {
      ensure(!c.dyn_kwargs);
      c.dyn_kwargs = parse_expression();
    } else if (cur().type == Tok::kName && look().type == Tok::kOp && look().text == "=") {
      ensure(!c.dyn_kwargs);
      std::string key = next().text;
      next();
      c.kwargs.emplace_back(std::move(key), parse_expression());
    } else {
      ensure(!c.dyn_args && !c.dyn_kwargs && c.kwargs.empty());
      c.args.push_back(parse_expression());
    }
    need_comma = true;
  }
  expect_op(")");
  return c;
}

ExprPtr Parser::parse_call(ExprPtr node) {
  const SrcPos p = cur().pos;
  auto e = make1(ExprKind::kCall, p, std::move(node));
  e->call = parse_call_args();
  return e;
}

std::string Parser::dotted_name() {
  std::string n = expect_name();
  while (skip_op(".")) n += "." + expect_name();
  return n;
}

ExprPtr Parser::parse_filter(ExprPtr node, bool start_inline) {
  while (is_op("|") || start_inline) {
    if (!start_inline) next();
    const SrcPos p = cur().pos;
    const std::string name = dotted_name();
    check_filter_name(name, p);
    auto e = make1(ExprKind::kFilter, p, std::move(node));
    e->name = name;
    if (is_op("(")) e->call = parse_call_args();
    node = std::move(e);
    start_inline = false;
  }
  return node;
}

ExprPtr Parser::parse_test(ExprPtr node) {
  const SrcPos p = next().pos;  // 'is'
  const bool negated = skip_name("not");
  const SrcPos np = cur().pos;
  const std::string name = dotted_name();
  check_test_name(name, np);
  auto e = make1(ExprKind::kTest, p, std::move(node));
  e->name = name;
  if (is_op("(")) {
    e->call = parse_call_args();
  } else if ((cur().type == Tok::kName || cur().type == Tok::kString || cur().type == Tok::kInt ||
              cur().type == Tok::kFloat || is_op("[") || is_op("{")) &&
             !is_name("else") && !is_name("or") && !is_name("and")) {
    if (is_name("is")) fail("You cannot chain multiple tests with is");
    e->call.args.push_back(parse_postfix(parse_primary()));
  }
  return negated ? make1(ExprKind::kNot, p, std::move(e)) : std::move(e);
}

void Parser::check_filter_name(const std::string& name, SrcPos p) {
  switch (filter_support(name)) {
    case Support::kYes:
      return;
    case Support::kNo:
      fail_at(p, "filter '" + name + "' is not implemented", ErrorKind::kUnsupported);
    case Support::kUnknown:
      fail_at(p, "No filter named '" + name + "'.");
  }
}

void Parser::check_test_name(const std::string& name, SrcPos p) {
  switch (test_support(name)) {
    case Support::kYes:
      return;
    case Support::kNo:
      fail_at(p, "test '" + name + "' is not implemented", ErrorKind::kUnsupported);
    case Support::kUnknown:
      fail_at(p, "No test named '" + name + "'.");
  }
}
}  // namespace slm::jinja
