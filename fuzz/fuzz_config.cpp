// libFuzzer target: arbitrary bytes as config.json text, through slm::parse_config.
// parse_config's contract is to throw only slm::Error on bad input, so slm::Error is the one expected
// outcome; any other exception (nlohmann's type_error on a wrong-typed field, std::out_of_range, ...)
// escapes and crashes the run, which is the bug this target hunts. Accepted configs must be coherent:
// one layer type per layer. Each input runs twice: strict, and with SLM_ALLOW_UNKNOWN_CONFIG=1 so that
// inputs with unknown keys still reach the field readers.
#include <cstdint>
#include <cstdlib>
#include <stdlib.h>
#include <string>

#include "models/config.h"
#include "tensor/error.h"

static void parse(const std::string& text) {
  try {
    const slm::ModelConfig c = slm::parse_config(text, "fuzz");
    if (c.layer_types.size() != size_t(c.num_hidden_layers)) std::abort();
  } catch (const slm::Error&) {
  }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  ::unsetenv("SLM_ALLOW_UNKNOWN_CONFIG");
  parse(text);
  ::setenv("SLM_ALLOW_UNKNOWN_CONFIG", "1", 1);
  parse(text);
  return 0;
}
