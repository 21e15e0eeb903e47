// Added tokens of tokenizer.json ("added_tokens"): id assignment, and the leftmost-longest matching that cuts
// the input before the model sees it — `normalized: false` tokens on the raw text, `normalized: true` ones on
// each normalised piece — with single_word / lstrip / rstrip. Reference: HF tokenizers
// src/tokenizer/added_vocabulary.rs (find_matches, add_tokens) and tokenizer/serialization.rs (ids come from
// the model vocabulary or are assigned in order; the "id" written in the file is not used).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "models/tokenizer/flat_map.h"

namespace slm::tok {

class Bpe;
struct Normalizer;

struct AddedToken {
  std::string content;
  bool single_word = false, lstrip = false, rstrip = false, normalized = true, special = false;
};

struct AddedMatch {
  uint32_t start, end;  // byte range in the searched text
  int32_t id;           // -1: plain text between tokens
};

class AddedVocab {
 public:
  void build(const nlohmann::json& added_tokens, const Bpe& model, const Normalizer* normalizer,
             const std::string& file);

  // HF find_matches: cuts `text` into plain and token ranges (on the normalised-token set when `normalized`).
  void split(std::string_view text, bool normalized, std::vector<AddedMatch>& out) const;
  bool has(bool normalized) const { return (normalized ? norm_ : raw_).values.size() > 0; }

  std::optional<int32_t> token_to_id(std::string_view content) const {
    const int32_t* id = by_content_.find(content);
    return id ? std::optional<int32_t>(*id) : std::nullopt;
  }
  const AddedToken* by_id(int32_t id) const {
    auto it = by_id_.find(id);
    return it == by_id_.end() ? nullptr : &it->second;
  }
  // Decoding spelling of an added token: its content, or its normalised form for normalized tokens.
  const std::string* spelling(int32_t id) const;
  bool is_special_content(std::string_view s) const { return special_.find(s) != nullptr; }
  int32_t max_id() const { return max_id_; }
  size_t size() const { return by_content_.size(); }

 private:
  struct Trie {
    U64Map<int32_t> edges;            // (node << 8 | byte) -> child node
    std::vector<int32_t> values;      // node -> token id or -1
    bool first_byte[256] = {};
    void insert(std::string_view s, int32_t id);
  };
  Trie raw_, norm_;
  StrMap<int32_t> by_content_;
  std::unordered_map<int32_t, AddedToken> by_id_;
  std::unordered_map<int32_t, std::string> normalized_form_;
  StrMap<char> special_;
  int32_t max_id_ = -1;
};

}  // namespace slm::tok
