// libFuzzer target: arbitrary bytes as chat-template text, parsed and rendered by slm's Jinja
// interpreter (models/chat/jinja_*, template.cpp) over fixed conversations. The contract is that any
// template, however malformed or hostile, ends in a rendered string or an slm::Error (syntax,
// unsupported construct, runtime error, raise_exception); any other exception, a crash, a sanitizer
// report, a hang or runaway memory is the bug this target hunts. Renders run with small budgets
// (steps, output and string sizes) so that legitimate-but-huge templates fail fast as kUnsupported.
#include <cstdint>
#include <ctime>
#include <string>

#include "models/chat/jinja_ast.h"
#include "models/chat/jinja_eval.h"
#include "models/chat/jinja_json.h"
#include "models/chat/template.h"
#include "tensor/error.h"

namespace {

const slm::jinja::Dict& context(bool add_generation_prompt) {
  static const auto make = [](bool agp) {
    const auto j = nlohmann::ordered_json::parse(R"({
      "messages": [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "Hi {{ there }} <|im_end|> é😀"},
        {"role": "assistant", "content": "<think>\nhm\n</think>\n\nHello!",
         "tool_calls": [{"id": "call12345", "type": "function",
                         "function": {"name": "f", "arguments": {"x": 1, "y": [true, null, 2.5]}}}]},
        {"role": "tool", "content": "{\"ok\": 1}"},
        {"role": "user", "content": ["text", {"type": "image"}]}
      ],
      "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
      "documents": null, "bos_token": "<s>", "eos_token": "</s>", "enable_thinking": false
    })");
    slm::jinja::Value v = slm::jinja::from_json(j);
    slm::jinja::Dict d = v.dict();
    d.set(slm::jinja::Value("add_generation_prompt"), slm::jinja::Value(agp));
    return d;
  };
  static const slm::jinja::Dict with = make(true), without = make(false);
  return add_generation_prompt ? with : without;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::shared_ptr<const slm::jinja::Template> tpl;
  try {
    tpl = slm::jinja::parse_template(text);
  } catch (const slm::Error&) {
    return 0;
  }
  slm::jinja::RenderOptions opt;
  std::tm now{};
  now.tm_year = 125, now.tm_mon = 2, now.tm_mday = 9;
  opt.now = now;
  opt.max_steps = 20000;
  opt.max_output = size_t(1) << 20;
  opt.max_string = size_t(1) << 16;
  for (const bool agp : {false, true}) {
    try {
      slm::jinja::render(*tpl, context(agp), opt);
    } catch (const slm::Error&) {
    }
  }
  if (size < 4096) {  // the public constructor too (template.cpp), for short inputs
    try {
      slm::ChatTemplate t(text, {{"bos_token", "<s>"}, {"eos_token", {{"content", "</s>"}}}, {"pad_token", nullptr}});
    } catch (const slm::Error&) {
    }
  }
  return 0;
}
