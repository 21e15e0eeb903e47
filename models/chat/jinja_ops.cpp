// Python operators and jinja2's sandboxed attribute / item lookup (jinja2/sandbox.py getattr,
// getitem; runtime.Undefined) for the Jinja interpreter.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "models/chat/jinja_builtins.h"
#include "models/chat/jinja_unicode.h"

namespace slm::jinja {

void raise_undefined(const Value& u) { throw OpError(u.undef().kind, u.undefined_message()); }

std::string object_type_repr(const Value& v) {
  if (v.is_none()) return "None";
  if (v.is_markup()) return "markupsafe.Markup object";
  if (v.is_object()) return v.object().type_name();
  return v.type_name() + " object";
}

namespace {

Value missing_attr(const Value& obj, const std::string& name) {
  return Value::undefined("'" + object_type_repr(obj) + "' has no attribute '" + name + "'");
}

Value missing_item(const Value& obj, const Value& key) {
  if (key.is_string()) return missing_attr(obj, key.str());
  return Value::undefined(object_type_repr(obj) + " has no element " + repr(key));
}

// Python getattr(obj, name) for the built-in types; false on AttributeError.
bool py_getattr(const Value& obj, const std::string& name, Value& out) {
  if (name.size() > 4 && name.compare(0, 2, "__") == 0 && name.compare(name.size() - 2, 2, "__") == 0) {
    // Dunder attributes exist on every Python object; the sandbox refuses them.
    out = Value::undefined("access to attribute '" + name + "' of '" + obj.type_name() + "' object is unsafe.");
    return true;
  }
  if (obj.is_object()) return obj.object().getattr(name, out);
  if (obj.is_number()) {
    static const char* kNumAttrs[] = {"real",       "imag",     "numerator",  "denominator", "conjugate",
                                      "bit_length", "to_bytes", "is_integer", "hex",         "as_integer_ratio",
                                      "bit_count"};
    for (const char* a : kNumAttrs)
      if (name == a) unsupported("the attribute '" + name + "' of numbers");
    return false;
  }
  return method_lookup(obj, name, out);
}

int64_t norm_index(int64_t i, int64_t n) { return i < 0 ? i + n : i; }

// Python slice.indices(): clamp start/stop for a sequence of length n.
void slice_indices(const Value& start, const Value& stop, const Value& step, int64_t n, int64_t& b, int64_t& e,
                   int64_t& s) {
  auto opt = [](const Value& v) { return !(v.is_none() || v.is_undefined()); };
  s = opt(step) ? to_index(step, "slice indices") : 1;
  if (s == 0) throw OpError(ErrorKind::kRuntime, "slice step cannot be zero");
  auto clamp = [&](const Value& v, int64_t dflt) {
    if (!opt(v)) return dflt;
    int64_t i = to_index(v, "slice indices");
    if (i < 0) {
      i += n;
      if (i < 0) i = s < 0 ? -1 : 0;
    } else if (i >= n) {
      i = s < 0 ? n - 1 : n;
    }
    return i;
  };
  b = clamp(start, s < 0 ? n - 1 : 0);
  e = clamp(stop, s < 0 ? -1 : n);
}

template <class T>
std::vector<T> take_slice(const std::vector<T>& v, int64_t b, int64_t e, int64_t s) {
  std::vector<T> out;
  if (s > 0) {
    for (int64_t i = b; i < e; i += s) out.push_back(v[size_t(i)]);
  } else {
    for (int64_t i = b; i > e; i += s) out.push_back(v[size_t(i)]);
  }
  return out;
}

Value repeat(const Value& seq, int64_t n) {
  if (seq.is_string()) {
    const std::string& s = seq.str();
    if (n <= 0 || s.empty()) return Value(std::string(), seq.is_markup());
    check_size(s.size() * uint64_t(n));
    std::string out;
    out.reserve(s.size() * size_t(n));
    for (int64_t i = 0; i < n; ++i) out += s;
    return Value(std::move(out), seq.is_markup());
  }
  const ValueList& items = seq.items();
  ValueList out;
  if (n > 0 && !items.empty()) {
    check_size(items.size() * uint64_t(n) * 8);
    for (int64_t i = 0; i < n; ++i) out.insert(out.end(), items.begin(), items.end());
  }
  return Value::list(std::move(out), seq.seq_kind());
}

std::string opname_error(const std::string& op, const Value& a, const Value& b) {
  return "unsupported operand type(s) for " + op + ": '" + a.type_name() + "' and '" + b.type_name() + "'";
}

double float_mod(double a, double b) {
  double m = std::fmod(a, b);
  if (m != 0 && ((b < 0) != (m < 0))) m += b;
  if (m == 0) m = std::copysign(0.0, b);
  return m;
}

int64_t floor_div(int64_t a, int64_t b) {
  if (a == INT64_MIN && b == -1) unsupported("integer arithmetic beyond 64 bits");
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

Value arith(const std::string& op, const Value& a, const Value& b) {
  const bool ints = a.is_integral() && b.is_integral();
  if (op == "-") {
    if (ints) {
      int64_t r;
      if (__builtin_sub_overflow(a.as_int(), b.as_int(), &r)) unsupported("integer arithmetic beyond 64 bits");
      return Value(r);
    }
    return Value(a.as_double() - b.as_double());
  }
  if (op == "+") return ints ? Value(checked_add(a.as_int(), b.as_int())) : Value(a.as_double() + b.as_double());
  if (op == "*") return ints ? Value(checked_mul(a.as_int(), b.as_int())) : Value(a.as_double() * b.as_double());
  if (op == "/") {
    if (b.as_double() == 0) type_error("division by zero");
    return Value(a.as_double() / b.as_double());
  }
  if (op == "//") {
    if (ints) {
      if (b.as_int() == 0) type_error("integer division or modulo by zero");
      return Value(floor_div(a.as_int(), b.as_int()));
    }
    if (b.as_double() == 0) type_error("float floor division by zero");
    return Value(std::floor((a.as_double() - float_mod(a.as_double(), b.as_double())) / b.as_double() + 0.0));
  }
  if (op == "%") {
    if (ints) {
      if (b.as_int() == 0) type_error("integer division or modulo by zero");
      if (b.as_int() == -1) return Value(int64_t(0));
      int64_t m = a.as_int() % b.as_int();
      if (m != 0 && ((m < 0) != (b.as_int() < 0))) m += b.as_int();
      return Value(m);
    }
    if (b.as_double() == 0) type_error("float modulo");
    return Value(float_mod(a.as_double(), b.as_double()));
  }
  // "**"
  if (ints && b.as_int() >= 0) {
    int64_t r = 1, base = a.as_int();
    for (int64_t e = b.as_int(); e > 0; --e) {
      r = checked_mul(r, base);
      if (r == 0 || r == 1) break;
      if (r == -1) {
        r = (e % 2 == 1) ? -1 : 1;
        break;
      }
    }
    return Value(r);
  }
  if (a.as_double() == 0 && b.as_double() < 0) type_error("0.0 cannot be raised to a negative power");
  return Value(std::pow(a.as_double(), b.as_double()));
}

}  // namespace

namespace {
thread_local size_t g_max_string = size_t(64) << 20;
}  // namespace

size_t max_string_bytes() { return g_max_string; }
void check_size(uint64_t bytes) {
  if (bytes > g_max_string)
    unsupported("a result of " + std::to_string(bytes) + " bytes (the limit is " + std::to_string(g_max_string) + ")");
}
StringLimit::StringLimit(size_t bytes) : saved(g_max_string) { g_max_string = bytes; }
StringLimit::~StringLimit() { g_max_string = saved; }

int64_t to_index(const Value& v, const char* what) {
  if (v.is_integral()) return v.as_int();
  type_error(std::string(what) + " must be integers, not " + v.type_name());
}

Value op_binary(const std::string& op, const Value& a, const Value& b) {
  if (op == "~") {
    std::string x = to_str(a);
    const std::string y = to_str(b);
    check_size(x.size() + y.size());
    return Value(x + y);
  }
  if (a.is_undefined()) raise_undefined(a);
  if (b.is_undefined()) raise_undefined(b);
  if (a.is_number() && b.is_number()) return arith(op, a, b);
  if (op == "+") {
    if (a.is_string() && b.is_string()) {
      const bool markup = a.is_markup() || b.is_markup();
      // Markup + str escapes the plain operand (markupsafe.Markup.__add__ / __radd__).
      std::string x = a.is_markup() || !markup ? a.str() : html_escape(a.str());
      const std::string y = b.is_markup() || !markup ? b.str() : html_escape(b.str());
      check_size(x.size() + y.size());
      return Value(x + y, markup);
    }
    if (a.is_seq() && b.is_seq() && a.seq_kind() == b.seq_kind() &&
        (a.seq_kind() == SeqKind::kList || a.seq_kind() == SeqKind::kTuple)) {
      ValueList out = a.items();
      out.insert(out.end(), b.items().begin(), b.items().end());
      return Value::list(std::move(out), a.seq_kind());
    }
    if (a.is_string()) type_error("can only concatenate str (not \"" + b.type_name() + "\") to str");
    if (a.is_seq() && a.seq_kind() == SeqKind::kList)
      type_error("can only concatenate list (not \"" + b.type_name() + "\") to list");
    type_error(opname_error("+", a, b));
  }
  if (op == "*") {
    const bool a_seq =
        a.is_string() || (a.is_seq() && (a.seq_kind() == SeqKind::kList || a.seq_kind() == SeqKind::kTuple));
    const bool b_seq =
        b.is_string() || (b.is_seq() && (b.seq_kind() == SeqKind::kList || b.seq_kind() == SeqKind::kTuple));
    if (a_seq && b.is_integral()) return repeat(a, b.as_int());
    if (b_seq && a.is_integral()) return repeat(b, a.as_int());
    if (a_seq && b.is_number()) type_error("can't multiply sequence by non-int of type '" + b.type_name() + "'");
    type_error(opname_error("*", a, b));
  }
  if (op == "%" && a.is_string()) return Value(percent_format(a.str(), b), a.is_markup());
  type_error(opname_error(op == "**" ? "** or pow()" : op, a, b));
}

Value op_neg(const Value& a) {
  if (a.is_undefined()) raise_undefined(a);
  if (a.is_integral()) {
    if (a.as_int() == INT64_MIN) unsupported("integer arithmetic beyond 64 bits");
    return Value(-a.as_int());
  }
  if (a.is_float()) return Value(-a.as_double());
  type_error("bad operand type for unary -: '" + a.type_name() + "'");
}

Value op_pos(const Value& a) {
  if (a.is_undefined()) raise_undefined(a);
  if (a.is_integral()) return Value(a.as_int());
  if (a.is_float()) return a;
  type_error("bad operand type for unary +: '" + a.type_name() + "'");
}

bool op_contains(const Value& c, const Value& item) {
  if (c.is_string()) {
    if (!item.is_string()) type_error("'in <string>' requires string as left operand, not " + item.type_name());
    return c.str().find(item.str()) != std::string::npos;
  }
  if (c.is_dict()) {
    check_hashable(item);
    return c.dict().find(item) != nullptr;
  }
  if (c.is_seq() || c.is_iterator() || c.is_undefined()) {
    for (const Value& x : iterate(c))
      if (py_eq(x, item) || x.same_object(item)) return true;
    return false;
  }
  type_error("argument of type '" + c.type_name() + "' is not iterable");
}

bool op_compare(const std::string& op, const Value& a, const Value& b) {
  if (op == "==") return py_eq(a, b);
  if (op == "!=") return !py_eq(a, b);
  if (op == "<") return py_lt(a, b);
  if (op == ">") return py_lt(b, a);
  if (op == "<=") return py_lt(a, b) || py_eq(a, b);
  if (op == ">=") return py_lt(b, a) || py_eq(a, b);
  if (op == "in") return op_contains(b, a);
  return !op_contains(b, a);  // notin
}

Value get_attr(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) raise_undefined(obj);
  Value out;
  if (py_getattr(obj, name, out)) return out;
  if (obj.is_dict()) {  // AttributeError falls back to obj[name]
    if (const Value* v = obj.dict().find(name)) return *v;
  }
  return missing_attr(obj, name);
}

Value get_item(const Value& obj, const Value& key) {
  if (obj.is_undefined()) raise_undefined(obj);
  if (key.is_seq() && key.seq_kind() == SeqKind::kTuple && !obj.is_dict()) return missing_item(obj, key);
  if (obj.is_dict()) {
    if (!is_hashable(key)) return missing_item(obj, key);  // TypeError: jinja2 makes it undefined
    if (const Value* v = obj.dict().find(key)) return *v;
  } else if ((obj.is_list() || obj.is_string()) && key.is_integral()) {
    if (obj.is_string()) {
      const std::u32string u = utf8_decode(obj.str());
      const int64_t i = norm_index(key.as_int(), int64_t(u.size()));
      if (i >= 0 && i < int64_t(u.size())) return Value(utf8_encode(u.substr(size_t(i), 1)), obj.is_markup());
    } else {
      const ValueList& items = obj.items();
      const int64_t i = norm_index(key.as_int(), int64_t(items.size()));
      if (i >= 0 && i < int64_t(items.size())) return items[size_t(i)];
    }
    return missing_item(obj, key);
  }
  if (key.is_string()) {  // TypeError / LookupError fall back to getattr(obj, key)
    Value out;
    if (py_getattr(obj, key.str(), out)) return out;
  }
  return missing_item(obj, key);
}

Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step) {
  if (obj.is_undefined()) raise_undefined(obj);
  int64_t b, e, s;
  if (obj.is_string()) {
    const std::u32string u = utf8_decode(obj.str());
    slice_indices(start, stop, step, int64_t(u.size()), b, e, s);
    std::u32string out;
    if (s > 0) {
      for (int64_t i = b; i < e; i += s) out.push_back(u[size_t(i)]);
    } else {
      for (int64_t i = b; i > e; i += s) out.push_back(u[size_t(i)]);
    }
    return Value(utf8_encode(out), obj.is_markup());
  }
  if (obj.is_list()) {
    const ValueList& items = obj.items();
    slice_indices(start, stop, step, int64_t(items.size()), b, e, s);
    const SeqKind k = obj.seq_kind() == SeqKind::kRange ? SeqKind::kList : obj.seq_kind();
    return Value::list(take_slice(items, b, e, s), k);
  }
  return Value::undefined(object_type_repr(obj) + " has no element slice(" + repr(start) + ", " + repr(stop) + ", " +
                          repr(step) + ")");
}

