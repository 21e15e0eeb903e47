// Python methods of str, dict, list and tuple as chat templates call them (message.content.strip(),
// message.get('x'), ...), with CPython's semantics on code points. Mutating methods are refused the
// way jinja2's ImmutableSandboxedEnvironment refuses them (an undefined that fails when called).
#include <algorithm>

#include "models/chat/jinja_builtins.h"
#include "models/chat/jinja_unicode.h"

namespace slm::jinja {

std::vector<std::optional<Value>> bind_args(const std::string& fname, const CallArgs& args,
                                            std::initializer_list<const char*> names) {
  std::vector<std::optional<Value>> out(names.size());
  if (args.pos.size() > names.size())
    type_error(fname + "() takes at most " + std::to_string(names.size()) + " argument(s) (" +
               std::to_string(args.pos.size()) + " given)");
  for (size_t i = 0; i < args.pos.size(); ++i) out[i] = args.pos[i];
  for (const auto& [k, v] : args.kw) {
    size_t idx = 0;
    for (const char* n : names) {
      if (k == n) break;
      ++idx;
    }
    if (idx == names.size()) type_error(fname + "() got an unexpected keyword argument '" + k + "'");
    if (out[idx]) type_error(fname + "() got multiple values for argument '" + k + "'");
    out[idx] = v;
  }
  return out;
}

std::string py_strip(const std::string& s, const std::string* chars, bool left, bool right) {
  const std::u32string u = utf8_decode(s);
  const std::u32string set = chars ? utf8_decode(*chars) : std::u32string();
  auto strip_it = [&](char32_t c) { return chars ? set.find(c) != std::u32string::npos : uni_isspace(c); };
  size_t b = 0, e = u.size();
  if (left)
    while (b < e && strip_it(u[b])) ++b;
  if (right)
    while (e > b && strip_it(u[e - 1])) --e;
  return utf8_encode(u.substr(b, e - b));
}

std::vector<std::string> py_splitlines(const std::string& s, bool keepends) {
  const std::u32string u = utf8_decode(s);
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i < u.size(); ++i) {
    const char32_t c = u[i];
    const bool brk = c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E ||
                     c == 0x85 || c == 0x2028 || c == 0x2029;
    if (!brk) continue;
    size_t end = i + 1;
    if (c == '\r' && i + 1 < u.size() && u[i + 1] == '\n') end = i + 2;
    out.push_back(utf8_encode(u.substr(start, (keepends ? end : i) - start)));
    start = end;
    i = end - 1;
  }
  if (start < u.size()) out.push_back(utf8_encode(u.substr(start)));
  return out;
}

std::string py_replace(const std::string& s, const std::string& old, const std::string& repl, int64_t count) {
  if (count < 0) count = INT64_MAX;
  std::string out;
  if (old.empty()) {  // inserts repl before every code point and at the end
    int64_t n = 0;
    size_t i = 0;
    while (i <= s.size()) {
      if (n < count) out += repl, ++n;
      if (i == s.size()) break;
      const size_t st = i;
      utf8_next(s, i);
      out.append(s, st, i - st);
    }
    return out;
  }
  size_t pos = 0;
  for (int64_t n = 0; n < count; ++n) {
    const size_t f = s.find(old, pos);
    if (f == std::string::npos) break;
    out.append(s, pos, f - pos);
    out += repl;
    check_size(out.size());
    pos = f + old.size();
  }
  out.append(s, pos);
  return out;
}

