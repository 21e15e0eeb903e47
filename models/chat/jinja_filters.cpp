// jinja2's built-in filters (jinja2/filters.py) with transformers' `tojson` override, on the
// Python values of jinja_value.h. Filters whose jinja2 result is a generator (map, select,
// reject, selectattr, rejectattr, unique, items, reverse of a list) return one-shot iterators so
// that truthiness, len() and printing behave as they do in Python.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "models/chat/jinja_builtins.h"
#include "models/chat/jinja_json.h"
#include "models/chat/jinja_unicode.h"

namespace slm::jinja {

namespace {

const char* const kImplementedFilters[] = {
    "abs",     "attr",    "capitalize", "center",      "count",  "d",          "default", "dictsort", "e",
    "escape",  "first",   "float",      "forceescape", "format", "indent",     "int",     "items",    "join",
    "last",    "length",  "list",       "lower",       "map",    "max",        "min",     "reject",   "rejectattr",
    "replace", "reverse", "round",      "safe",        "select", "selectattr", "sort",    "string",   "sum",
    "title",   "tojson",  "trim",       "unique",      "upper"};
const char* const kOtherJinjaFilters[] = {"batch",     "filesizeformat", "groupby",  "pprint",    "random",
                                          "slice",     "striptags",      "truncate", "urlencode", "urlize",
                                          "wordcount", "wordwrap",       "xmlattr"};

bool listed(const std::string& n, const char* const* b, size_t len) {
  return std::find_if(b, b + len, [&](const char* x) { return n == x; }) != b + len;
}

Value soft_str(const Value& v) { return v.is_string() ? v : Value(to_str(v)); }
Value lower_if_str(const Value& v) { return v.is_string() ? Value(str_lower(v.str())) : v; }

// make_attrgetter: "a.b.0" -> getitem(getitem(getitem(x, 'a'), 'b'), 0).
std::vector<Value> attribute_parts(const Value& attr) {
  std::vector<Value> parts;
  if (attr.is_none()) return parts;
  if (!attr.is_string()) return {attr};
  const std::string& s = attr.str();
  size_t start = 0;
  while (true) {
    const size_t dot = s.find('.', start);
    const std::string p = s.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const bool digits = !p.empty() && std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; });
    parts.push_back(digits ? Value(int64_t(std::strtoll(p.c_str(), nullptr, 10))) : Value(p));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

Value get_path(Value item, const std::vector<Value>& parts, const std::optional<Value>& dflt = std::nullopt) {
  for (const Value& p : parts) {
    item = get_item(item, p);
    if (dflt && !dflt->is_none() && item.is_undefined()) item = *dflt;
  }
  return item;
}

// Keys for sort / min / max / unique: a list of attribute paths (comma separated), case folded.
struct KeyFn {
  std::vector<std::vector<Value>> paths;
  bool fold = true;
  bool multi = false;
  Value operator()(const Value& item) const {
    if (!multi) {
      Value k = get_path(item, paths.empty() ? std::vector<Value>{} : paths[0]);
      return fold ? lower_if_str(k) : k;
    }
    ValueList ks;
    for (const auto& p : paths) ks.push_back(fold ? lower_if_str(get_path(item, p)) : get_path(item, p));
    return Value::list(std::move(ks));
  }
};

KeyFn key_fn(const std::optional<Value>& attribute, const std::optional<Value>& case_sensitive, bool multi) {
  KeyFn k;
  k.fold = !(case_sensitive && truthy(*case_sensitive));
  k.multi = multi;
  if (attribute && !attribute->is_none()) {
    if (multi && attribute->is_string()) {
      const std::string& s = attribute->str();
      size_t start = 0;
      while (true) {
        const size_t c = s.find(',', start);
        k.paths.push_back(
            attribute_parts(Value(s.substr(start, c == std::string::npos ? std::string::npos : c - start))));
        if (c == std::string::npos) break;
        start = c + 1;
      }
    } else {
      k.paths.push_back(attribute_parts(*attribute));
    }
  } else if (multi) {
    k.paths.push_back({});
  }
  return k;
}

CallArgs rest_args(const CallArgs& a, size_t from) {
  CallArgs r;
  if (from < a.pos.size()) r.pos.assign(a.pos.begin() + long(from), a.pos.end());
  r.kw = a.kw;
  return r;
}

Value select_or_reject(const Value& v, const CallArgs& a, bool select, bool lookup_attr, const char* fname) {
  ValueList out;
  if (!truthy(v)) return Value::iterator({}, "generator");
  size_t off = 0;
  std::vector<Value> path;
  if (lookup_attr) {
    if (a.pos.empty()) type_error(std::string(fname) + ": Missing parameter for attribute name");
    path = attribute_parts(a.pos[0]);
    off = 1;
  }
  const bool has_test = a.pos.size() > off;
  std::string test;
  if (has_test) {
    if (!a.pos[off].is_string()) type_error(std::string(fname) + ": the test name must be a string");
    test = a.pos[off].str();
    if (test_support(test) == Support::kNo) unsupported("test '" + test + "'");
    if (test_support(test) == Support::kUnknown) type_error("No test named '" + test + "'.");
  }
  const CallArgs targs = rest_args(a, off + 1);
  for (const Value& item : iterate(v)) {
    const Value x = lookup_attr ? get_path(item, path) : item;
    const bool hit = has_test ? apply_test(test, x, targs) : truthy(x);
    if (hit == select) out.push_back(item);
  }
  return Value::iterator(std::move(out), "generator");
}

Value do_map(const Value& v, const CallArgs& a) {
  ValueList out;
  if (!truthy(v)) return Value::iterator({}, "generator");  // `if value:` guards the loop
  const Value* attr = a.kwarg("attribute");
  if (a.pos.empty() && attr) {
    std::optional<Value> dflt;
    for (const auto& [k, x] : a.kw) {
      if (k == "default") {
        dflt = x;
      } else if (k != "attribute") {
        type_error("Unexpected keyword argument '" + k + "'");
      }
    }
    const auto path = attribute_parts(*attr);
    for (const Value& item : iterate(v)) out.push_back(get_path(item, path, dflt));
    return Value::iterator(std::move(out), "generator");
  }
  if (a.pos.empty()) type_error("map requires a filter argument");
  if (!a.pos[0].is_string()) type_error("map: the filter name must be a string");
  const std::string name = a.pos[0].str();
  if (filter_support(name) == Support::kNo) unsupported("filter '" + name + "'");
  if (filter_support(name) == Support::kUnknown) type_error("No filter named '" + name + "'.");
  const CallArgs fargs = rest_args(a, 1);
  for (const Value& item : iterate(v)) out.push_back(apply_filter(name, item, fargs));
  return Value::iterator(std::move(out), "generator");
}

ValueList sorted(ValueList items, const KeyFn& key, bool reverse) {
  std::vector<std::pair<Value, size_t>> keyed;
  for (size_t i = 0; i < items.size(); ++i) keyed.emplace_back(key(items[i]), i);
  // Python's sort is stable and reverse=True keeps equal items in their original order.
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
    return reverse ? py_lt(y.first, x.first) : py_lt(x.first, y.first);
  });
  ValueList out;
  for (const auto& k : keyed) out.push_back(items[k.second]);
  return out;
}

