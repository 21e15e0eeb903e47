// The tree-walking evaluator of slm's Jinja interpreter (see jinja_eval.h). Mirrors what jinja2's
// compiler generates for each node (jinja2/compiler.py) rather than its code generation.
#include "models/chat/jinja_eval.h"

#include <memory>

#include "models/chat/jinja_builtins.h"

namespace slm::jinja {

namespace {

struct Scope {
  std::shared_ptr<Scope> parent;
  std::vector<std::pair<std::string, Value>> vars;

  explicit Scope(std::shared_ptr<Scope> p) : parent(std::move(p)) {}
  const Value* find(const std::string& n) const {
    for (const Scope* s = this; s; s = s->parent.get())
      for (const auto& [k, v] : s->vars)
        if (k == n) return &v;
    return nullptr;
  }
  void set(const std::string& n, Value v) {
    for (auto& kv : vars)
      if (kv.first == n) {
        kv.second = std::move(v);
        return;
      }
    vars.emplace_back(n, std::move(v));
  }
};
using ScopePtr = std::shared_ptr<Scope>;

// A new frame: names jinja2 starts undefined in it shadow the enclosing scopes (jinja_scope.cpp).
ScopePtr frame(const ScopePtr& parent, const std::vector<std::string>& undefined_names) {
  auto s = std::make_shared<Scope>(parent);
  for (const auto& n : undefined_names) s->vars.emplace_back(n, Value::undefined("'" + n + "' is undefined"));
  return s;
}

enum class Flow { kNormal, kBreak, kContinue };

class Evaluator;

struct MacroObj : Object {
  std::shared_ptr<MacroDef> def;
  ScopePtr scope;  // where the macro was defined; reset when the render ends (breaks cycles)
  Evaluator* ev;
  MacroObj(std::shared_ptr<MacroDef> d, ScopePtr s, Evaluator* e) : def(std::move(d)), scope(std::move(s)), ev(e) {}
  std::string type_name() const override { return "jinja2.runtime.Macro object"; }
  bool callable() const override { return true; }
  Value call(CallArgs& args) override;
  bool getattr(const std::string& name, Value& out) const override {
    if (name == "name") {
      out = Value(def->name);
    } else if (name == "arguments") {
      ValueList ps;
      for (const auto& p : def->params) ps.emplace_back(p);
      out = Value::tuple(std::move(ps));
    } else if (name == "catch_kwargs" || name == "catch_varargs" || name == "caller") {
      out = Value(name == "caller" ? def->uses_caller : name == "catch_kwargs" ? def->uses_kwargs : def->uses_varargs);
    } else {
      return false;
    }
    return true;
  }
  std::string to_str() const override { return "<Macro " + repr_string(def->name) + ">"; }
};

struct LoopObj : Object {
  std::shared_ptr<const ValueList> items;
  int64_t index0 = 0;
  std::optional<ValueList> last_changed;
  std::string type_name() const override { return "jinja2.runtime.LoopContext object"; }
  int64_t length() const { return int64_t(items->size()); }
  bool getattr(const std::string& name, Value& out) const override {
    const int64_t n = length();
    if (name == "index0") {
      out = Value(index0);
    } else if (name == "index") {
      out = Value(index0 + 1);
    } else if (name == "revindex") {
      out = Value(n - index0);
    } else if (name == "revindex0") {
      out = Value(n - index0 - 1);
    } else if (name == "first") {
      out = Value(index0 == 0);
    } else if (name == "last") {
      out = Value(index0 == n - 1);
    } else if (name == "length") {
      out = Value(n);
    } else if (name == "depth") {
      out = Value(int64_t(1));
    } else if (name == "depth0") {
      out = Value(int64_t(0));
    } else if (name == "previtem") {
      out = index0 > 0 ? (*items)[size_t(index0 - 1)] : Value::undefined("there is no previous item");
    } else if (name == "nextitem") {
      out = index0 + 1 < n ? (*items)[size_t(index0 + 1)] : Value::undefined("there is no next item");
    } else if (name == "cycle") {
      const int64_t i = index0;
      out = make_function("cycle", [i](CallArgs& a) -> Value {
        if (a.pos.empty()) type_error("no items for cycling given");
        return a.pos[size_t(i % int64_t(a.pos.size()))];
      });
    } else if (name == "changed") {
      auto self = const_cast<LoopObj*>(this);
      out = make_function("changed", [self](CallArgs& a) -> Value {
        ValueList now = a.pos;
        const bool same = self->last_changed && py_eq(Value::list(*self->last_changed), Value::list(now));
        if (same) return Value(false);
        self->last_changed = std::move(now);
        return Value(true);
      });
    } else {
      return false;
    }
    return true;
  }
  std::string to_str() const override {
    return "<LoopContext " + std::to_string(index0 + 1) + "/" + std::to_string(length()) + ">";
  }
};

class Evaluator {
 public:
  explicit Evaluator(const RenderOptions& o) : opt_(o) {}
  ~Evaluator() {
    for (auto& m : macros_) m->scope.reset();
    for (auto& n : namespaces_) n->attrs.entries.clear();
  }

