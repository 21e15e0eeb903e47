// JSONL chat datasets (see dataset.h).
#include "models/chat/dataset.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "tensor/error.h"

namespace slm {
namespace {

using json = nlohmann::json;

std::string string_field(const json& j, const char* key, const std::string& where, bool required) {
  if (!j.contains(key) || j[key].is_null()) {
    if (required) throw Error(where + ": missing \"" + key + "\"");
    return "";
  }
  if (!j[key].is_string()) throw Error(where + ": \"" + key + "\" must be a string, got " + j[key].dump().substr(0, 60));
  return j[key].get<std::string>();
}

std::vector<ChatMessage> from_messages(const json& arr, const std::string& where) {
  if (!arr.is_array()) throw Error(where + ": \"messages\" must be a list");
  if (arr.empty()) throw Error(where + ": \"messages\" is empty");
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < arr.size(); ++i) {
    const std::string at = where + ": messages[" + std::to_string(i) + "]";
    const json& m = arr[i];
    if (!m.is_object()) throw Error(at + " must be an object with \"role\" and \"content\"");
    ChatMessage msg{string_field(m, "role", at, true), string_field(m, "content", at, true)};
    if (msg.role != "system" && msg.role != "user" && msg.role != "assistant")
      throw Error(at + ": role \"" + msg.role + "\" is not one of system, user, assistant");
    if (msg.role == "system" && i != 0) throw Error(at + ": a system message may only come first");
    out.push_back(std::move(msg));
  }
  return out;
}

}  // namespace

Conversation parse_chat_line(const std::string& line, const std::string& where) {
  json j;
  try {
    j = json::parse(line);
  } catch (const json::exception& e) {
    std::string what = e.what();
    throw Error(where + ": not valid JSON (" + what.substr(what.find(']') + 2) + ")");
  }
  if (!j.is_object()) throw Error(where + ": each line must be a JSON object");
  Conversation c;
  if (j.contains("messages")) {
    c.messages = from_messages(j["messages"], where);
  } else if (j.contains("prompt") || j.contains("completion")) {
    c.messages = {{"user", string_field(j, "prompt", where, true)},
                  {"assistant", string_field(j, "completion", where, true)}};
  } else if (j.contains("instruction") || j.contains("output")) {
    std::string user = string_field(j, "instruction", where, true);
    std::string input = string_field(j, "input", where, false);
    if (!input.empty()) user += "\n\n" + input;
    c.messages = {{"user", user}, {"assistant", string_field(j, "output", where, true)}};
  } else {
    throw Error(where + ": expected \"messages\", \"prompt\"/\"completion\" or \"instruction\"/\"output\" keys");
  }
  bool has_assistant = false, has_user = false;
  for (const auto& m : c.messages) {
    has_assistant |= m.role == "assistant";
    has_user |= m.role == "user";
  }
  if (!has_user) throw Error(where + ": the conversation has no user message");
  if (!has_assistant) throw Error(where + ": the conversation has no assistant message to learn from");
  return c;
}

ChatDataset read_chat_jsonl(const std::string& path, bool skip_bad) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("[data] cannot open " + path);
  ChatDataset ds;
  ds.path = path;
  std::string line;
  int64_t n = 0;
  while (std::getline(f, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;  // blank lines are allowed
    const std::string where = "[data] " + path + ":" + std::to_string(n);
    try {
      Conversation c = parse_chat_line(line, where);
      c.line = n;
      ds.conversations.push_back(std::move(c));
    } catch (const Error& e) {
      if (!skip_bad) throw Error(std::string(e.what()) + " (use --skip-bad to skip such lines)");
      ++ds.skipped;
      if (ds.problems.size() < 20) ds.problems.push_back(e.what());
    }
  }
  if (ds.conversations.empty())
    throw Error("[data] " + path + ": no usable examples" +
                (ds.skipped ? " (" + std::to_string(ds.skipped) + " bad lines skipped)" : std::string()));
  return ds;
}

}  // namespace slm