double parse_py_float(const std::string& text, bool& ok) {
  std::string s = py_strip(text, nullptr, true, true);
  ok = false;
  std::string low = str_lower(s);
  std::string sign;
  if (!low.empty() && (low[0] == '+' || low[0] == '-')) sign = low.substr(0, 1), low.erase(0, 1);
  if (low == "inf" || low == "infinity" || low == "nan") {
    ok = true;
    const double v = low == "nan" ? NAN : INFINITY;
    return sign == "-" ? -v : v;
  }
  std::string clean;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '_') {
      if (i == 0 || i + 1 >= s.size() || !isdigit((unsigned char)s[i - 1]) || !isdigit((unsigned char)s[i + 1]))
        return 0;
      continue;
    }
    if (!(isdigit((unsigned char)c) || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-')) return 0;
    clean += c;
  }
  if (clean.empty()) return 0;
  char* end = nullptr;
  const double v = std::strtod(clean.c_str(), &end);
  ok = end && *end == '\0' && clean.find_first_of("0123456789") != std::string::npos;
  return v;
}

bool parse_py_int(const std::string& text, int64_t base, int64_t& out) {
  std::string s = py_strip(text, nullptr, true, true);
  bool neg = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) neg = s[0] == '-', s.erase(0, 1);
  if (s.size() > 2 && s[0] == '0') {
    const char x = char(s[1] | 0x20);
    const int pb = x == 'x' ? 16 : x == 'o' ? 8 : x == 'b' ? 2 : 0;
    if (pb && (base == pb || base == 0)) s.erase(0, 2), base = pb;
  }
  if (base == 0) base = 10;
  if (s.empty() || s.front() == '_' || s.back() == '_' || s.find("__") != std::string::npos) return false;
  s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
  if (base < 2 || base > 36) return false;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, int(base));
  if (!end || *end != '\0' || s.empty() || s[0] == '-' || s[0] == '+' || s[0] == ' ') return false;
  if (errno == ERANGE) unsupported("an integer beyond 64 bits");
  out = neg ? -v : v;
  return true;
}

