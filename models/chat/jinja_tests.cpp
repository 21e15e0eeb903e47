// jinja2's built-in tests (jinja2/tests.py): `x is defined`, `x is string`, `x is equalto y`, ...
// with Python's isinstance semantics on the interpreter's values (bool is a number, Undefined is
// iterable and a sequence, a dict is a sequence, generators are iterable but not sequences).
#include <algorithm>

#include "models/chat/jinja_builtins.h"
#include "models/chat/jinja_unicode.h"

namespace slm::jinja {

namespace {

const char* const kTests[] = {
    "odd",     "even",   "divisibleby", "defined",  "undefined", "filter", "test",    "none",
    "boolean", "false",  "true",        "integer",  "float",     "lower",  "upper",   "string",
    "mapping", "number", "sequence",    "iterable", "callable",  "sameas", "escaped", "in",
    "==",      "eq",     "equalto",     "!=",       "ne",        ">",      "gt",      "greaterthan",
    "ge",      ">=",     "<",           "lt",       "lessthan",  "<=",     "le"};

const Value& one_arg(const std::string& name, const CallArgs& a) {
  const auto p = bind_args(name, a, {"other"});
  if (!p[0]) type_error(name + "() missing 1 required positional argument");
  return a.pos.empty() ? a.kw[0].second : a.pos[0];
}

bool is_callable(const Value& v) { return v.is_undefined() || (v.is_object() && v.object().callable()); }

}  // namespace

Support test_support(const std::string& name) {
  return std::any_of(std::begin(kTests), std::end(kTests), [&](const char* t) { return name == t; })
             ? Support::kYes
             : Support::kUnknown;
}

bool apply_test(const std::string& t, const Value& v, const CallArgs& a) {
  auto none = [&]() { bind_args(t, a, {}); };
  if (t == "defined") return none(), !v.is_undefined();
  if (t == "undefined") return none(), v.is_undefined();
  if (t == "none") return none(), v.is_none();
  if (t == "boolean") return none(), v.is_bool();
  if (t == "true") return none(), v.is_bool() && v.as_bool();
  if (t == "false") return none(), v.is_bool() && !v.as_bool();
  if (t == "integer") return none(), v.is_int();
  if (t == "float") return none(), v.is_float();
  if (t == "number") return none(), v.is_number();
  if (t == "string") return none(), v.is_string();
  if (t == "mapping") return none(), v.is_dict();
  if (t == "escaped") return none(), v.is_markup();
  if (t == "callable") return none(), is_callable(v);
  if (t == "iterable") return none(), v.is_string() || v.is_seq() || v.is_dict() || v.is_iterator() || v.is_undefined();
  if (t == "sequence") {
    none();
    return v.is_string() || v.is_list() || v.is_dict() || v.is_undefined();
  }
  if (t == "lower" || t == "upper") {
    none();
    CallArgs no;
    return truthy(get_attr(Value(to_str(v)), t == "lower" ? "islower" : "isupper").object().call(no));
  }
  if (t == "odd" || t == "even") {
    none();
    const Value m = op_binary("%", v, Value(int64_t(2)));
    return py_eq(m, Value(int64_t(t == "odd" ? 1 : 0)));
  }
  if (t == "divisibleby") return py_eq(op_binary("%", v, one_arg(t, a)), Value(int64_t(0)));
  if (t == "filter" || t == "test") {
    none();
    if (!v.is_string()) return false;
    return (t == "filter" ? filter_support(v.str()) : test_support(v.str())) != Support::kUnknown;
  }
  if (t == "sameas") {
    const Value& o = one_arg(t, a);
    if (v.is_none() || o.is_none()) return v.is_none() && o.is_none();
    if (v.is_bool() || o.is_bool()) return v.is_bool() && o.is_bool() && v.as_bool() == o.as_bool();
    if (v.is_int() && o.is_int() && v.as_int() >= -5 && v.as_int() <= 256) return v.as_int() == o.as_int();
    return v.same_object(o);
  }
  if (t == "in") return op_contains(one_arg(t, a), v);
  static const std::pair<const char*, const char*> kCmp[] = {
      {"==", "=="}, {"eq", "=="}, {"equalto", "=="},    {"!=", "!="}, {"ne", "!="},
      {">", ">"},   {"gt", ">"},  {"greaterthan", ">"}, {"ge", ">="}, {">=", ">="},
      {"<", "<"},   {"lt", "<"},  {"lessthan", "<"},    {"<=", "<="}, {"le", "<="}};
  for (const auto& [name, op] : kCmp)
    if (t == name) return op_compare(op, v, one_arg(t, a));
  type_error("No test named '" + t + "'.");
}

}  // namespace slm::jinja
