// Python object semantics for the Jinja interpreter: truthiness, str(), repr(), ==, <, len(),
// iteration. The rules follow CPython 3 (objects.c / floatobject.c / unicodeobject.c) as jinja2
// sees them; see jinja_value.h.
#include "models/chat/jinja_value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "models/chat/jinja_unicode.h"

namespace slm::jinja {

void type_error(const std::string& msg) { throw OpError(ErrorKind::kRuntime, msg); }
void unsupported(const std::string& what) { throw OpError(ErrorKind::kUnsupported, "unsupported: " + what); }

Value Value::undefined(std::string message, ErrorKind kind) {
  Value v;
  v.v_ = Undef{std::make_shared<const std::string>(std::move(message)), kind};
  return v;
}

namespace {

uint32_t depth_of(const Value& v) {
  if (v.is_seq()) return v.seq().depth;
  if (v.is_dict()) return v.dict().depth;
  if (v.is_iterator()) return v.iter().depth;
  return 0;
}

uint32_t check_depth(uint32_t d) {
  if (d > kMaxNesting) unsupported("a value nested more than " + std::to_string(kMaxNesting) + " levels deep");
  return d;
}

// Guards the recursive printers against self-containing namespaces.
struct ReprGuard {
  static inline thread_local int depth = 0;
  ReprGuard() {
    if (++depth > int(kMaxNesting) + 64) {
      depth = 0;
      unsupported("printing a value that contains itself");
    }
  }
  ~ReprGuard() {
    if (depth > 0) --depth;
  }
};

}  // namespace

uint32_t nesting_of(const ValueList& items) {
  uint32_t d = 0;
  for (const Value& x : items) d = std::max(d, depth_of(x));
  return check_depth(d + 1);
}

Value Value::list(ValueList items, SeqKind kind) {
  Value v;
  const uint32_t depth = nesting_of(items);
  v.v_ = std::make_shared<const Seq>(Seq{std::move(items), kind, {}, depth});
  return v;
}

Value Value::dict(Dict d) {
  Value v;
  uint32_t depth = 0;
  for (const auto& [k, x] : d.entries) depth = std::max({depth, depth_of(k), depth_of(x)});
  d.depth = check_depth(depth + 1);
  v.v_ = std::make_shared<const Dict>(std::move(d));
  return v;
}

Value Value::iterator(ValueList items, std::string what) {
  Value v;
  auto st = std::make_shared<IterState>();
  st->depth = nesting_of(items);
  st->items = std::move(items);
  st->what = std::move(what);
  v.v_ = std::move(st);
  return v;
}

bool Value::is_list() const {
  if (!is_seq()) return false;
  const SeqKind k = seq().kind;
  return k == SeqKind::kList || k == SeqKind::kTuple || k == SeqKind::kRange;
}
const ValueList& Value::items() const { return seq().items; }
SeqKind Value::seq_kind() const { return seq().kind; }

std::string Value::undefined_message() const {
  const Undef& u = undef();
  return u.message ? *u.message : std::string("value is undefined");
}

std::string Value::type_name() const {
  if (is_undefined()) return "Undefined";
  if (is_none()) return "NoneType";
  if (is_bool()) return "bool";
  if (is_int()) return "int";
  if (is_float()) return "float";
  if (is_string()) return is_markup() ? "Markup" : "str";
  if (is_seq()) {
    switch (seq_kind()) {
      case SeqKind::kList:
        return "list";
      case SeqKind::kTuple:
        return "tuple";
      case SeqKind::kDictKeys:
        return "dict_keys";
      case SeqKind::kDictValues:
        return "dict_values";
      case SeqKind::kDictItems:
        return "dict_items";
      case SeqKind::kRange:
        return "range";
    }
  }
  if (is_dict()) return "dict";
  if (is_iterator()) return iter().what;
  return object().type_name();
}

bool Value::same_object(const Value& o) const {
  if (v_.index() != o.v_.index()) return false;
  if (is_seq()) return &seq() == &o.seq();
  if (is_dict()) return &dict() == &o.dict();
  if (is_iterator()) return &iter() == &o.iter();
  if (is_object()) return &object() == &o.object();
  if (is_string()) return &str() == &o.str();
  return false;
}

const Value* Dict::find(const Value& key) const {
  for (const auto& [k, v] : entries)
    if (py_eq(k, key)) return &v;
  return nullptr;
}

const Value* Dict::find(const std::string& key) const {
  for (const auto& [k, v] : entries)
    if (k.is_string() && k.str() == key) return &v;
  return nullptr;
}

void Dict::set(const Value& key, Value v) {
  for (auto& [k, old] : entries) {
    if (py_eq(k, key)) {
      old = std::move(v);
      return;
    }
  }
  entries.emplace_back(key, std::move(v));
}

ValueList IterState::take() {
  if (consumed) return {};
  consumed = true;
  return std::move(items);
}

const Value* CallArgs::kwarg(const std::string& name) const {
  for (const auto& [k, v] : kw)
    if (k == name) return &v;
  return nullptr;
}

Value Object::call(CallArgs&) { type_error("'" + type_name() + "' is not callable"); }
bool Object::getattr(const std::string&, Value&) const { return false; }
std::string Object::to_str() const { unsupported("printing a " + type_name() + " (its Python text holds an address)"); }

Value make_function(std::string name, std::function<Value(CallArgs&)> fn) {
  return Value(std::shared_ptr<Object>(std::make_shared<Function>(std::move(name), std::move(fn))));
}

bool Namespace::getattr(const std::string& name, Value& out) const {
  const Value* v = attrs.find(name);
  if (!v) return false;
  out = *v;
  return true;
}

std::string Namespace::to_str() const { return "<Namespace " + repr(Value::dict(attrs)) + ">"; }

// ---- truthiness / str / repr ----

bool truthy(const Value& v) {
  if (v.is_undefined() || v.is_none()) return false;
  if (v.is_bool()) return v.as_bool();
  if (v.is_int()) return v.as_int() != 0;
  if (v.is_float()) return v.as_double() != 0.0;
  if (v.is_string()) return !v.str().empty();
  if (v.is_seq()) return !v.items().empty();
  if (v.is_dict()) return !v.dict().entries.empty();
  return true;  // iterators, namespaces, callables
}

std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  // Shortest round-trip digits, as Python's repr (David Gay's mode 0).
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  std::string sign;
  if (sci[0] == '-') sign = "-", sci.erase(0, 1);
  const size_t e = sci.find('e');
  std::string digits = sci.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int exp10 = std::stoi(sci.substr(e + 1));
  const int decpt = exp10 + 1;  // value = 0.DIGITS * 10^decpt
  const int nd = int(digits.size());
  std::string out;
  if (decpt <= -4 || decpt > 16) {
    out = digits.substr(0, 1);
    if (nd > 1) out += "." + digits.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof(eb), "e%c%02d", exp10 < 0 ? '-' : '+', std::abs(exp10));
    out += eb;
  } else if (decpt <= 0) {
    out = "0." + std::string(size_t(-decpt), '0') + digits;
  } else if (decpt >= nd) {
    out = digits + std::string(size_t(decpt - nd), '0') + ".0";
  } else {
    out = digits.substr(0, size_t(decpt)) + "." + digits.substr(size_t(decpt));
  }
  return sign + out;
}