Value do_round(const Value& v, const std::optional<Value>& prec_v, const std::optional<Value>& method_v) {
  const std::string method = method_v ? to_str(*method_v) : "common";
  if (method != "common" && method != "ceil" && method != "floor") type_error("method must be common, ceil or floor");
  const int64_t prec = prec_v ? to_index(*prec_v, "precision") : 0;
  if (v.is_undefined()) type_error("type Undefined doesn't define __round__ method");
  if (!v.is_number()) type_error("type " + v.type_name() + " doesn't define __round__ method");
  if (prec < 0 || prec > 300) unsupported("round() with precision " + std::to_string(prec));
  if (method != "common") {
    const double scale = std::pow(10.0, double(prec));
    const double x = v.as_double() * scale;
    return Value((method == "ceil" ? std::ceil(x) : std::floor(x)) / scale);
  }
  if (v.is_integral()) return Value(v.as_int());
  const double d = v.as_double();
  if (!std::isfinite(d)) return v;
  std::vector<char> buf(size_t(std::snprintf(nullptr, 0, "%.*f", int(prec), d)) + 1);
  std::snprintf(buf.data(), buf.size(), "%.*f", int(prec), d);  // glibc rounds the exact binary value half-even
  return Value(std::strtod(buf.data(), nullptr));
}

std::string do_title(const std::string& s) {
  // "".join(item[0].upper() + item[1:].lower() for item in re.split(r"([-\s({\[<]+)", s) if item)
  const std::u32string u = utf8_decode(s);
  std::u32string out;
  auto is_sep = [](char32_t c) { return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || uni_isspace(c); };
  size_t i = 0;
  while (i < u.size()) {
    size_t j = i;
    const bool sep = is_sep(u[i]);
    while (j < u.size() && is_sep(u[j]) == sep) ++j;
    const std::u32string item = u.substr(i, j - i);
    out += uni_upper(item[0]);
    out += utf8_decode(str_lower(utf8_encode(item.substr(1))));
    i = j;
  }
  return utf8_encode(out);
}