namespace {

const std::string& str_arg(const std::optional<Value>& v, const std::string& fn, const char* what = "argument") {
  if (!v || !v->is_string()) type_error(fn + "() " + what + " must be str, not " + (v ? v->type_name() : "missing"));
  return v->str();
}

std::vector<std::string> py_split(const std::string& s, const std::optional<Value>& sep, int64_t maxsplit, bool right) {
  std::vector<std::string> parts;
  if (maxsplit < 0) maxsplit = INT64_MAX;
  if (!sep || sep->is_none()) {
    std::u32string u = utf8_decode(s);
    if (right) std::reverse(u.begin(), u.end());
    size_t i = 0;
    int64_t n = 0;
    while (true) {
      while (i < u.size() && uni_isspace(u[i])) ++i;
      if (i >= u.size()) break;
      if (n == maxsplit) {
        size_t e = u.size();
        while (e > i && uni_isspace(u[e - 1])) --e;
        parts.push_back(utf8_encode(u.substr(i, e - i)));
        break;
      }
      size_t j = i;
      while (j < u.size() && !uni_isspace(u[j])) ++j;
      parts.push_back(utf8_encode(u.substr(i, j - i)));
      ++n;
      i = j;
    }
    if (right) {
      std::reverse(parts.begin(), parts.end());
      for (auto& p : parts) {
        std::u32string pu = utf8_decode(p);
        std::reverse(pu.begin(), pu.end());
        p = utf8_encode(pu);
      }
    }
    return parts;
  }
  const std::string& d = str_arg(sep, "split", "separator");
  if (d.empty()) type_error("empty separator");
  if (!right) {
    size_t pos = 0;
    for (int64_t n = 0; n < maxsplit; ++n) {
      const size_t f = s.find(d, pos);
      if (f == std::string::npos) break;
      parts.push_back(s.substr(pos, f - pos));
      pos = f + d.size();
    }
    parts.push_back(s.substr(pos));
    return parts;
  }
  size_t end = s.size();
  for (int64_t n = 0; n < maxsplit && end >= d.size(); ++n) {
    const size_t f = s.rfind(d, end - d.size());
    if (f == std::string::npos) break;
    parts.push_back(s.substr(f + d.size(), end - f - d.size()));
    end = f;
  }
  parts.push_back(s.substr(0, end));
  std::reverse(parts.begin(), parts.end());
  return parts;
}

Value str_list(std::vector<std::string> parts, bool markup) {
  ValueList out;
  for (auto& p : parts) out.emplace_back(std::move(p), markup);
  return Value::list(std::move(out));
}

bool affix_match(const std::string& s, const Value& affix, bool start, const std::string& fn) {
  if (affix.is_seq() && affix.seq_kind() == SeqKind::kTuple) {
    for (const Value& a : affix.items())
      if (affix_match(s, a, start, fn)) return true;
    return false;
  }
  if (!affix.is_string()) type_error(fn + " first arg must be str or a tuple of str, not " + affix.type_name());
  const std::string& a = affix.str();
  if (a.size() > s.size()) return false;
  return start ? s.compare(0, a.size(), a) == 0 : s.compare(s.size() - a.size(), a.size(), a) == 0;
}

std::string py_title(const std::string& s) {
  std::string out;
  bool prev_cased = false;
  for (size_t i = 0; i < s.size();) {
    const char32_t c = utf8_next(s, i);
    utf8_append(prev_cased ? uni_lower(c) : uni_upper(c), out);
    prev_cased = uni_iscased(c);
  }
  return out;
}

std::string pad(const std::string& s, int64_t width, const std::string& fill,
                int where) {  // -1 left, 0 center, 1 right
  const int64_t len = int64_t(utf8_length(s));
  if (width <= len) return s;
  check_size(uint64_t(width) * std::max<size_t>(1, fill.size()));
  const int64_t total = width - len;
  int64_t left = where < 0 ? 0 : where > 0 ? total : total / 2 + (total & width & 1);
  std::string out;
  for (int64_t i = 0; i < left; ++i) out += fill;
  out += s;
  for (int64_t i = 0; i < total - left; ++i) out += fill;
  return out;
}

std::string str_format(const std::string& fmt, const CallArgs& a) {
  std::string out;
  size_t auto_idx = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    const char c = fmt[i];
    if (c == '}') {
      if (i + 1 < fmt.size() && fmt[i + 1] == '}') {
        out += '}', ++i;
        continue;
      }
      type_error("Single '}' encountered in format string");
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
      out += '{', ++i;
      continue;
    }
    const size_t close = fmt.find('}', i);
    if (close == std::string::npos) type_error("Single '{' encountered in format string");
    std::string field = fmt.substr(i + 1, close - i - 1);
    i = close;
    char conv = 0;
    const size_t colon = field.find(':');
    if (colon != std::string::npos) {
      if (colon + 1 < field.size()) unsupported("format specs in str.format ('{" + field + "}')");
      field.resize(colon);
    }
    const size_t bang = field.find('!');
    if (bang != std::string::npos) {
      conv = bang + 1 < field.size() ? field[bang + 1] : 0;
      if (conv != 'r' && conv != 's') unsupported("conversion in str.format ('{" + field + "}')");
      field.resize(bang);
    }
    if (field.find_first_of(".[") != std::string::npos) unsupported("field access in str.format ('{" + field + "}')");
    const Value* v = nullptr;
    if (field.empty() || std::all_of(field.begin(), field.end(), [](char d) { return d >= '0' && d <= '9'; })) {
      const size_t idx = field.empty() ? auto_idx++ : size_t(std::stoul(field));
      if (idx >= a.pos.size())
        type_error("Replacement index " + std::to_string(idx) + " out of range for positional args tuple");
      v = &a.pos[idx];
    } else {
      v = a.kwarg(field);
      if (!v) type_error("KeyError: '" + field + "'");
    }
    out += conv == 'r' ? repr(*v) : to_str(*v);
  }
  return out;
}

