// Conversation -> ids + loss mask (see example.h).
#include "models/chat/example.h"

#include <algorithm>

#include "tensor/error.h"

namespace slm {
namespace {

std::string trim(const std::string& s) {
  const char* ws = " \t\r\n";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

// Where the template put an assistant message's content: the content itself, or how templates commonly
// rewrite it. Returns {start, end} in `text`, searching from `from`; npos when not found.
std::pair<size_t, size_t> locate(const std::string& text, const std::string& content, size_t from) {
  std::vector<std::string> forms = {content, trim(content)};
  size_t think = content.rfind("</think>");
  if (think != std::string::npos) {
    std::string after = content.substr(think + 8);
    after.erase(0, after.find_first_not_of('\n') == std::string::npos ? after.size() : after.find_first_not_of('\n'));
    forms.push_back(after);
    forms.push_back(trim(after));
  }
  for (const auto& f : forms) {
    if (f.empty()) continue;
    size_t p = text.find(f, from);
    if (p != std::string::npos) return {p, p + f.size()};
  }
  return {std::string::npos, std::string::npos};
}

bool is_blank(const std::string& s) { return s.find_first_not_of(" \t\r\n") == std::string::npos; }

}  // namespace

EncodedExample encode_example(const Tokenizer& tok, const ChatTemplate& tmpl, const Conversation& conv,
                              int64_t max_len) {
  EncodedExample ex;
  ex.text = tmpl.render(conv.messages, /*add_generation_prompt=*/false);
  // Byte spans of assistant contents, in order. Empty contents train only their end-of-turn token;
  // they sit right after the previous match.
  std::vector<std::pair<size_t, size_t>> spans;
  size_t cursor = 0;
  for (size_t i = 0; i < conv.messages.size(); ++i) {
    const ChatMessage& m = conv.messages[i];
    if (trim(m.content).empty()) {
      if (m.role == "assistant") spans.push_back({cursor, cursor});
      continue;
    }
    auto [b, e] = locate(ex.text, m.content, cursor);
    if (b == std::string::npos) {
      if (m.role != "assistant") continue;  // e.g. a system prompt folded or dropped by the template
      throw Error("[data] example at line " + std::to_string(conv.line) + ": assistant message " + std::to_string(i) +
                  " does not appear in the rendered chat template, so its loss mask cannot be placed");
    }
    if (m.role == "assistant") spans.push_back({b, e});
    cursor = e;
  }
  Tokenizer::Encoding enc = tok.encode_with_offsets(ex.text, /*add_special_tokens=*/false);
  ex.ids = std::move(enc.ids);
  ex.offsets = std::move(enc.offsets);
  ex.mask.assign(ex.ids.size(), 0);
  const auto& eos = tok.special_tokens().eos_ids;
  for (auto [b, e] : spans) {
    size_t t = 0;
    for (; t < ex.ids.size() && ex.offsets[t].second <= b; ++t) {}
    for (; t < ex.ids.size() && ex.offsets[t].first < e; ++t) ex.mask[t] = 1;  // overlaps the content
    // The closing end-of-turn token: skip whitespace-only tokens, take the first special/eos token.
    for (size_t u = t; u < ex.ids.size(); ++u) {
      const int32_t id = ex.ids[u];
      const bool closes = tok.is_special(id) || std::find(eos.begin(), eos.end(), id) != eos.end();
      if (closes) {
        for (size_t w = t; w <= u; ++w) ex.mask[w] = 1;
        break;
      }
      const auto [s, f] = ex.offsets[u];
      if (!is_blank(ex.text.substr(s, f - s))) break;
    }
  }
  ex.full_length = int64_t(ex.ids.size());
  if (max_len > 0 && ex.full_length > max_len) {
    ex.ids.resize(size_t(max_len));
    ex.mask.resize(size_t(max_len));
    ex.offsets.resize(size_t(max_len));
    ex.truncated = true;
  }
  return ex;
}

std::string mark_trained(const EncodedExample& ex) {
  std::string out;
  size_t pos = 0;
  bool open = false;
  for (size_t t = 0; t < ex.ids.size(); ++t) {
    auto [s, e] = ex.offsets[t];
    if (s < pos) s = pos;
    if (bool(ex.mask[t]) != open) {
      out += ex.text.substr(pos, s - pos);
      pos = s;
      out += open ? "⟧" : "⟦";
      open = !open;
    }
    out += ex.text.substr(pos, std::max(e, pos) - pos);
    pos = std::max(e, pos);
  }
  if (open) out += "⟧";
  out += ex.text.substr(std::min(pos, ex.text.size()));
  return out;
}

}  // namespace slm
