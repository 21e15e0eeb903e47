// JSON conversion for the Jinja interpreter; the writer mirrors CPython's json encoder
// (Lib/json/encoder.py) for the options transformers' `tojson` passes through.
#include "models/chat/jinja_json.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "models/chat/jinja_unicode.h"

namespace slm::jinja {

namespace {

template <class J>
Value from_json_impl(const J& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::null:
      return Value::none();
    case nlohmann::json::value_t::boolean:
      return Value(j.template get<bool>());
    case nlohmann::json::value_t::number_integer:
      return Value(j.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      const auto u = j.template get<uint64_t>();
      if (u > uint64_t(std::numeric_limits<int64_t>::max()))
        unsupported("JSON integer " + j.dump() + " beyond 64 bits");
      return Value(int64_t(u));
    }
    case nlohmann::json::value_t::number_float:
      return Value(j.template get<double>());
    case nlohmann::json::value_t::string:
      return Value(j.template get<std::string>());
    case nlohmann::json::value_t::array: {
      ValueList items;
      items.reserve(j.size());
      for (const auto& x : j) items.push_back(from_json_impl(x));
      return Value::list(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      Dict d;
      d.entries.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it)
        d.entries.emplace_back(Value(it.key()), from_json_impl(it.value()));
      return Value::dict(std::move(d));
    }
    default:
      unsupported("JSON value of type " + std::string(j.type_name()));
  }
}

void write_string(const std::string& s, bool ensure_ascii, std::string& out) {
  out += '"';
  char buf[16];
  for (size_t i = 0; i < s.size();) {
    const size_t start = i;
    const char32_t c = utf8_next(s, i);
    switch (c) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      default:
        break;
    }
    if (c < 0x20 || (ensure_ascii && c >= 0x7F)) {
      if (c >= 0x10000) {
        const char32_t v = c - 0x10000;
        std::snprintf(buf, sizeof(buf), "\\u%04x\\u%04x", unsigned(0xD800 + (v >> 10)), unsigned(0xDC00 + (v & 0x3FF)));
      } else {
        std::snprintf(buf, sizeof(buf), "\\u%04x", unsigned(c));
      }
      out += buf;
    } else {
      out.append(s, start, i - start);
    }
  }
  out += '"';
}

std::string float_json(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  return float_repr(d);
}

std::string key_string(const Value& k) {
  if (k.is_string()) return k.str();
  if (k.is_bool()) return k.as_bool() ? "true" : "false";
  if (k.is_int()) return std::to_string(k.as_int());
  if (k.is_float()) return float_json(k.as_double());
  if (k.is_none()) return "null";
  type_error("keys must be str, int, float, bool or None, not " + k.type_name());
}

struct Writer {
  const JsonOptions& opt;
  std::string item_sep, key_sep;
  std::string out;
  int depth = 0;

  void newline(int level) {
    out += '\n';
    for (int i = 0; i < level; ++i) out += *opt.indent;
  }

  void write(const Value& v) {
    if (++depth > 512) unsupported("tojson of a value nested deeper than 512 levels");
    if (v.is_none()) {
      out += "null";
    } else if (v.is_bool()) {
      out += v.as_bool() ? "true" : "false";
    } else if (v.is_int()) {
      out += std::to_string(v.as_int());
    } else if (v.is_float()) {
      out += float_json(v.as_double());
    } else if (v.is_string()) {
      write_string(v.str(), opt.ensure_ascii, out);
    } else if (v.is_seq() && (v.seq_kind() == SeqKind::kList || v.seq_kind() == SeqKind::kTuple)) {
      write_list(v.items());
    } else if (v.is_dict()) {
      write_dict(v.dict());
    } else {
      type_error("Object of type " + v.type_name() + " is not JSON serializable");
    }
    --depth;
  }

  void write_list(const ValueList& items) {
    if (items.empty()) {
      out += "[]";
      return;
    }
    out += '[';
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) out += item_sep;
      if (opt.indent) newline(depth);
      write(items[i]);
    }
    if (opt.indent) newline(depth - 1);
    out += ']';
  }

  void write_dict(const Dict& d) {
    if (d.entries.empty()) {
      out += "{}";
      return;
    }
    std::vector<const std::pair<Value, Value>*> entries;
    for (const auto& e : d.entries) entries.push_back(&e);
    if (opt.sort_keys)
      std::stable_sort(entries.begin(), entries.end(), [](auto* a, auto* b) { return py_lt(a->first, b->first); });
    out += '{';
    for (size_t i = 0; i < entries.size(); ++i) {
      if (i) out += item_sep;
      if (opt.indent) newline(depth);
      write_string(key_string(entries[i]->first), opt.ensure_ascii, out);
      out += key_sep;
      write(entries[i]->second);
    }
    if (opt.indent) newline(depth - 1);
    out += '}';
  }
};

}  // namespace

Value from_json(const nlohmann::ordered_json& j) { return from_json_impl(j); }
Value from_json(const nlohmann::json& j) { return from_json_impl(j); }

std::string to_json(const Value& v, const JsonOptions& opt) {
  Writer w{opt, opt.indent ? "," : ", ", ": ", {}};
  if (opt.separators) w.item_sep = opt.separators->first, w.key_sep = opt.separators->second;
  w.write(v);
  return std::move(w.out);
}

}  // namespace slm::jinja
