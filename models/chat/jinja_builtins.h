// The built-in behaviour of the Jinja interpreter, shared by parser and evaluator: Python
// operators and attribute/item lookup as jinja2's sandbox performs them (jinja_ops.cpp), str /
// dict / list methods (jinja_methods.cpp), filters (jinja_filters.cpp) and tests
// (jinja_tests.cpp).
#pragma once
#include <ctime>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "models/chat/jinja_value.h"

namespace slm::jinja {

// Whether slm implements a filter/test name: kNo for jinja2 built-ins it leaves out (an error
// naming them at load time), kUnknown for names jinja2 itself does not know.
enum class Support { kYes, kNo, kUnknown };
Support filter_support(const std::string& name);
Support test_support(const std::string& name);

Value apply_filter(const std::string& name, const Value& v, const CallArgs& args);
bool apply_test(const std::string& name, const Value& v, const CallArgs& args);

// ---- operators (jinja_ops.cpp) ----
Value op_binary(const std::string& op, const Value& a, const Value& b);  // + - * / // % ** ~
Value op_neg(const Value& a);
Value op_pos(const Value& a);
bool op_compare(const std::string& op, const Value& a, const Value& b);  // == != < <= > >= in notin
bool op_contains(const Value& container, const Value& item);
// environment.getattr / getitem of jinja2's SandboxedEnvironment.
Value get_attr(const Value& obj, const std::string& name);
Value get_item(const Value& obj, const Value& key);
// obj[start:stop:step]; omitted parts are None.
Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step);
// jinja2.utils.object_type_repr: "dict object", "None", "jinja2.utils.Namespace object".
std::string object_type_repr(const Value& v);
[[noreturn]] void raise_undefined(const Value& u);
// printf-style `str % args`.
std::string percent_format(const std::string& fmt, const Value& args);

// ---- methods (jinja_methods.cpp) ----
// Looks up a Python method of a str / dict / list / tuple; true and a bound function when `name`
// is one (methods slm lacks bind to a function that reports them as unsupported).
bool method_lookup(const Value& self, const std::string& name, Value& out);

// ---- globals (jinja_globals.cpp) ----
// raise_exception, strftime_now (reading `now`, or the local clock), range, dict, namespace (each
// namespace() made is appended to `namespaces`, which must outlive the render).
std::vector<std::pair<std::string, Value>> make_globals(const std::optional<std::tm>& now,
                                                        std::vector<std::shared_ptr<Namespace>>& namespaces);

// ---- argument binding for built-ins ----
// Binds positional then keyword arguments to `names` with Python's rules; a missing one is nullopt.
std::vector<std::optional<Value>> bind_args(const std::string& fname, const CallArgs& args,
                                            std::initializer_list<const char*> names);
// Python str.strip family on code points; chars == nullptr strips whitespace.
std::string py_strip(const std::string& s, const std::string* chars, bool left, bool right);
std::vector<std::string> py_splitlines(const std::string& s, bool keepends);
std::string py_replace(const std::string& s, const std::string& old, const std::string& repl, int64_t count);
int64_t to_index(const Value& v, const char* what);  // an int argument (bool counts); type_error otherwise

// The largest string (and list, in 8-byte units) one operation may build; RenderOptions sets it per
// render (64 MiB by default). check_size() refuses larger results as unsupported.
size_t max_string_bytes();
void check_size(uint64_t bytes);
struct StringLimit {  // sets max_string_bytes() for the current thread while alive
  explicit StringLimit(size_t bytes);
  ~StringLimit();
  size_t saved;
};

}  // namespace slm::jinja