std::string do_indent(const Value& v, const std::optional<Value>& width, bool first, bool blank) {
  if (v.is_undefined()) raise_undefined(v);  // `s += newline` on an Undefined
  if (!v.is_string()) type_error("unsupported operand type(s) for +=: '" + v.type_name() + "' and 'str'");
  std::string ind = "    ";
  if (width && width->is_string()) {
    ind = width->str();
  } else if (width) {
    const int64_t w = std::max<int64_t>(0, to_index(*width, "width"));
    check_size(uint64_t(w));
    ind = std::string(size_t(w), ' ');
  }
  std::vector<std::string> lines = py_splitlines(v.str() + "\n", false);
  std::string rv;
  if (blank) {
    for (size_t i = 0; i < lines.size(); ++i) rv += (i ? "\n" + ind : "") + lines[i];
  } else {
    rv = lines.empty() ? "" : lines[0];
    for (size_t i = 1; i < lines.size(); ++i) rv += "\n" + (lines[i].empty() ? "" : ind + lines[i]);
  }
  return first ? ind + rv : rv;
}

Value do_tojson(const Value& v, const CallArgs& a) {
  const auto p = bind_args("tojson", a, {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonOptions o;
  o.ensure_ascii = p[0] && truthy(*p[0]);
  if (p[1] && !p[1]->is_none()) {
    if (p[1]->is_string()) {
      o.indent = p[1]->str();
    } else {
      const int64_t w = std::max<int64_t>(0, to_index(*p[1], "indent"));
      check_size(uint64_t(w));
      o.indent = std::string(size_t(w), ' ');
    }
  }
  if (p[2] && !p[2]->is_none()) {
    const ValueList seps = iterate(*p[2]);
    if (seps.size() != 2 || !seps[0].is_string() || !seps[1].is_string())
      type_error("tojson: separators must be a pair of strings");
    o.separators = std::make_pair(seps[0].str(), seps[1].str());
  }
  o.sort_keys = p[3] && truthy(*p[3]);
  return Value(to_json(v, o));
}

Value reverse_value(const Value& v) {
  if (v.is_string()) return get_slice(v, Value::none(), Value::none(), Value(int64_t(-1)));
  if (v.is_undefined()) return Value::iterator({}, "reversed");
  if (v.is_iterator()) {  // reversed() fails; list(value) then reverse
    ValueList items = iterate(v);
    std::reverse(items.begin(), items.end());
    return Value::list(std::move(items));
  }
  if (v.is_seq() || v.is_dict()) {
    ValueList items = iterate(v);
    std::reverse(items.begin(), items.end());
    return Value::iterator(std::move(items), "list_reverseiterator");
  }
  type_error("argument must be iterable");
}

}  // namespace

Support filter_support(const std::string& name) {
  if (listed(name, kImplementedFilters, std::size(kImplementedFilters))) return Support::kYes;
  if (listed(name, kOtherJinjaFilters, std::size(kOtherJinjaFilters))) return Support::kNo;
  return Support::kUnknown;
}

Value apply_filter(const std::string& f, const Value& v, const CallArgs& a) {
  auto p = [&](std::initializer_list<const char*> names) { return bind_args(f, a, names); };
  if (f == "default" || f == "d") {
    const auto q = p({"default_value", "boolean"});
    const bool boolean = q[1] && truthy(*q[1]);
    if (v.is_undefined() || (boolean && !truthy(v))) return q[0] ? *q[0] : Value("");
    return v;
  }
  if (f == "length" || f == "count") return p({}), Value(py_len(v));
  if (f == "string") return p({}), soft_str(v);
  if (f == "safe") return p({}), v.is_markup() ? v : Value(to_str(v), true);
  if (f == "e" || f == "escape" || f == "forceescape") {
    p({});
    if (v.is_markup() && f != "forceescape") return v;
    return Value(html_escape(to_str(v)), true);
  }
  if (f == "trim") {
    const auto q = p({"chars"});
    if (q[0] && !q[0]->is_none() && !q[0]->is_string()) type_error("strip arg must be None or str");  // before str()
    const std::string* chars = (q[0] && !q[0]->is_none()) ? &q[0]->str() : nullptr;
    return Value(py_strip(to_str(v), chars, true, true), v.is_markup());
  }
  if (f == "upper") return p({}), Value(str_upper(to_str(v)), v.is_markup());
  if (f == "lower") return p({}), Value(str_lower(to_str(v)), v.is_markup());
  if (f == "title") return p({}), Value(do_title(to_str(v)));
  if (f == "capitalize") {
    p({});
    CallArgs none;
    return get_attr(soft_str(v), "capitalize").object().call(none);
  }
  if (f == "center") {
    const auto q = p({"width"});
    CallArgs ca;
    ca.pos.push_back(q[0] ? *q[0] : Value(int64_t(80)));
    return get_attr(soft_str(v), "center").object().call(ca);
  }
  if (f == "replace") {
    const auto q = p({"old", "new", "count"});
    if (!q[0] || !q[1]) type_error("replace() missing required arguments");
    const int64_t count = (q[2] && !q[2]->is_none()) ? to_index(*q[2], "count") : -1;
    return Value(py_replace(to_str(v), to_str(*q[0]), to_str(*q[1]), count));
  }
  if (f == "indent") {
    const auto q = p({"width", "first", "blank"});
    return Value(do_indent(v, q[0], q[1] && truthy(*q[1]), q[2] && truthy(*q[2])), v.is_markup());
  }
  if (f == "format") {
    if (!a.pos.empty() && !a.kw.empty()) type_error("can't handle positional and keyword arguments at the same time");
    if (!a.kw.empty()) unsupported("the format filter with keyword arguments");
    return Value(percent_format(to_str(v), Value::tuple(a.pos)), v.is_markup());
  }
  if (f == "join") {
    const auto q = p({"d", "attribute"});
    const std::string sep = q[0] ? to_str(*q[0]) : "";
    std::vector<Value> path;
    if (q[1] && !q[1]->is_none()) path = attribute_parts(*q[1]);
    std::string out;
    bool first = true;
    for (const Value& item : iterate(v)) {
      if (!first) out += sep;
      first = false;
      out += to_str(q[1] && !q[1]->is_none() ? get_path(item, path) : item);
      check_size(out.size());
    }
    return Value(std::move(out));
  }
  if (f == "list") return p({}), Value::list(iterate(v));
  if (f == "first") {
    p({});
    ValueList items = iterate(v);
    return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
  }
  if (f == "last") {
    p({});
    if (v.is_iterator()) type_error("'" + v.iter().what + "' object is not reversible");
    if (!(v.is_string() || v.is_seq() || v.is_dict() || v.is_undefined()))
      type_error("'" + v.type_name() + "' object is not reversible");
    ValueList items = iterate(v);
    return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
  }
  if (f == "reverse") return p({}), reverse_value(v);
  if (f == "items") {
    p({});
    if (v.is_undefined()) return Value::iterator({}, "generator");
    if (!v.is_dict()) type_error("Can only get item pairs from a mapping.");
    ValueList out;
    for (const auto& [k, x] : v.dict().entries) out.push_back(Value::tuple({k, x}));
    return Value::iterator(std::move(out), "generator");
  }
  if (f == "dictsort") {
    const auto q = p({"case_sensitive", "by", "reverse"});
    const std::string by = q[1] ? to_str(*q[1]) : "key";
    if (by != "key" && by != "value") type_error("You can only sort by either \"key\" or \"value\"");
    if (v.is_undefined()) raise_undefined(v);
    if (!v.is_dict()) type_error("'" + v.type_name() + "' object has no attribute 'items'");
    ValueList pairs;
    for (const auto& [k, x] : v.dict().entries) pairs.push_back(Value::tuple({k, x}));
    KeyFn key;
    key.fold = !(q[0] && truthy(*q[0]));
    key.paths.push_back({Value(int64_t(by == "key" ? 0 : 1))});
    return Value::list(sorted(std::move(pairs), key, q[2] && truthy(*q[2])));
  }
  if (f == "sort") {
    const auto q = p({"reverse", "case_sensitive", "attribute"});
    return Value::list(sorted(iterate(v), key_fn(q[2], q[1], true), q[0] && truthy(*q[0])));
  }
  if (f == "unique") {
    const auto q = p({"case_sensitive", "attribute"});
    const KeyFn key = key_fn(q[1], q[0], false);
    ValueList seen, out;
    for (const Value& item : iterate(v)) {
      const Value k = key(item);
      check_hashable(k);
      if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return py_eq(s, k); })) {
        seen.push_back(k);
        out.push_back(item);
      }
    }
    return Value::iterator(std::move(out), "generator");
  }
  if (f == "min" || f == "max") {
    const auto q = p({"case_sensitive", "attribute"});
    const ValueList items = iterate(v);
    if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
    const KeyFn key = key_fn(q[1], q[0], false);
    size_t best = 0;
    Value bk = key(items[0]);
    for (size_t i = 1; i < items.size(); ++i) {
      const Value k = key(items[i]);
      if (f == "min" ? py_lt(k, bk) : py_lt(bk, k)) best = i, bk = k;
    }
    return items[best];
  }
  if (f == "sum") {
    const auto q = p({"attribute", "start"});
    Value total = q[1] ? *q[1] : Value(int64_t(0));
    const std::vector<Value> path = (q[0] && !q[0]->is_none()) ? attribute_parts(*q[0]) : std::vector<Value>{};
    for (const Value& item : iterate(v)) total = op_binary("+", total, get_path(item, path));
    return total;
  }
  if (f == "map") return do_map(v, a);
  if (f == "select") return select_or_reject(v, a, true, false, "select");
  if (f == "reject") return select_or_reject(v, a, false, false, "reject");
  if (f == "selectattr") return select_or_reject(v, a, true, true, "selectattr");
  if (f == "rejectattr") return select_or_reject(v, a, false, true, "rejectattr");
  if (f == "tojson") return do_tojson(v, a);
  if (f == "attr") {
    const auto q = p({"name"});
    if (!q[0]) type_error("attr() missing required argument 'name'");
    const std::string name = to_str(*q[0]);
    Value out;
    if (v.is_undefined()) raise_undefined(v);
    if (v.is_object() ? v.object().getattr(name, out) : method_lookup(v, name, out)) return out;
    return Value::undefined("'" + object_type_repr(v) + "' has no attribute '" + name + "'");
  }
  if (f == "abs") {
    p({});
    if (v.is_integral()) {
      if (v.as_int() == INT64_MIN) unsupported("integer arithmetic beyond 64 bits");
      return Value(std::abs(v.as_int()));
    }
    if (v.is_float()) return Value(std::fabs(v.as_double()));
    type_error("bad operand type for abs(): '" + v.type_name() + "'");
  }
  if (f == "round") {
    const auto q = p({"precision", "method"});
    return do_round(v, q[0], q[1]);
  }
  if (f == "int") {
    const auto q = p({"default", "base"});
    const Value dflt = q[0] ? *q[0] : Value(int64_t(0));
    if (v.is_undefined()) raise_undefined(v);
    if (v.is_integral()) return Value(v.as_int());
    int64_t out = 0;
    bool ok = false;
    double d = 0;
    if (v.is_float()) {
      d = v.as_double(), ok = std::isfinite(d);
    } else if (v.is_string()) {
      if (parse_py_int(v.str(), q[1] ? to_index(*q[1], "base") : 10, out)) return Value(out);
      d = parse_py_float(v.str(), ok);
      ok = ok && std::isfinite(d);
    }
    if (!ok) return dflt;
    if (std::fabs(d) >= 9.2e18) unsupported("an integer beyond 64 bits");
    return Value(int64_t(std::trunc(d)));
  }
  if (f == "float") {
    const auto q = p({"default"});
    if (v.is_undefined()) raise_undefined(v);
    if (v.is_number()) return Value(v.as_double());
    if (v.is_string()) {
      bool ok = false;
      const double d = parse_py_float(v.str(), ok);
      if (ok) return Value(d);
    }
    return q[0] ? *q[0] : Value(0.0);
  }
  unsupported("filter '" + f + "'");
}

}  // namespace slm::jinja