  ScopePtr make_root(const Dict& context);
  Flow exec_body(const Body& body, const ScopePtr& sc, std::string& out);
  Value call_macro(MacroObj& m, CallArgs& args);

 private:
  const RenderOptions& opt_;
  uint64_t steps_ = 0;
  int macro_depth_ = 0;
  std::vector<std::shared_ptr<MacroObj>> macros_;
  std::vector<std::shared_ptr<Namespace>> namespaces_;

  void step() {
    if (++steps_ > opt_.max_steps)
      unsupported("a render of more than " + std::to_string(opt_.max_steps) +
                  " steps (is the template looping forever?)");
  }
  Flow exec(const Stmt& s, const ScopePtr& sc, std::string& out);
  Flow exec_inner(const Stmt& s, const ScopePtr& sc, std::string& out);
  Value eval(const Expr& e, const ScopePtr& sc);
  Value eval_inner(const Expr& e, const ScopePtr& sc);
  CallArgs eval_args(const CallSpec& c, const ScopePtr& sc);
  Value call_value(const Value& callee, CallArgs& args);
  Value apply_filter_chain(const Expr& chain, Value v, const ScopePtr& sc);
  void assign(const Target& t, const Value& v, const ScopePtr& sc);
  Value make_macro(const std::shared_ptr<MacroDef>& def, const ScopePtr& sc);
  void append(std::string& out, const std::string& s) {
    out += s;
    if (out.size() > opt_.max_output)
      unsupported("an output larger than " + std::to_string(opt_.max_output) + " bytes");
  }
};

Value MacroObj::call(CallArgs& args) { return ev->call_macro(*this, args); }

Value Evaluator::make_macro(const std::shared_ptr<MacroDef>& def, const ScopePtr& sc) {
  auto m = std::make_shared<MacroObj>(def, sc, this);
  macros_.push_back(m);
  return Value(std::shared_ptr<Object>(m));
}

ScopePtr Evaluator::make_root(const Dict& context) {
  auto globals = std::make_shared<Scope>(nullptr);
  for (auto& [k, v] : make_globals(opt_.now, namespaces_)) globals->set(k, std::move(v));
  auto ctx = std::make_shared<Scope>(globals);
  for (const auto& [k, v] : context.entries) ctx->set(to_str(k), v);
  return ctx;
}

Flow Evaluator::exec_body(const Body& body, const ScopePtr& sc, std::string& out) {
  for (const auto& s : body) {
    const Flow f = exec(*s, sc, out);
    if (f != Flow::kNormal) return f;
  }
  return Flow::kNormal;
}

Flow Evaluator::exec(const Stmt& s, const ScopePtr& sc, std::string& out) {
  try {
    step();
    return exec_inner(s, sc, out);
  } catch (const OpError& e) {
    throw TemplateError(e.kind, s.pos.line, s.pos.col, e.what());
  }
}

void Evaluator::assign(const Target& t, const Value& v, const ScopePtr& sc) {
  if (!t.ns_attr.empty()) {
    const Value* ns = sc->find(t.names[0]);
    if (!ns || !ns->is_object() || !dynamic_cast<Namespace*>(&ns->object()))
      type_error("cannot assign attribute on non-namespace object");
    static_cast<Namespace&>(ns->object()).attrs.set(Value(t.ns_attr), v);
    return;
  }
  if (!t.is_tuple) {
    sc->set(t.names[0], v);
    return;
  }
  const ValueList items = iterate(v);
  if (items.size() < t.names.size())
    type_error("not enough values to unpack (expected " + std::to_string(t.names.size()) + ", got " +
               std::to_string(items.size()) + ")");
  if (items.size() > t.names.size())
    type_error("too many values to unpack (expected " + std::to_string(t.names.size()) + ")");
  for (size_t i = 0; i < items.size(); ++i) sc->set(t.names[i], items[i]);
}

Value Evaluator::apply_filter_chain(const Expr& chain, Value v, const ScopePtr& sc) {
  // A filter chain parsed with a null root: apply the inner filters first.
  if (chain.args[0]) v = apply_filter_chain(*chain.args[0], std::move(v), sc);
  try {
    return apply_filter(chain.name, v, eval_args(chain.call, sc));
  } catch (const OpError& e) {
    throw TemplateError(e.kind, chain.pos.line, chain.pos.col, e.what());
  }
}

Flow Evaluator::exec_inner(const Stmt& s, const ScopePtr& sc, std::string& out) {
  switch (s.kind) {
    case StmtKind::kOutput:
      append(out, s.text);
      return Flow::kNormal;
    case StmtKind::kPrint:
      if (s.text == "multi") {
        for (const auto& e : s.expr->args) append(out, to_str(eval(*e, sc)));
      } else {
        append(out, to_str(eval(*s.expr, sc)));
      }
      return Flow::kNormal;
    case StmtKind::kIf:
      return exec_body(truthy(eval(*s.expr, sc)) ? s.body : s.else_body, sc, out);
    case StmtKind::kFor: {
      ValueList items = iterate(eval(*s.expr, sc));
      if (s.cond) {
        ValueList kept;
        for (Value& item : items) {
          auto tmp = std::make_shared<Scope>(sc);
          assign(s.target, item, tmp);
          if (truthy(eval(*s.cond, tmp))) kept.push_back(std::move(item));
        }
        items = std::move(kept);
      }
      if (items.empty()) return exec_body(s.else_body, frame(sc, s.else_undefined), out);
      auto loop = std::make_shared<LoopObj>();
      loop->items = std::make_shared<const ValueList>(std::move(items));
      const Value loop_value{std::shared_ptr<Object>(loop)};
      for (size_t i = 0; i < loop->items->size(); ++i) {
        step();
        loop->index0 = int64_t(i);
        auto it = frame(sc, s.frame_undefined);
        assign(s.target, (*loop->items)[i], it);
        it->set("loop", loop_value);
        if (exec_body(s.body, it, out) == Flow::kBreak) break;
      }
      return Flow::kNormal;
    }
    case StmtKind::kSet:
      assign(s.target, eval(*s.expr, sc), sc);
      return Flow::kNormal;
    case StmtKind::kSetBlock: {
      std::string body;
      exec_body(s.body, frame(sc, s.frame_undefined), body);
      Value v(std::move(body));
      if (s.expr) v = apply_filter_chain(*s.expr, std::move(v), sc);
      assign(s.target, v, sc);
      return Flow::kNormal;
    }
    case StmtKind::kMacro:
      sc->set(s.macro->name, make_macro(s.macro, sc));
      return Flow::kNormal;
    case StmtKind::kCallBlock: {
      const Expr& call = *s.expr;
      const Value callee = eval(*call.args[0], sc);
      CallArgs args = eval_args(call.call, sc);
      args.kw.emplace_back("caller", make_macro(s.macro, sc));
      Value r;
      try {
        r = call_value(callee, args);
      } catch (const OpError& e) {
        throw TemplateError(e.kind, call.pos.line, call.pos.col, e.what());
      }
      append(out, to_str(r));
      return Flow::kNormal;
    }
    case StmtKind::kFilterBlock: {
      std::string body;
      exec_body(s.body, frame(sc, s.frame_undefined), body);
      append(out, to_str(apply_filter_chain(*s.expr, Value(std::move(body)), sc)));
      return Flow::kNormal;
    }
    case StmtKind::kWith: {
      auto inner = frame(sc, s.frame_undefined);
      for (size_t i = 0; i < s.with_names.size(); ++i) inner->set(s.with_names[i], eval(*s.with_values[i], sc));
      return exec_body(s.body, inner, out);
    }
    case StmtKind::kBreak:
      return Flow::kBreak;
    case StmtKind::kContinue:
      return Flow::kContinue;
    case StmtKind::kGeneration:
      return exec_body(s.body, frame(sc, s.frame_undefined), out);
  }
  return Flow::kNormal;
}

Value Evaluator::call_macro(MacroObj& m, CallArgs& args) {
  const MacroDef& d = *m.def;
  if (!m.scope) unsupported("calling a macro after its template finished rendering");
  if (++macro_depth_ > 200) unsupported("macro recursion deeper than 200 calls");
  struct Guard {
    int& d;
    ~Guard() { --d; }
  } guard{macro_depth_};
  auto sc = frame(m.scope, d.undefined_names);
  const size_t np = d.params.size();
  std::vector<std::optional<Value>> bound(np);
  ValueList varargs;
  for (size_t i = 0; i < args.pos.size(); ++i) {
    if (i < np) {
      bound[i] = args.pos[i];
    } else if (d.uses_varargs) {
      varargs.push_back(args.pos[i]);
    } else {
      type_error("macro '" + d.name + "' takes not more than " + std::to_string(np) + " argument(s)");
    }
  }
  Dict kwargs;
  Value caller;
  bool has_caller = false;
  for (auto& [k, v] : args.kw) {
    size_t idx = 0;
    while (idx < np && d.params[idx] != k) ++idx;
    if (idx < np) {
      if (bound[idx]) type_error("macro '" + d.name + "' got multiple values for argument '" + k + "'");
      bound[idx] = v;
    } else if (k == "caller" && d.uses_caller) {
      caller = v, has_caller = true;
    } else if (d.uses_kwargs) {
      kwargs.set(Value(k), v);
    } else {
      type_error("macro '" + d.name + "' takes no keyword argument '" + k + "'");
    }
  }
  const size_t first_default = np - d.defaults.size();
  for (size_t i = 0; i < np; ++i) {
    if (bound[i]) {
      sc->set(d.params[i], *bound[i]);
    } else if (i >= first_default) {
      sc->set(d.params[i], eval(*d.defaults[i - first_default], sc));
    } else {
      sc->set(d.params[i], Value::undefined("parameter '" + d.params[i] + "' was not provided"));
    }
  }
  if (d.uses_varargs) sc->set("varargs", Value::tuple(std::move(varargs)));
  if (d.uses_kwargs) sc->set("kwargs", Value::dict(std::move(kwargs)));
  if (d.uses_caller) sc->set("caller", has_caller ? caller : Value::undefined("No caller defined"));
  std::string out;
  exec_body(d.body, sc, out);
  return Value(std::move(out));
}

CallArgs Evaluator::eval_args(const CallSpec& c, const ScopePtr& sc) {
  CallArgs a;
  for (const auto& e : c.args) a.pos.push_back(eval(*e, sc));
  for (const auto& [k, e] : c.kwargs) a.kw.emplace_back(k, eval(*e, sc));
  if (c.dyn_args)
    for (Value& v : iterate(eval(*c.dyn_args, sc))) a.pos.push_back(std::move(v));
  if (c.dyn_kwargs) {
    const Value kw = eval(*c.dyn_kwargs, sc);
    if (!kw.is_dict()) type_error("argument after ** must be a mapping, not " + kw.type_name());
    for (const auto& [k, v] : kw.dict().entries) {
      if (!k.is_string()) type_error("keywords must be strings");
      a.kw.emplace_back(k.str(), v);
    }
  }
  return a;
}

Value Evaluator::call_value(const Value& callee, CallArgs& args) {
  if (callee.is_undefined()) raise_undefined(callee);
  if (callee.is_object() && callee.object().callable()) return callee.object().call(args);
  type_error("'" + callee.type_name() + "' object is not callable");
}

Value Evaluator::eval(const Expr& e, const ScopePtr& sc) {
  try {
    return eval_inner(e, sc);
  } catch (const OpError& err) {
    throw TemplateError(err.kind, e.pos.line, e.pos.col, err.what());
  }
}

Value Evaluator::eval_inner(const Expr& e, const ScopePtr& sc) {
  switch (e.kind) {
    case ExprKind::kConst:
      return e.value;
    case ExprKind::kName: {
      const Value* v = sc->find(e.name);
      return v ? *v : Value::undefined("'" + e.name + "' is undefined");
    }
    case ExprKind::kList:
    case ExprKind::kTuple: {
      ValueList items;
      for (const auto& a : e.args) items.push_back(eval(*a, sc));
      return Value::list(std::move(items), e.kind == ExprKind::kList ? SeqKind::kList : SeqKind::kTuple);
    }
    case ExprKind::kDict: {
      Dict d;
      for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
        Value k = eval(*e.args[i], sc);
        check_hashable(k);
        d.set(k, eval(*e.args[i + 1], sc));
      }
      return Value::dict(std::move(d));
    }
    case ExprKind::kGetattr:
      return get_attr(eval(*e.args[0], sc), e.name);
    case ExprKind::kGetitem: {
      const Value obj = eval(*e.args[0], sc);
      const Expr& key = *e.args[1];
      if (key.kind == ExprKind::kSlice) {
        auto part = [&](int i) { return key.args[size_t(i)] ? eval(*key.args[size_t(i)], sc) : Value::none(); };
        const Value b = part(0), en = part(1), st = part(2);
        return get_slice(obj, b, en, st);
      }
      if (key.kind == ExprKind::kTuple)
        for (const auto& a : key.args)
          if (a->kind == ExprKind::kSlice) unsupported("multi-dimensional slices");
      return get_item(obj, eval(key, sc));
    }
    case ExprKind::kSlice:
      unsupported("a slice outside of a subscript");
    case ExprKind::kCall: {
      const Value callee = eval(*e.args[0], sc);
      CallArgs args = eval_args(e.call, sc);
      return call_value(callee, args);
    }
    case ExprKind::kFilter: {
      const Value v = eval(*e.args[0], sc);
      return apply_filter(e.name, v, eval_args(e.call, sc));
    }
    case ExprKind::kTest: {
      const Value v = eval(*e.args[0], sc);
      return Value(apply_test(e.name, v, eval_args(e.call, sc)));
    }
    case ExprKind::kNot:
      return Value(!truthy(eval(*e.args[0], sc)));
    case ExprKind::kNeg:
      return op_neg(eval(*e.args[0], sc));
    case ExprKind::kPos:
      return op_pos(eval(*e.args[0], sc));
    case ExprKind::kBinary: {
      Value a = eval(*e.args[0], sc);
      if (e.name == "and") return truthy(a) ? eval(*e.args[1], sc) : a;
      if (e.name == "or") return truthy(a) ? a : eval(*e.args[1], sc);
      return op_binary(e.name, a, eval(*e.args[1], sc));
    }
    case ExprKind::kCompare: {
      Value left = eval(*e.args[0], sc);
      for (size_t i = 0; i < e.ops.size(); ++i) {
        Value right = eval(*e.args[i + 1], sc);
        if (!op_compare(e.ops[i], left, right)) return Value(false);
        left = std::move(right);
      }
      return Value(true);
    }
    case ExprKind::kCondExpr: {
      if (truthy(eval(*e.args[0], sc))) return eval(*e.args[1], sc);
      if (e.args[2]) return eval(*e.args[2], sc);
      return Value::undefined("the inline if-expression on line " + std::to_string(e.pos.line) +
                              " evaluated to false and no else section was defined.");
    }
  }
  unsupported("expression");
}

}  // namespace

std::string render(const Template& tpl, const Dict& context, const RenderOptions& opt) {
  const StringLimit limit(opt.max_string);
  Evaluator ev(opt);
  const ScopePtr root = frame(ev.make_root(context), tpl.root_undefined);
  std::string out;
  ev.exec_body(tpl.body, root, out);
  return out;
}

}  // namespace slm::jinja
