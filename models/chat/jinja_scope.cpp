// Static scope analysis: which names each frame starts as undefined. A port of the part of
// jinja2/idtracking.py (Symbols, FrameSymbolVisitor, RootVisitor) that decides a variable's initial
// value in a frame: a parameter, resolved from the context, aliased to an enclosing frame's variable,
// or undefined. Only "undefined" changes what a dynamic scope chain would find: a name a frame
// assigns (unconditionally, before any read in that frame) and that no enclosing frame mentions
// starts undefined there, even when the context defines it -- e.g. a macro called before the
// top-level `{% set x %}` that follows it sees x undefined.
#include <functional>
#include <map>
#include <set>

#include "models/chat/jinja_ast.h"

namespace slm::jinja {

namespace {

enum class Load { kParam, kResolve, kAlias, kUndefined };

struct Symbols {
  const Symbols* parent = nullptr;
  std::map<std::string, Load> refs;
  std::set<std::string> stores;

  bool find_ref(const std::string& n) const { return refs.count(n) || (parent && parent->find_ref(n)); }
  void load(const std::string& n) {
    if (!find_ref(n)) refs[n] = Load::kResolve;
  }
  void store(const std::string& n) {
    stores.insert(n);
    if (!refs.count(n)) refs[n] = (parent && parent->find_ref(n)) ? Load::kAlias : Load::kUndefined;
  }
  void param(const std::string& n) {
    stores.insert(n);
    refs[n] = Load::kParam;
  }
  void branch_update(const std::vector<Symbols>& branches) {
    std::set<std::string> branch_stores;
    for (const auto& b : branches) branch_stores.insert(b.stores.begin(), b.stores.end());
    for (const auto& s : stores) branch_stores.erase(s);
    for (const auto& b : branches) {
      for (const auto& [k, v] : b.refs) refs[k] = v;
      stores.insert(b.stores.begin(), b.stores.end());
    }
    for (const auto& n : branch_stores) refs[n] = (parent && parent->find_ref(n)) ? Load::kAlias : Load::kResolve;
  }
  std::vector<std::string> undefined() const {
    std::vector<std::string> out;
    for (const auto& [k, v] : refs)
      if (v == Load::kUndefined) out.push_back(k);
    return out;
  }
};

void visit_expr(const Expr* e, Symbols& sym) {
  if (!e) return;
  if (e->kind == ExprKind::kName) sym.load(e->name);
  for (const auto& a : e->args) visit_expr(a.get(), sym);
  for (const auto& a : e->call.args) visit_expr(a.get(), sym);
  for (const auto& kv : e->call.kwargs) visit_expr(kv.second.get(), sym);
  visit_expr(e->call.dyn_args.get(), sym);
  visit_expr(e->call.dyn_kwargs.get(), sym);
}

// A frame is analysed in two steps, as jinja2 does: first its own statements (not descending into
// child frames), then each child frame against the frame's completed symbol table -- a later read
// in the parent still makes a child's assignment alias the parent's variable.
struct FrameVisit {
  Symbols& frame;                               // the frame's table (If branches visit copies of it)
  std::vector<std::function<void()>> children;  // child frames, analysed once `frame` is complete

  void body(const Body& b, Symbols& cur) {
    for (const auto& s : b) stmt(*s, cur);
  }

  template <class Setup>
  void child(const Body& b, std::vector<std::string>& out, Setup setup) {
    children.push_back([this, &b, &out, setup]() { analyze_frame(b, &frame, out, setup); });
  }

  void macro(MacroDef& m) {
    child(m.body, m.undefined_names, [&m](Symbols& s) {
      for (const auto& p : m.params) s.param(p);
      for (const auto& d : m.defaults) visit_expr(d.get(), s);
    });
  }

  void stmt(Stmt& s, Symbols& cur) {
    switch (s.kind) {
      case StmtKind::kOutput:
      case StmtKind::kBreak:
      case StmtKind::kContinue:
        return;
      case StmtKind::kPrint:
        visit_expr(s.expr.get(), cur);
        return;
      case StmtKind::kIf: {
        visit_expr(s.expr.get(), cur);
        Symbols then_sym = cur, else_sym = cur;
        body(s.body, then_sym);
        body(s.else_body, else_sym);
        cur.branch_update({then_sym, else_sym});
        return;
      }
      case StmtKind::kFor:
        visit_expr(s.expr.get(), cur);
        child(s.body, s.frame_undefined, [&s](Symbols& f) {
          for (const auto& n : s.target.names) f.param(n);
        });
        child(s.else_body, s.else_undefined, [](Symbols&) {});
        return;
      case StmtKind::kSet:
        visit_expr(s.expr.get(), cur);
        if (!s.target.ns_attr.empty()) {
          cur.load(s.target.names[0]);
        } else {
          for (const auto& n : s.target.names) cur.store(n);
        }
        return;
      case StmtKind::kSetBlock:
        for (const auto& n : s.target.names) cur.store(n);
        child(s.body, s.frame_undefined, [](Symbols&) {});
        return;
      case StmtKind::kMacro:
        cur.store(s.macro->name);
        macro(*s.macro);
        return;
      case StmtKind::kCallBlock:
        visit_expr(s.expr.get(), cur);
        macro(*s.macro);
        return;
      case StmtKind::kFilterBlock:
        visit_expr(s.expr.get(), cur);
        child(s.body, s.frame_undefined, [](Symbols&) {});
        return;
      case StmtKind::kWith:
        for (const auto& v : s.with_values) visit_expr(v.get(), cur);
        child(s.body, s.frame_undefined, [&s](Symbols& f) {
          for (const auto& n : s.with_names) f.param(n);
        });
        return;
      case StmtKind::kGeneration:
        child(s.body, s.frame_undefined, [](Symbols&) {});
        return;
    }
  }

  template <class Setup>
  static void analyze_frame(const Body& b, const Symbols* parent, std::vector<std::string>& out, Setup setup) {
    Symbols sym;
    sym.parent = parent;
    setup(sym);
    FrameVisit v{sym, {}};
    v.body(b, sym);
    out = sym.undefined();
    for (auto& c : v.children) c();
  }
};

}  // namespace

void analyze_scopes(Template& t) {
  FrameVisit::analyze_frame(t.body, nullptr, t.root_undefined, [](Symbols&) {});
}

}  // namespace slm::jinja
