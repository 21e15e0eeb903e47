// The global names of a chat template's environment: transformers' raise_exception and
// strftime_now (chat_template_utils._compile_jinja_template) and jinja2's DEFAULT_NAMESPACE (range,
// dict, namespace; lipsum / cycler / joiner are refused as unsupported).
#include <ctime>

#include "models/chat/jinja_builtins.h"

namespace slm::jinja {

namespace {

// datetime.now().strftime(fmt) on the fixed clock when one is set.
std::string strftime_now(const std::optional<std::tm>& now, const std::string& fmt) {
  std::tm tm{};
  if (now) {
    tm = *now;
  } else {
    const std::time_t t = std::time(nullptr);
    localtime_r(&t, &tm);
  }
  std::string f = py_replace(fmt, "%f", "000000", -1);
  if (f.empty()) return "";
  std::string buf(256 + f.size() * 8, '\0');
  const size_t n = std::strftime(buf.data(), buf.size(), f.c_str(), &tm);
  buf.resize(n);
  return buf;
}

}  // namespace

std::vector<std::pair<std::string, Value>> make_globals(const std::optional<std::tm>& now,
                                                        std::vector<std::shared_ptr<Namespace>>& namespaces) {
  std::vector<std::pair<std::string, Value>> g;
  auto add = [&g](const std::string& name, Value v) { g.emplace_back(name, std::move(v)); };
  add("raise_exception", make_function("raise_exception", [](CallArgs& a) -> Value {
        const Value msg = a.pos.empty() ? (a.kw.empty() ? Value("") : a.kw[0].second) : a.pos[0];
        throw OpError(ErrorKind::kRaised, to_str(msg));
      }));
  add("strftime_now", make_function("strftime_now", [now](CallArgs& a) -> Value {
        const auto p = bind_args("strftime_now", a, {"format"});
        if (!p[0] || !p[0]->is_string()) type_error("strftime_now() argument must be str");
        return Value(strftime_now(now, p[0]->str()));
      }));
  add("range", make_function("range", [](CallArgs& a) -> Value {
        if (!a.kw.empty()) type_error("range() takes no keyword arguments");
        if (a.pos.empty() || a.pos.size() > 3) type_error("range expected 1 to 3 arguments");
        int64_t start = 0, stop, step = 1;
        if (a.pos.size() == 1) {
          stop = to_index(a.pos[0], "range() arguments");
        } else {
          start = to_index(a.pos[0], "range() arguments"), stop = to_index(a.pos[1], "range() arguments");
          if (a.pos.size() == 3) step = to_index(a.pos[2], "range() arguments");
        }
        if (step == 0) type_error("range() arg 3 must not be zero");
        ValueList items;
        for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
          if (items.size() >= 100000)
            type_error("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
          items.emplace_back(i);
        }
        Value r = Value::list(std::move(items), SeqKind::kRange);
        const_cast<Seq&>(r.seq()).range_repr = "range(" + std::to_string(start) + ", " + std::to_string(stop) +
                                               (step != 1 ? ", " + std::to_string(step) : "") + ")";
        return r;
      }));
  auto dict_fn = [](CallArgs& a) -> Dict {
    Dict d;
    if (a.pos.size() > 1) type_error("expected at most 1 argument, got " + std::to_string(a.pos.size()));
    if (!a.pos.empty()) {
      if (a.pos[0].is_dict()) {
        d = a.pos[0].dict();
      } else {
        for (const Value& kv : iterate(a.pos[0])) {
          const ValueList pair = iterate(kv);
          if (pair.size() != 2) type_error("dictionary update sequence element has wrong length");
          check_hashable(pair[0]);
          d.set(pair[0], pair[1]);
        }
      }
    }
    for (const auto& [k, v] : a.kw) d.set(Value(k), v);
    return d;
  };
  add("dict", make_function("dict", [dict_fn](CallArgs& a) { return Value::dict(dict_fn(a)); }));
  add("namespace", make_function("namespace", [&namespaces, dict_fn](CallArgs& a) -> Value {
        auto ns = std::make_shared<Namespace>();
        ns->attrs = dict_fn(a);
        namespaces.push_back(ns);
        return Value(std::shared_ptr<Object>(ns));
      }));
  for (const char* name : {"lipsum", "cycler", "joiner"}) {
    const std::string n = name;
    add(n, make_function(n, [n](CallArgs&) -> Value { unsupported("the global '" + n + "'"); }));
  }
  return g;
}

}  // namespace slm::jinja