std::string repr_string(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char quote = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, quote);
  for (size_t i = 0; i < s.size();) {
    const char32_t c = utf8_next(s, i);
    char buf[16];
    if (c == char32_t(quote) || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (uni_isprintable(c)) {
      utf8_append(c, out);
    } else {
      if (c < 0x100) {
        std::snprintf(buf, sizeof(buf), "\\x%02x", unsigned(c));
      } else if (c < 0x10000) {
        std::snprintf(buf, sizeof(buf), "\\u%04x", unsigned(c));
      } else {
        std::snprintf(buf, sizeof(buf), "\\U%08x", unsigned(c));
      }
      out += buf;
    }
  }
  out += quote;
  return out;
}

namespace {

std::string join_repr(const ValueList& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    out += repr(items[i]);
  }
  return out;
}

}  // namespace

std::string repr(const Value& v) {
  ReprGuard guard;
  if (v.is_undefined()) return "Undefined";
  if (v.is_string()) return v.is_markup() ? "Markup(" + repr_string(v.str()) + ")" : repr_string(v.str());
  if (v.is_seq()) {
    const ValueList& it = v.items();
    switch (v.seq_kind()) {
      case SeqKind::kList:
        return "[" + join_repr(it) + "]";
      case SeqKind::kTuple:
        return "(" + join_repr(it) + (it.size() == 1 ? ",)" : ")");
      case SeqKind::kDictKeys:
        return "dict_keys([" + join_repr(it) + "])";
      case SeqKind::kDictValues:
        return "dict_values([" + join_repr(it) + "])";
      case SeqKind::kDictItems:
        return "dict_items([" + join_repr(it) + "])";
      case SeqKind::kRange:
        return v.seq().range_repr;
    }
  }
  if (v.is_dict()) {
    std::string out = "{";
    bool first = true;
    for (const auto& [k, val] : v.dict().entries) {
      if (!first) out += ", ";
      first = false;
      out += repr(k) + ": " + repr(val);
    }
    return out + "}";
  }
  return to_str(v);
}

std::string to_str(const Value& v) {
  if (v.is_undefined()) return "";
  if (v.is_string()) return v.str();
  if (v.is_none()) return "None";
  if (v.is_bool()) return v.as_bool() ? "True" : "False";
  if (v.is_int()) return std::to_string(v.as_int());
  if (v.is_float()) return float_repr(v.as_double());
  if (v.is_seq() || v.is_dict()) return repr(v);
  if (v.is_iterator()) unsupported("printing a " + v.iter().what + " object (its Python text holds an address)");
  return v.object().to_str();
}

// ---- comparisons ----

