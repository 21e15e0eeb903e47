// The value model of slm's Jinja interpreter: Python's object semantics as jinja2 exposes them to
// chat templates (None, bool, int, float, str, list, tuple, dict, dict views, one-shot iterators,
// jinja2's Undefined, namespace(), macros and bound methods), with Python's truthiness, str(),
// repr(), == and < rules. Containers are immutable and shared (transformers renders in
// jinja2's ImmutableSandboxedEnvironment, where list.append and friends are refused); the one
// mutable object is namespace(). Not an embedding of Python: int is 64-bit (overflow is an
// error, never a wrap).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace slm::jinja {

// What went wrong, as reported to the caller (template.h turns these into slm::Error).
enum class ErrorKind { kSyntax, kUnsupported, kRuntime, kRaised };

// Thrown by value operations that know no template position; the evaluator adds line/column.
struct OpError : std::runtime_error {
  ErrorKind kind;
  OpError(ErrorKind k, const std::string& msg) : std::runtime_error(msg), kind(k) {}
};
[[noreturn]] void type_error(const std::string& msg);
[[noreturn]] void unsupported(const std::string& what);

class Value;
struct Seq;
struct Dict;
struct IterState;
struct Object;
using ValueList = std::vector<Value>;

enum class SeqKind : uint8_t { kList, kTuple, kDictKeys, kDictValues, kDictItems, kRange };

struct Undef {
  std::shared_ptr<const std::string> message;  // what an operation on it reports
  ErrorKind kind = ErrorKind::kRuntime;        // kUnsupported for sandbox-refused attributes
};
struct Str {
  std::string s;
  bool markup = false;  // markupsafe.Markup (from |safe or |escape): `+` escapes the other operand
};

class Value {
 public:
  Value() : v_(Undef{}) {}  // an Undefined with the generic message
  static Value undefined(std::string message, ErrorKind kind = ErrorKind::kRuntime);
  static Value none() { return Value(std::nullptr_t{}); }
  Value(std::nullptr_t) : v_(nullptr) {}
  Value(bool b) : v_(b) {}
  Value(int64_t i) : v_(i) {}
  Value(int i) : v_(int64_t(i)) {}
  Value(double f) : v_(f) {}
  Value(std::string s, bool markup = false) : v_(std::make_shared<const Str>(Str{std::move(s), markup})) {}
  Value(const char* s) : Value(std::string(s)) {}
  static Value list(ValueList items, SeqKind kind = SeqKind::kList);
  static Value tuple(ValueList items) { return list(std::move(items), SeqKind::kTuple); }
  static Value dict(Dict d);
  static Value iterator(ValueList items, std::string what);
  Value(std::shared_ptr<Object> o) : v_(std::move(o)) {}

  bool is_undefined() const { return std::holds_alternative<Undef>(v_); }
  bool is_none() const { return std::holds_alternative<std::nullptr_t>(v_); }
  bool is_bool() const { return std::holds_alternative<bool>(v_); }
  bool is_int() const { return std::holds_alternative<int64_t>(v_); }  // not bool
  bool is_float() const { return std::holds_alternative<double>(v_); }
  bool is_number() const { return is_bool() || is_int() || is_float(); }
  bool is_integral() const { return is_bool() || is_int(); }  // Python int incl. bool
  bool is_string() const { return std::holds_alternative<std::shared_ptr<const Str>>(v_); }
  bool is_seq() const { return std::holds_alternative<std::shared_ptr<const Seq>>(v_); }
  bool is_list() const;  // list or tuple (indexable sequences)
  bool is_dict() const { return std::holds_alternative<std::shared_ptr<const Dict>>(v_); }
  bool is_iterator() const { return std::holds_alternative<std::shared_ptr<IterState>>(v_); }
  bool is_object() const { return std::holds_alternative<std::shared_ptr<Object>>(v_); }

  bool as_bool() const { return std::get<bool>(v_); }
  int64_t as_int() const { return is_bool() ? int64_t(as_bool()) : std::get<int64_t>(v_); }
  double as_double() const { return is_float() ? std::get<double>(v_) : double(as_int()); }
  // The typed accessors check the type: a caller that skipped its check raises the template's TypeError
  // (slm::jinja::TemplateError) instead of std::bad_variant_access.
  const std::string& str() const { return checked<std::shared_ptr<const Str>>("a string")->s; }
  bool is_markup() const { return is_string() && std::get<std::shared_ptr<const Str>>(v_)->markup; }
  const Seq& seq() const { return *checked<std::shared_ptr<const Seq>>("a sequence"); }
  const ValueList& items() const;
  SeqKind seq_kind() const;
  const Dict& dict() const { return *checked<std::shared_ptr<const Dict>>("a dict"); }
  IterState& iter() const { return *std::get<std::shared_ptr<IterState>>(v_); }
  Object& object() const { return *std::get<std::shared_ptr<Object>>(v_); }
  const std::shared_ptr<Object>& object_ptr() const { return std::get<std::shared_ptr<Object>>(v_); }
  const Undef& undef() const { return std::get<Undef>(v_); }
  // The message an operation on an Undefined reports.
  std::string undefined_message() const;

