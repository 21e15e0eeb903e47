// Chat datasets in JSONL: one conversation per line, in any of three schemas —
//   {"messages": [{"role": "system|user|assistant", "content": "..."}, ...]}   (the starter datasets)
//   {"prompt": "...", "completion": "..."}                → user, assistant
//   {"instruction": "...", "input": "...", "output": "..."} → user (instruction, blank line, input), assistant
// Each line is validated; a bad line is an error naming file:line and what is wrong, or, with
// skip_bad, is counted and reported. Not a tokenizer: see encode_example for ids and loss masks.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "models/chat/template.h"

namespace slm {

struct Conversation {
  std::vector<ChatMessage> messages;
  int64_t line = 0;  // 1-based line in its file
};

struct ChatDataset {
  std::string path;
  std::vector<Conversation> conversations;
  int64_t skipped = 0;                 // bad lines skipped (skip_bad)
  std::vector<std::string> problems;   // "F:12: ..." for each skipped line (first 20 kept)
};

// Reads and validates a JSONL file. Throws slm::Error on the first bad line unless skip_bad.
ChatDataset read_chat_jsonl(const std::string& path, bool skip_bad = false);

// Parses one JSON line (exposed for tests and the fuzzer); `where` prefixes error messages.
Conversation parse_chat_line(const std::string& line, const std::string& where);

}  // namespace slm
