// A conversation -> token ids + loss mask for supervised fine-tuning. The mask is 1 exactly on the
// tokens of each assistant message's content and on the end-of-turn / EOS token that closes that turn
// (so the tuned model learns to stop), found from the rendered template: each assistant content is
// located in the render (verbatim, or as the template rewrote it: trimmed, or with Qwen3's <think>
// block removed), then mapped to tokens through the tokenizer's byte offsets.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "models/chat/dataset.h"
#include "models/chat/template.h"
#include "models/tokenizer/tokenizer.h"

namespace slm {

struct EncodedExample {
  std::string text;                // the rendered conversation
  std::vector<int32_t> ids;        // encode(text, add_special_tokens=false), as apply_chat_template tokenizes
  std::vector<uint8_t> mask;       // 1 = trained (assistant content and its closing end-of-turn token)
  std::vector<std::pair<size_t, size_t>> offsets;  // byte span of each token in `text`
  int64_t full_length = 0;         // tokens before truncation
  bool truncated = false;
};

// max_len 0 = no truncation. Throws slm::Error naming the example when an assistant turn cannot be
// found in the render (a template that rewrites content in a way slm does not recognise).
EncodedExample encode_example(const Tokenizer& tok, const ChatTemplate& tmpl, const Conversation& conv,
                              int64_t max_len = 0);

// The render with trained spans marked as ⟦...⟧ (for `slm template --mask`).
std::string mark_trained(const EncodedExample& ex);

}  // namespace slm