  // Python type name for messages: 'str', 'int', 'dict', 'NoneType', ...
  std::string type_name() const;
  // True when both share the same container/object (Python `is` for containers).
  bool same_object(const Value& o) const;

 private:
  template <class T>
  const T& checked(const char* want) const {
    if (const T* p = std::get_if<T>(&v_)) return *p;
    type_error(std::string("expected ") + want + ", got '" + type_name() + "'");
  }
  std::variant<Undef, std::nullptr_t, bool, int64_t, double, std::shared_ptr<const Str>, std::shared_ptr<const Seq>,
               std::shared_ptr<const Dict>, std::shared_ptr<IterState>, std::shared_ptr<Object>>
      v_;
};

// Containers record how deep they nest so that no value can grow deep enough to overflow the stack
// when it is printed, compared or destroyed (a template may build one in a loop).
constexpr uint32_t kMaxNesting = 1000;
uint32_t nesting_of(const ValueList& items);  // 1 + the deepest item; unsupported() past kMaxNesting

struct Seq {
  ValueList items;
  SeqKind kind = SeqKind::kList;
  std::string range_repr;  // "range(0, 3)" for kRange
  uint32_t depth = 1;
};

// Insertion-ordered mapping with Python key equality (1 == 1.0 == True). Linear lookup: chat
// messages and tool schemas are small.
struct Dict {
  std::vector<std::pair<Value, Value>> entries;
  uint32_t depth = 1;  // set by Value::dict
  const Value* find(const Value& key) const;
  const Value* find(const std::string& key) const;
  void set(const Value& key, Value v);  // replaces an equal key in place (Python semantics)
};

// A generator or reversed() iterator: truthy, no len(), consumed by the first iteration.
struct IterState {
  ValueList items;
  uint32_t depth = 1;
  std::string what;  // "generator", "list_reverseiterator" ...
  bool consumed = false;
  ValueList take();
};

struct CallArgs {
  ValueList pos;
  std::vector<std::pair<std::string, Value>> kw;
  const Value* kwarg(const std::string& name) const;
};

// Mutable or callable objects: namespace(), macros, builtins, bound methods, loop.
struct Object {
  virtual ~Object() = default;
  virtual std::string type_name() const = 0;  // for messages ("jinja2.utils.Namespace object")
  virtual bool callable() const { return false; }
  virtual Value call(CallArgs& args);
  // Attribute lookup; returns false when the object has no such attribute.
  virtual bool getattr(const std::string& name, Value& out) const;
  // str() of the object; objects whose Python repr holds a memory address refuse to print.
  virtual std::string to_str() const;
};

// A builtin function or bound method.
struct Function : Object {
  std::string name;
  std::function<Value(CallArgs&)> fn;
  Function(std::string n, std::function<Value(CallArgs&)> f) : name(std::move(n)), fn(std::move(f)) {}
  std::string type_name() const override { return "builtin_function_or_method object"; }
  bool callable() const override { return true; }
  Value call(CallArgs& args) override { return fn(args); }
};
Value make_function(std::string name, std::function<Value(CallArgs&)> fn);

// jinja2.utils.Namespace: the only mutable value (`{% set ns.x = ... %}`).
struct Namespace : Object {
  Dict attrs;
  std::string type_name() const override { return "jinja2.utils.Namespace object"; }
  bool getattr(const std::string& name, Value& out) const override;
  std::string to_str() const override;
};

// ---- Python semantics (jinja_value.cpp) ----
bool truthy(const Value& v);
std::string to_str(const Value& v);  // str(v); Undefined prints ''
std::string repr(const Value& v);    // repr(v)
std::string repr_string(const std::string& s);
std::string float_repr(double d);  // repr(float): shortest round trip, '1.0', '1e+16'
bool py_eq(const Value& a, const Value& b);
// a < b with Python's rules; type_error when the types do not order.
bool py_lt(const Value& a, const Value& b);
int64_t py_len(const Value& v);  // len(v); type_error when unsized
// list(v): the items iteration yields (chars of a str, keys of a dict); consumes iterators.
ValueList iterate(const Value& v);
bool is_hashable(const Value& v);
void check_hashable(const Value& v);
std::string html_escape(const std::string& s);
// Checked 64-bit arithmetic (Python ints do not overflow; we refuse instead of wrapping).
int64_t checked_add(int64_t a, int64_t b);
int64_t checked_mul(int64_t a, int64_t b);

}  // namespace slm::jinja