namespace {

bool int_eq_float(int64_t i, double d) {
  if (std::isnan(d) || std::isinf(d) || d != std::floor(d)) return false;
  if (d < -9223372036854775808.0 || d >= 9223372036854775808.0) return false;
  return int64_t(d) == i;
}

int num_cmp(const Value& a, const Value& b) {  // -1, 0, 1; 2 when unordered (NaN)
  if (a.is_integral() && b.is_integral()) return a.as_int() < b.as_int() ? -1 : (a.as_int() > b.as_int() ? 1 : 0);
  if (a.is_integral() && int_eq_float(a.as_int(), b.as_double())) return 0;
  if (b.is_integral() && int_eq_float(b.as_int(), a.as_double())) return 0;
  const double x = a.as_double(), y = b.as_double();
  if (x < y) return -1;
  if (x > y) return 1;
  return x == y ? 0 : 2;
}

[[noreturn]] void undefined_error(const Value& v) { throw OpError(v.undef().kind, v.undefined_message()); }

}  // namespace

bool py_eq(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) return num_cmp(a, b) == 0;
  if (a.is_string() && b.is_string()) return a.str() == b.str();
  if (a.is_undefined() || b.is_undefined()) return a.is_undefined() && b.is_undefined();
  if (a.is_none() || b.is_none()) return a.is_none() && b.is_none();
  if (a.is_seq() && b.is_seq()) {
    const bool al = a.seq_kind() == SeqKind::kList, bl = b.seq_kind() == SeqKind::kList;
    if (al != bl || (a.seq_kind() == SeqKind::kTuple) != (b.seq_kind() == SeqKind::kTuple)) return false;
    const ValueList &x = a.items(), &y = b.items();
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); ++i)
      if (!py_eq(x[i], y[i])) return false;
    return true;
  }
  if (a.is_dict() && b.is_dict()) {
    const Dict &x = a.dict(), &y = b.dict();
    if (x.entries.size() != y.entries.size()) return false;
    for (const auto& [k, v] : x.entries) {
      const Value* o = y.find(k);
      if (!o || !py_eq(v, *o)) return false;
    }
    return true;
  }
  return a.same_object(b);
}

bool py_lt(const Value& a, const Value& b) {
  if (a.is_undefined()) undefined_error(a);
  if (b.is_undefined()) undefined_error(b);
  if (a.is_number() && b.is_number()) return num_cmp(a, b) == -1;
  if (a.is_string() && b.is_string()) return a.str() < b.str();  // UTF-8 byte order == code point order
  if (a.is_seq() && b.is_seq() && a.seq_kind() == b.seq_kind() &&
      (a.seq_kind() == SeqKind::kList || a.seq_kind() == SeqKind::kTuple)) {
    const ValueList &x = a.items(), &y = b.items();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i)
      if (!py_eq(x[i], y[i])) return py_lt(x[i], y[i]);
    return x.size() < y.size();
  }
  type_error("'<' not supported between instances of '" + a.type_name() + "' and '" + b.type_name() + "'");
}

int64_t py_len(const Value& v) {
  if (v.is_undefined()) return 0;
  if (v.is_string()) return int64_t(utf8_length(v.str()));
  if (v.is_seq()) return int64_t(v.items().size());
  if (v.is_dict()) return int64_t(v.dict().entries.size());
  type_error("object of type '" + v.type_name() + "' has no len()");
}

ValueList iterate(const Value& v) {
  if (v.is_undefined()) return {};
  if (v.is_string()) {
    ValueList out;
    const std::string& s = v.str();
    for (size_t i = 0; i < s.size();) {
      const size_t start = i;
      utf8_next(s, i);
      out.emplace_back(s.substr(start, i - start));
    }
    return out;
  }
  if (v.is_seq()) return v.items();
  if (v.is_dict()) {
    ValueList out;
    for (const auto& kv : v.dict().entries) out.push_back(kv.first);
    return out;
  }
  if (v.is_iterator()) return v.iter().take();
  type_error("'" + v.type_name() + "' object is not iterable");
}

bool is_hashable(const Value& v) {
  if (v.is_dict() || (v.is_seq() && v.seq_kind() != SeqKind::kTuple && v.seq_kind() != SeqKind::kRange)) return false;
  if (v.is_seq() && v.seq_kind() == SeqKind::kTuple)
    for (const Value& x : v.items())
      if (!is_hashable(x)) return false;
  return true;
}

void check_hashable(const Value& v) {
  if (is_hashable(v)) return;
  const Value* bad = &v;
  while (bad->is_seq() && bad->seq_kind() == SeqKind::kTuple)
    for (const Value& x : bad->items())
      if (!is_hashable(x)) {
        bad = &x;
        break;
      }
  type_error("unhashable type: '" + bad->type_name() + "'");
}

std::string html_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

int64_t checked_add(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) unsupported("integer arithmetic beyond 64 bits");
  return r;
}

int64_t checked_mul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) unsupported("integer arithmetic beyond 64 bits");
  return r;
}

}  // namespace slm::jinja