int64_t find_cp(const std::string& s, const std::string& sub, bool reverse) {
  const size_t f = reverse ? s.rfind(sub) : s.find(sub);
  if (f == std::string::npos) return -1;
  return int64_t(utf8_length(std::string_view(s).substr(0, f)));
}

Value call_str_method(const Value& self, const std::string& m, const CallArgs& a) {
  const std::string& s = self.str();
  const bool mk = self.is_markup();
  auto arg = [&](std::initializer_list<const char*> names) { return bind_args(m, a, names); };
  auto opt_str = [&](const std::optional<Value>& v) -> const std::string* {
    if (!v || v->is_none()) return nullptr;
    return &str_arg(v, m);
  };
  auto esc = [&](const std::optional<Value>& v) {  // Markup methods escape plain-str arguments
    const std::string& x = str_arg(v, m);
    return (mk && !v->is_markup()) ? html_escape(x) : x;
  };
  if (m == "strip" || m == "lstrip" || m == "rstrip") {
    const auto p = arg({"chars"});
    return Value(py_strip(s, opt_str(p[0]), m != "rstrip", m != "lstrip"), mk);
  }
  if (m == "upper") return Value(str_upper(s), mk);
  if (m == "lower" || m == "casefold") return Value(str_lower(s), mk);
  if (m == "title") return Value(py_title(s), mk);
  if (m == "swapcase") {
    std::string out;
    for (size_t i = 0; i < s.size();) {
      const char32_t c = utf8_next(s, i);
      utf8_append(uni_upper(c) != c ? uni_upper(c) : uni_lower(c), out);
    }
    return Value(out, mk);
  }
  if (m == "capitalize") {
    std::u32string u = utf8_decode(str_lower(s));
    if (!u.empty()) u[0] = uni_upper(utf8_decode(s)[0]);
    return Value(utf8_encode(u), mk);
  }
  if (m == "split" || m == "rsplit") {
    const auto p = arg({"sep", "maxsplit"});
    return str_list(py_split(s, p[0], p[1] ? to_index(*p[1], "maxsplit") : -1, m == "rsplit"), mk);
  }
  if (m == "splitlines") {
    const auto p = arg({"keepends"});
    return str_list(py_splitlines(s, p[0] && truthy(*p[0])), mk);
  }
  if (m == "startswith" || m == "endswith") {
    const auto p = arg({"prefix", "start", "end"});
    if (!p[0]) type_error(m + "() takes at least 1 argument (0 given)");
    if (p[1] || p[2]) unsupported("start/end arguments of str." + m);
    return Value(affix_match(s, *p[0], m == "startswith", m));
  }
  if (m == "replace") {
    const auto p = arg({"old", "new", "count"});
    return Value(py_replace(s, esc(p[0]), esc(p[1]), p[2] ? to_index(*p[2], "count") : -1), mk);
  }
  if (m == "find" || m == "rfind" || m == "index" || m == "rindex") {
    const auto p = arg({"sub", "start", "end"});
    if (p[1] || p[2]) unsupported("start/end arguments of str." + m);
    const int64_t r = find_cp(s, str_arg(p[0], m), m[0] == 'r');
    if (r < 0 && m.find("index") != std::string::npos) type_error("substring not found");
    return Value(r);
  }
  if (m == "count") {
    const auto p = arg({"sub"});
    const std::string& sub = str_arg(p[0], m);
    if (sub.empty()) return Value(int64_t(utf8_length(s)) + 1);
    int64_t n = 0;
    for (size_t f = s.find(sub); f != std::string::npos; f = s.find(sub, f + sub.size())) ++n;
    return Value(n);
  }
  if (m == "join") {
    const auto p = arg({"iterable"});
    if (!p[0]) type_error("join() takes exactly one argument (0 given)");
    std::string out;
    const ValueList items = iterate(*p[0]);
    for (size_t i = 0; i < items.size(); ++i) {
      if (!items[i].is_string())
        type_error("sequence item " + std::to_string(i) + ": expected str instance, " + items[i].type_name() +
                   " found");
      if (i) out += s;
      out += (mk && !items[i].is_markup()) ? html_escape(items[i].str()) : items[i].str();
    }
    return Value(out, mk);
  }
  if (m == "format") return Value(str_format(s, a), mk);
  if (m == "removeprefix" || m == "removesuffix") {
    const auto p = arg({"affix"});
    const std::string& x = str_arg(p[0], m);
    if (m == "removeprefix" && s.compare(0, x.size(), x) == 0) return Value(s.substr(x.size()), mk);
    if (m == "removesuffix" && s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0)
      return Value(s.substr(0, s.size() - x.size()), mk);
    return self;
  }
  if (m == "center" || m == "ljust" || m == "rjust") {
    const auto p = arg({"width", "fillchar"});
    if (!p[0]) type_error(m + "() takes at least 1 argument (0 given)");
    const std::string fill = p[1] ? str_arg(p[1], m) : " ";
    if (utf8_length(fill) != 1) type_error("The fill character must be exactly one character long");
    return Value(pad(s, to_index(*p[0], "width"), fill, m == "center" ? 0 : m == "ljust" ? -1 : 1), mk);
  }
  if (m == "zfill") {
    const auto p = arg({"width"});
    const int64_t w = p[0] ? to_index(*p[0], "width") : 0;
    const bool sign = !s.empty() && (s[0] == '-' || s[0] == '+');
    std::string body = pad(sign ? s.substr(1) : s, w - (sign ? 1 : 0), "0", 1);
    return Value(sign ? s.substr(0, 1) + body : body, mk);
  }
  if (m == "partition" || m == "rpartition") {
    const auto p = arg({"sep"});
    const std::string& d = str_arg(p[0], m);
    if (d.empty()) type_error("empty separator");
    const size_t f = m == "partition" ? s.find(d) : s.rfind(d);
    if (f == std::string::npos)
      return m == "partition" ? Value::tuple({Value(s, mk), Value("", mk), Value("", mk)})
                              : Value::tuple({Value("", mk), Value("", mk), Value(s, mk)});
    return Value::tuple({Value(s.substr(0, f), mk), Value(d, mk), Value(s.substr(f + d.size()), mk)});
  }
  if (m.rfind("is", 0) == 0) {
    arg({});
    const std::u32string u = utf8_decode(s);
    auto all = [&](auto pred) { return !u.empty() && std::all_of(u.begin(), u.end(), pred); };
    if (m == "isdigit" || m == "isdecimal" || m == "isnumeric") return Value(all(uni_isdigit));
    if (m == "isalpha") return Value(all(uni_isalpha));
    if (m == "isalnum") return Value(all([](char32_t c) { return uni_isalpha(c) || uni_isdigit(c); }));
    if (m == "isspace") return Value(all(uni_isspace));
    if (m == "isascii") return Value(std::all_of(u.begin(), u.end(), [](char32_t c) { return c < 0x80; }));
    if (m == "islower" || m == "isupper") {
      bool any = false;
      for (char32_t c : u) {
        if (!uni_iscased(c)) continue;
        any = true;
        if (m == "islower" ? uni_lower(c) != c : uni_upper(c) != c) return Value(false);
      }
      return Value(any);
    }
  }
  unsupported("the str method '" + m + "'");
}

