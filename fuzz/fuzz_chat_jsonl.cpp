// libFuzzer target: one line of a chat JSONL dataset (models/chat/dataset.cpp). Any input must either
// parse into a valid conversation or throw slm::Error; anything else (crash, UB, other exception) is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "models/chat/dataset.h"
#include "tensor/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string line(reinterpret_cast<const char*>(data), size);
  try {
    slm::Conversation c = slm::parse_chat_line(line, "fuzz");
    if (c.messages.empty()) __builtin_trap();  // a parsed conversation always has messages
  } catch (const slm::Error&) {
  }
  return 0;
}
