// The BPE model of tokenizer.json ("model": {"type": "BPE", ...}): vocabulary, merges by rank, unk_token,
// fuse_unk, byte_fallback, continuing_subword_prefix / end_of_word_suffix, ignore_merges, and a per-thread
// cache of merged words. Reference: HF tokenizers src/models/bpe/{model,word,serialization}.rs — the merge
// loop always merges the adjacent pair of lowest rank, leftmost first, which is what HF's heap does.
// Not here: dropout (a non-zero dropout is rejected: it makes ids random).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "models/tokenizer/flat_map.h"

namespace slm::tok {

struct BpeToken {
  int32_t id;
  uint32_t start, end;  // byte range in the word
};

class Bpe {
 public:
  // `j` is the "model" object; `file` names the file in errors.
  static Bpe parse(const nlohmann::json& j, const std::string& file);

  // Appends the tokens of one pre-token. raw_bytes: `word` holds raw bytes that the vocabulary spells
  // through the GPT-2 byte map (ByteLevel applied virtually); only when supports_raw_bytes().
  void tokenize(std::string_view word, bool raw_bytes, std::vector<BpeToken>& out) const;
  bool supports_raw_bytes() const { return raw_ok_; }

  std::optional<int32_t> token_to_id(std::string_view token) const {
    const int32_t* id = vocab_.find(token);
    return id ? std::optional<int32_t>(*id) : std::nullopt;
  }
  // nullptr when the id is not in the vocabulary.
  const std::string* id_to_token(int32_t id) const {
    return id >= 0 && static_cast<size_t>(id) < vocab_r_.size() && has_r_[id] ? &vocab_r_[id] : nullptr;
  }
  size_t vocab_entries() const { return vocab_.size(); }  // HF get_vocab_size()
  int32_t max_id() const { return static_cast<int32_t>(vocab_r_.size()) - 1; }

 private:
  struct Merge {
    uint32_t rank;
    int32_t new_id;
  };
  struct Sym {
    int32_t id;
    uint32_t start, len;
  };
  void initial_symbols(std::string_view word, bool raw_bytes, std::vector<Sym>& syms) const;
  void merge(std::vector<Sym>& syms) const;
  void merge_long(std::vector<Sym>& syms) const;
  const Merge* find_merge(int32_t a, int32_t b) const {
    return merges_.find((static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b));
  }

  StrMap<int32_t> vocab_;
  std::vector<std::string> vocab_r_;
  std::vector<bool> has_r_;
  U64Map<Merge> merges_;
  std::optional<std::string> unk_token_;
  int32_t unk_id_ = -1;
  std::optional<std::string> prefix_, suffix_;  // continuing_subword_prefix, end_of_word_suffix
  bool fuse_unk_ = false, byte_fallback_ = false, ignore_merges_ = false;
  int32_t byte_token_[256];  // id of "<0xNN>" or -1
  // Virtual ByteLevel: id of the vocabulary entry spelling byte b, and the vocabulary keyed by raw bytes.
  bool raw_ok_ = false;
  int32_t byte_char_id_[256];
  StrMap<int32_t> raw_vocab_;
  uint64_t cache_owner_ = 0;  // key of this model's per-thread caches
};

}  // namespace slm::tok
