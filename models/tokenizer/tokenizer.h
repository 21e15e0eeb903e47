// slm::Tokenizer: a Hugging Face tokenizer.json, encoded and decoded byte-exactly as the `tokenizers`
// library does (Tokenizer.from_file(...).encode(text).ids; transformers' slow tokenizers are not the
// reference). Supported: BPE models (byte-level GPT-2 style and SentencePiece style with byte_fallback),
// the normalizers / pre-tokenizers / decoders / post-processors listed in docs/tokenizer.md; anything else
// is an slm::Error that names the component, never silently different ids.
// Input text must be UTF-8; invalid bytes are replaced by U+FFFD first (docs/tokenizer.md), offsets still
// index the caller's bytes. Thread-safe: a loaded Tokenizer is immutable and cheap to copy.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace slm {

// transformers-level special tokens (tokenizer_config.json, special_tokens_map.json, generation_config.json).
// They describe the model's conventions; they never change what encode() returns — only the
// tokenizer.json post-processor adds tokens (add_bos_token/add_eos_token are read but not applied).
struct SpecialTokens {
  std::string bos, eos, pad, unk;                         // token strings ("" when not declared)
  std::optional<int32_t> bos_id, eos_id, pad_id, unk_id;  // their ids in this tokenizer
  std::vector<int32_t> eos_ids;  // every end-of-generation id: eos_id plus generation_config eos_token_id(s)
  bool add_bos_token = false, add_eos_token = false;  // as declared in tokenizer_config.json
  std::string chat_template;                           // tokenizer_config.json "chat_template" (string form)
};

class Tokenizer {
 public:
  // A directory holding tokenizer.json (plus optional tokenizer_config.json, special_tokens_map.json,
  // generation_config.json), or the path of a tokenizer.json (the others are read from beside it).
  static Tokenizer load(const std::string& dir_or_json_path);
  // From tokenizer.json text (no companion files). `name` labels errors.
  static Tokenizer from_json_string(std::string_view json_text, const std::string& name = "tokenizer.json");

  struct Encoding {
    std::vector<int32_t> ids;
    std::vector<std::pair<size_t, size_t>> offsets;  // [start, end) byte offsets into the input; (0, 0) for
                                                     // tokens the post-processor added
  };

  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const;
  Encoding encode_with_offsets(std::string_view text, bool add_special_tokens = true) const;
  // One encode() per text, on all OpenMP threads.
  std::vector<std::vector<int32_t>> encode_batch(const std::vector<std::string>& texts,
                                                 bool add_special_tokens = true) const;

  // Ids outside the vocabulary are skipped (as HF does).
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;

  int64_t vocab_size() const;  // largest id + 1 (model vocabulary and added tokens): the embedding rows
  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::string id_to_token(int32_t id) const;  // "" when the id is unknown
  bool is_special(int32_t id) const;          // an added token marked "special"
  const SpecialTokens& special_tokens() const;

  struct Impl;

 private:
  std::shared_ptr<const Impl> impl_;
};

// Incremental decoding for generation: push() returns the text that the new id completes — never a partial
// UTF-8 character — and finish() the rest. Concatenated, the chunks equal decode(all ids) whenever the byte
// tokens form valid UTF-8 (always for ids that encode() produced). Follows HF DecodeStream: it decodes a
// short window of recent ids and emits the new suffix once it no longer ends in U+FFFD. With ByteFallback an
// invalid or truncated byte run makes decode() turn the whole run into U+FFFD after the fact; the stream
// keeps what it emitted and renders only the new bytes as U+FFFD (HF's DecodeStream raises an error there).
class StreamDecoder {
 public:
  StreamDecoder(const Tokenizer& tok, bool skip_special_tokens);
  std::string push(int32_t id);
  std::string finish();

 private:
  std::string divergent_tail() const;
  Tokenizer tok_;             // shares the loaded tables
  bool skip_;
  std::vector<int32_t> ids_;  // the window: the ids of the last emitted chunk, then the pending ones
  std::string prefix_;        // decode of ids_[0, prefix_index_)
  size_t prefix_index_ = 0;
};

}  // namespace slm
