// Syntax tree of a parsed chat template: jinja2's node set (jinja2/nodes.py) reduced to the
// statements and expressions chat templates use. Built by jinja_parser.cpp, walked by
// jinja_eval.cpp; immutable after parsing.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "models/chat/jinja_lexer.h"
#include "models/chat/jinja_value.h"

namespace slm::jinja {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

enum class ExprKind : uint8_t {
  kConst,     // value
  kName,      // name
  kList,      // args
  kTuple,     // args
  kDict,      // args: key0, value0, key1, value1, ...
  kGetattr,   // args[0].name
  kGetitem,   // args[0][args[1]]
  kSlice,     // args[0..2] = start, stop, step (nullptr when omitted)
  kCall,      // args[0](call)
  kFilter,    // args[0] | name(call); args[0] is null in a filter block
  kTest,      // args[0] is name(call)
  kNot,       // args[0]
  kNeg,       // args[0]
  kPos,       // args[0]
  kBinary,    // args[0] op args[1]; op in + - * / // % ** ~ and or
  kCompare,   // args[0] ops[i] args[i+1] ...
  kCondExpr,  // args = test, then, else (else may be null)
};

struct CallSpec {
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  ExprPtr dyn_args, dyn_kwargs;  // *args, **kwargs
};

struct Expr {
  ExprKind kind;
  SrcPos pos;
  Value value;       // kConst
  std::string name;  // kName, kGetattr, kFilter, kTest; operator of kBinary
  std::vector<ExprPtr> args;
  std::vector<std::string> ops;  // kCompare: == != < <= > >= in notin
  CallSpec call;                 // kCall, kFilter, kTest
};

// An assignment target: a name, `ns.attr`, or a tuple of names for unpacking.
struct Target {
  std::vector<std::string> names;  // one name, or several for tuple unpacking
  bool is_tuple = false;
  std::string ns_attr;  // non-empty: `names[0].ns_attr = ...` (namespace assignment)
};

struct MacroDef {
  std::string name;
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;  // for the last defaults.size() params
  Body body;
  bool uses_caller = false, uses_varargs = false, uses_kwargs = false;
  std::vector<std::string> undefined_names;  // see Stmt::frame_undefined
};

enum class StmtKind : uint8_t {
  kOutput,       // text
  kPrint,        // expr
  kIf,           // expr, body, else_body (elif chains nest as an If in else_body)
  kFor,          // target, expr (iterable), cond (filter), body, else_body
  kSet,          // target = expr
  kSetBlock,     // target = rendered body, then the filter chain in expr (may be null)
  kMacro,        // macro
  kCallBlock,    // expr (the call), macro (the caller)
  kFilterBlock,  // expr: filter chain applied to the rendered body
  kWith,         // with_targets = with_values, body
  kBreak,
  kContinue,
  kGeneration,  // transformers' {% generation %}: renders its body
};

struct Stmt {
  StmtKind kind;
  SrcPos pos;
  std::string text;
  ExprPtr expr, cond;
  Target target;
  Body body, else_body;
  std::shared_ptr<MacroDef> macro;
  std::vector<std::string> with_names;
  std::vector<ExprPtr> with_values;
  // Names the frame of `body` (for-loop body, set/filter/with/generation block) assigns before it
  // reads them: jinja2 starts them undefined instead of reading the enclosing scope or the
  // context (jinja2/idtracking.py VAR_LOAD_UNDEFINED). else_undefined: the same for a for's else.
  std::vector<std::string> frame_undefined, else_undefined;
};

struct Template {
  Body body;
  std::vector<std::string> root_undefined;  // as Stmt::frame_undefined, for the template itself
};

// Fills the *_undefined lists (jinja_scope.cpp); parse_template calls it.
void analyze_scopes(Template& t);

// Parses template source; throws TemplateError (kSyntax / kUnsupported) with line and column.
std::shared_ptr<const Template> parse_template(const std::string& source);

}  // namespace slm::jinja