std::string percent_format(const std::string& fmt, const Value& args) {
  ValueList list = args.is_seq() && args.seq_kind() == SeqKind::kTuple ? args.items() : ValueList{args};
  // CPython treats any subscriptable non-tuple, non-str argument as a mapping (PyMapping_Check):
  // `%s` still takes the whole object, and unconsumed arguments are not an error.
  const bool mapping =
      args.is_dict() || (args.is_seq() && (args.seq_kind() == SeqKind::kList || args.seq_kind() == SeqKind::kRange));
  size_t next = 0;
  std::string out;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out += fmt[i];
      continue;
    }
    if (++i >= fmt.size()) type_error("incomplete format");
    std::string spec;
    while (i < fmt.size() && std::string_view("0123456789.-+ #").find(fmt[i]) != std::string_view::npos)
      spec += fmt[i++];
    if (i >= fmt.size()) type_error("incomplete format");
    const char conv = fmt[i];
    if (conv == '%' && spec.empty()) {
      out += '%';
      continue;
    }
    if (fmt[i] == '(' || spec.find_first_of("#+ -") != std::string::npos)
      unsupported("this printf-style format ('%" + spec + conv + "')");
    if (next >= list.size()) type_error("not enough arguments for format string");
    const Value& v = list[next++];
    if (conv == 's' && spec.empty()) {
      out += to_str(v);
    } else if (conv == 'r' && spec.empty()) {
      out += repr(v);
    } else if ((conv == 'd' || conv == 'i') && spec.empty()) {
      if (!v.is_number()) type_error("%d format: a real number is required, not " + v.type_name());
      out += std::to_string(v.is_float() ? int64_t(std::trunc(v.as_double())) : v.as_int());
    } else if (conv == 'f' && spec.find_first_not_of("0123456789.") == std::string::npos) {
      if (!v.is_number()) type_error("must be real number, not " + v.type_name());
      const size_t dot = spec.find('.');
      const int prec = dot == std::string::npos ? 6 : std::atoi(spec.c_str() + dot + 1);
      const std::string fmtspec =
          "%" + spec.substr(0, dot == std::string::npos ? spec.size() : dot) + "." + std::to_string(prec) + "f";
      const long long width = std::strtoll(spec.c_str(), nullptr, 10);
      if (prec > 1000 || width > 100000 || spec.size() > 12) unsupported("a printf width/precision this large");
      std::vector<char> buf(size_t(std::snprintf(nullptr, 0, fmtspec.c_str(), v.as_double())) + 1);
      std::snprintf(buf.data(), buf.size(), fmtspec.c_str(), v.as_double());
      out += buf.data();
    } else {
      unsupported("this printf-style format ('%" + spec + conv + "')");
    }
  }
  if (next < list.size() && !mapping) type_error("not all arguments converted during string formatting");
  return out;
}

}  // namespace slm::jinja
