// Renders a parsed chat template: jinja2's runtime semantics for the statements of jinja_ast.h
// (scoping: a for-loop iteration, macro call, with/filter/set block get their own scope that
// reads through to the enclosing one; `if` does not), with the globals transformers installs
// (raise_exception, strftime_now) next to jinja2's (range, dict, namespace).
#pragma once
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>

#include "models/chat/jinja_ast.h"
#include "models/chat/jinja_value.h"

namespace slm::jinja {

struct RenderOptions {
  std::optional<std::tm> now;      // the clock strftime_now reads; local time when empty
  uint64_t max_steps = 5'000'000;  // statements + loop iterations before the render is refused
  size_t max_output = size_t(256) << 20;
  size_t max_string = size_t(64) << 20;  // the largest string / list one operation may build
};

// Renders `tpl` with `context` as its variables. Throws TemplateError (with line and column).
std::string render(const Template& tpl, const Dict& context, const RenderOptions& opt);

}  // namespace slm::jinja