Value call_dict_method(const Value& self, const std::string& m, const CallArgs& a) {
  const Dict& d = self.dict();
  if (m == "get") {
    const auto p = bind_args(m, a, {"key", "default"});
    if (!p[0]) type_error("get expected at least 1 argument, got 0");
    check_hashable(*p[0]);
    const Value* v = d.find(*p[0]);
    return v ? *v : (p[1] ? *p[1] : Value::none());
  }
  bind_args(m, a, {});
  if (m == "copy") return self;
  ValueList out;
  for (const auto& [k, v] : d.entries) out.push_back(m == "keys" ? k : m == "values" ? v : Value::tuple({k, v}));
  return Value::list(std::move(out), m == "keys"     ? SeqKind::kDictKeys
                                     : m == "values" ? SeqKind::kDictValues
                                                     : SeqKind::kDictItems);
}

Value call_seq_method(const Value& self, const std::string& m, const CallArgs& a) {
  if (m == "copy") {
    bind_args(m, a, {});
    return Value::list(self.items());
  }
  const auto p = bind_args(m, a, {"value"});
  if (!p[0]) type_error(m + "() takes exactly one argument (0 given)");
  int64_t n = 0, first = -1;
  for (size_t i = 0; i < self.items().size(); ++i) {
    if (py_eq(self.items()[i], *p[0])) {
      ++n;
      if (first < 0) first = int64_t(i);
    }
  }
  if (m == "count") return Value(n);
  if (first < 0) type_error(repr(*p[0]) + " is not in " + self.type_name());
  return Value(first);
}

