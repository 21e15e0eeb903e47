// Statements of the chat-template parser (see jinja_parser.h): the tags of jinja2/parser.py that
// chat templates use. Template inheritance, includes, imports, autoescape and recursive loops are
// refused here, at load time, with their line and column.
#include "models/chat/jinja_parser.h"

namespace slm::jinja {

Body Parser::subparse(const std::vector<std::string>& end_tokens) {
  DepthGuard g(*this);
  Body body;
  if (!end_tokens.empty()) end_stack_.push_back(end_tokens);
  while (cur().type != Tok::kEof) {
    const Token& tok = cur();
    if (tok.type == Tok::kData) {
      auto s = std::make_unique<Stmt>();
      s->kind = StmtKind::kOutput;
      s->pos = tok.pos;
      s->text = tok.text;
      body.push_back(std::move(s));
      next();
    } else if (tok.type == Tok::kVarBegin) {
      next();
      auto s = std::make_unique<Stmt>();
      s->kind = StmtKind::kPrint;
      s->pos = cur().pos;
      s->expr = parse_tuple(true, {});
      expect_type(Tok::kVarEnd, "end of print statement");
      body.push_back(std::move(s));
    } else if (tok.type == Tok::kBlockBegin) {
      next();
      if (cur().type == Tok::kName)
        for (const auto& e : end_tokens)
          if (cur().text == e) {
            end_stack_.pop_back();
            return body;
          }
      body.push_back(parse_statement());
      expect_block_end();
    } else {
      fail("unexpected '" + describe(tok) + "'");
    }
  }
  if (!end_tokens.empty()) end_stack_.pop_back();
  return body;
}

// parse_statements: body up to one of end_tokens; leaves the end tag name as current token.
Body Parser::parse_statements(const std::vector<std::string>& end_tokens, bool drop_needle) {
  skip_op(":");
  expect_block_end();
  Body body = subparse(end_tokens);
  if (cur().type == Tok::kEof) {
    end_stack_.push_back(end_tokens);
    fail_unknown_end();
  }
  if (drop_needle) next();
  return body;
}

StmtPtr Parser::parse_statement() {
  if (cur().type != Tok::kName) fail("tag name expected");
  const std::string tag = cur().text;
  tag_stack_.push_back(tag);
  auto s = std::make_unique<Stmt>();
  s->pos = cur().pos;
  if (tag == "for") {
    parse_for(*s);
  } else if (tag == "if") {
    parse_if(*s);
  } else if (tag == "set") {
    parse_set(*s);
  } else if (tag == "macro") {
    parse_macro(*s);
  } else if (tag == "call") {
    parse_call_block(*s);
  } else if (tag == "filter") {
    next();
    s->kind = StmtKind::kFilterBlock;
    s->expr = parse_filter(nullptr, true);
    s->body = parse_statements({"endfilter"}, true);
  } else if (tag == "with") {
    parse_with(*s);
  } else if (tag == "print") {
    next();
    s->kind = StmtKind::kPrint;
    std::vector<ExprPtr> items;
    while (cur().type != Tok::kBlockEnd) {
      if (!items.empty()) expect_op(",");
      items.push_back(parse_expression());
    }
    auto tup = make(ExprKind::kTuple, s->pos);
    if (items.size() == 1) {
      s->expr = std::move(items[0]);
    } else {  // print a, b writes both, one after the other
      for (auto& x : items) tup->args.push_back(std::move(x));
      s->expr = std::move(tup);
      s->text = "multi";
    }
  } else if (tag == "break" || tag == "continue") {
    if (loop_depth_ == 0) fail("'" + tag + "' outside loop");
    next();
    s->kind = tag == "break" ? StmtKind::kBreak : StmtKind::kContinue;
  } else if (tag == "generation") {
    next();
    s->kind = StmtKind::kGeneration;
    s->body = parse_statements({"endgeneration"}, true);
  } else if (tag == "block" || tag == "extends" || tag == "include" || tag == "import" || tag == "from" ||
             tag == "autoescape" || tag == "raw") {
    fail("the '" + tag + "' tag (templates are rendered standalone, as a chat template is)", ErrorKind::kUnsupported);
  } else {
    tag_stack_.pop_back();
    fail_unknown_end(&tag);
  }
  tag_stack_.pop_back();
  return s;
}

void Parser::parse_for(Stmt& s) {
  next();
  s.kind = StmtKind::kFor;
  s.target = parse_target(false, {"in"});
  if (!skip_name("in")) expect_fail("in");
  s.expr = parse_tuple(false, {"recursive"});
  if (skip_name("if")) s.cond = parse_expression();
  if (is_name("recursive")) fail("recursive for loops", ErrorKind::kUnsupported);
  ++loop_depth_;
  s.body = parse_statements({"endfor", "else"});
  --loop_depth_;
  if (next().text == "else") s.else_body = parse_statements({"endfor"}, true);
}

void Parser::parse_if(Stmt& s) {
  next();
  s.kind = StmtKind::kIf;
  parse_if_tail(s);
}

void Parser::parse_if_tail(Stmt& s) {
  s.expr = parse_tuple(false, {});
  s.body = parse_statements({"elif", "else", "endif"});
  const std::string tok = next().text;
  if (tok == "elif") {
    auto e = std::make_unique<Stmt>();
    e->pos = cur().pos;
    e->kind = StmtKind::kIf;
    parse_if_tail(*e);
    s.else_body.push_back(std::move(e));
  } else if (tok == "else") {
    s.else_body = parse_statements({"endif"}, true);
  }
}

void Parser::parse_set(Stmt& s) {
  next();
  s.target = parse_target(true, {});
  if (skip_op("=")) {
    s.kind = StmtKind::kSet;
    s.expr = parse_tuple(true, {});
    return;
  }
  s.kind = StmtKind::kSetBlock;
  if (!s.target.ns_attr.empty()) fail("namespace attribute targets in a set block", ErrorKind::kUnsupported);
  s.expr = parse_filter(nullptr, false);
  s.body = parse_statements({"endset"}, true);
}

// parse_assign_target: a name, `ns.attr` (set only), or a tuple of names.
Target Parser::parse_target(bool with_namespace, const std::vector<std::string>& extra_end) {
  Target t;
  const SrcPos p = cur().pos;
  while (true) {
    if (!t.names.empty()) expect_op(",");
    if (is_tuple_end(extra_end)) break;
    if (cur().type != Tok::kName) fail("can't assign to '" + describe(cur()) + "'");
    const std::string n = next().text;
    if (n == "true" || n == "false" || n == "none" || n == "True" || n == "False" || n == "None")
      fail_at(p, "can't assign to 'const'");
    if (with_namespace && is_op(".")) {
      next();
      t.ns_attr = expect_name();
      if (!t.names.empty()) fail_at(p, "namespace attributes in tuple targets", ErrorKind::kUnsupported);
    }
    t.names.push_back(n);
    if (!is_op(",")) break;
    t.is_tuple = true;
    if (!t.ns_attr.empty()) fail_at(p, "namespace attributes in tuple targets", ErrorKind::kUnsupported);
  }
  if (t.names.empty()) fail_at(p, "can't assign to 'tuple'");
  return t;
}

void Parser::parse_signature(MacroDef& m) {
  expect_op("(");
  while (!is_op(")")) {
    if (!m.params.empty()) expect_op(",");
    m.params.push_back(expect_name());
    if (skip_op("=")) {
      m.defaults.push_back(parse_expression());
    } else if (!m.defaults.empty()) {
      fail("non-default argument follows default argument");
    }
  }
  expect_op(")");
}

void Parser::parse_macro(Stmt& s) {
  next();
  s.kind = StmtKind::kMacro;
  s.macro = std::make_shared<MacroDef>();
  s.macro->name = expect_name();
  parse_signature(*s.macro);
  macros_.push_back(s.macro.get());
  const int saved_loops = loop_depth_;
  loop_depth_ = 0;
  s.macro->body = parse_statements({"endmacro"}, true);
  loop_depth_ = saved_loops;
  macros_.pop_back();
}

void Parser::parse_call_block(Stmt& s) {
  next();
  s.kind = StmtKind::kCallBlock;
  s.macro = std::make_shared<MacroDef>();
  s.macro->name = "caller";
  if (is_op("(")) parse_signature(*s.macro);
  s.expr = parse_expression();
  if (s.expr->kind != ExprKind::kCall) fail_at(s.pos, "expected call");
  macros_.push_back(s.macro.get());
  s.macro->body = parse_statements({"endcall"}, true);
  macros_.pop_back();
}

void Parser::parse_with(Stmt& s) {
  next();
  s.kind = StmtKind::kWith;
  while (cur().type != Tok::kBlockEnd) {
    if (!s.with_names.empty()) expect_op(",");
    s.with_names.push_back(expect_name());
    expect_op("=");
    s.with_values.push_back(parse_expression());
  }
  s.body = parse_statements({"endwith"}, true);
}
std::shared_ptr<const Template> parse_template(const std::string& source) {
  auto t = std::make_shared<Template>();
  t->body = Parser(tokenize(source)).parse_all();
  analyze_scopes(*t);
  return t;
}

}  // namespace slm::jinja