bool is_one_of(const std::string& m, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (m == n) return true;
  return false;
}

}  // namespace

bool method_lookup(const Value& self, const std::string& m, Value& out) {
  auto bind = [&](Value (*fn)(const Value&, const std::string&, const CallArgs&)) {
    out = make_function(m, [self, m, fn](CallArgs& a) { return fn(self, m, a); });
    return true;
  };
  auto refuse = [&]() {
    out = Value::undefined("access to attribute '" + m + "' of '" + self.type_name() + "' object is unsafe.");
    return true;
  };
  if (self.is_string()) {
    if (is_one_of(m,
                  {"capitalize", "casefold",     "center",       "count",   "encode",     "endswith",    "expandtabs",
                   "find",       "format",       "format_map",   "index",   "isalnum",    "isalpha",     "isascii",
                   "isdecimal",  "isdigit",      "isidentifier", "islower", "isnumeric",  "isprintable", "isspace",
                   "istitle",    "isupper",      "join",         "ljust",   "lower",      "lstrip",      "maketrans",
                   "partition",  "removeprefix", "removesuffix", "replace", "rfind",      "rindex",      "rjust",
                   "rpartition", "rsplit",       "rstrip",       "split",   "splitlines", "startswith",  "strip",
                   "swapcase",   "title",        "translate",    "upper",   "zfill"}))
      return bind(call_str_method);
    if (self.is_markup() && is_one_of(m, {"escape", "unescape", "striptags"}))
      return bind([](const Value&, const std::string& name, const CallArgs&) -> Value {
        unsupported("the Markup method '" + name + "'");
      });
    return false;
  }
  if (self.is_dict()) {
    if (is_one_of(m, {"get", "items", "keys", "values", "copy"})) return bind(call_dict_method);
    if (is_one_of(m, {"clear", "pop", "popitem", "setdefault", "update"})) return refuse();
    if (m == "fromkeys")
      return bind([](const Value&, const std::string&, const CallArgs&) -> Value { unsupported("dict.fromkeys"); });
    return false;
  }
  if (self.is_list()) {  // list, tuple, range
    const bool list = self.seq_kind() == SeqKind::kList;
    if (is_one_of(m, {"count", "index"}) || (list && m == "copy")) return bind(call_seq_method);
    if (list && is_one_of(m, {"append", "clear", "extend", "insert", "pop", "remove", "reverse", "sort"}))
      return refuse();
    return false;
  }
  return false;
}

}  // namespace slm::jinja
