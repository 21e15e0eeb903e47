// The pipeline stages of a tokenizer.json, parsed from their JSON: normalizers, pre-tokenizers, decoders,
// post-processors. Each follows the HF `tokenizers` component of the same "type" name (references in the
// .cpp files); a type that is not implemented is an slm::Error naming it, never silently different ids.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "models/tokenizer/normalized.h"
#include "models/tokenizer/regex.h"

namespace slm::tok {

// ---- normalizers ----
struct Normalizer {
  enum class Kind { NFC, NFD, NFKC, NFKD, Prepend, Replace, Strip, Lowercase, Sequence };
  Kind kind = Kind::Sequence;
  std::string content;                // Prepend: prepend; Replace: content
  std::optional<Pattern> pattern;     // Replace
  bool strip_left = false, strip_right = false;
  std::vector<Normalizer> children;   // Sequence
  void apply(NormStr& s) const;
};
// `j` is the "normalizer" value (not null). `file` names the file in errors.
Normalizer parse_normalizer(const nlohmann::json& j, const std::string& file);

// ---- pre-tokenizers ----
// Pre-tokenisation works on one NormStr (the whole input after normalisation) cut into splits.
struct Split {
  uint32_t start, end;  // byte range in PreTokenized::ns.text
  int32_t id;           // >= 0: an added token, left alone by pre-tokenizers and the model
};
struct PreTokenized {
  NormStr ns;
  std::vector<Split> splits;
  bool byte_level_virtual = false;  // splits hold raw bytes; the model reads them through the GPT-2 map
};

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

struct PreTokenizer {
  enum class Kind { Split, ByteLevel, Metaspace, Whitespace, WhitespaceSplit };
  Kind kind = Kind::Split;
  std::optional<Pattern> pattern;  // Split / Whitespace / WhitespaceSplit / ByteLevel(use_regex)
  SplitBehavior behavior = SplitBehavior::Isolated;
  bool invert = false;
  bool add_prefix_space = false;  // ByteLevel
  bool use_regex = true;          // ByteLevel
  std::string replacement;        // Metaspace (one character, UTF-8)
  enum class Prepend { Always, First, Never } prepend_scheme = Prepend::Always;
  bool split = true;              // Metaspace
  // `virtual_bytes`: for the last ByteLevel of the chain, leave bytes raw (the model maps them).
  void apply(PreTokenized& pt, bool virtual_bytes) const;
};
// Flattens Sequence nesting into the leaf list (applied in order).
std::vector<PreTokenizer> parse_pre_tokenizer(const nlohmann::json& j, const std::string& file);
// True when the pipeline needs original offsets even when the caller did not ask for them.
bool needs_offsets(const std::vector<PreTokenizer>& pre);

// ---- decoders ----
struct Decoder {
  enum class Kind { ByteLevel, ByteFallback, Fuse, Strip, Replace, Metaspace, Sequence };
  Kind kind = Kind::Sequence;
  std::optional<Pattern> pattern;  // Replace
  std::string content;             // Replace content; Strip content (one char); Metaspace replacement
  size_t start = 0, stop = 0;      // Strip
  bool prepend_never = false;      // Metaspace: prepend_scheme == never
  std::vector<Decoder> children;   // Sequence
  void decode_chain(std::vector<std::string>& tokens) const;
};
Decoder parse_decoder(const nlohmann::json& j, const std::string& file);

// ---- post-processors ----
struct PostProcessor {
  enum class Kind { ByteLevel, Template, Sequence };
  Kind kind = Kind::Sequence;
  bool trim_offsets = false, add_prefix_space = false;  // ByteLevel
  struct Piece {
    bool is_special;
    std::string name;  // special token id (a key of specials) or sequence id ("A")
  };
  std::vector<Piece> single;                                   // Template
  std::map<std::string, std::vector<int32_t>> specials;        // Template: special_tokens[name].ids
  std::vector<PostProcessor> children;                         // Sequence
  // ids/offsets are the model's output for one sequence; token_of(id) gives the token string.
  void process(std::vector<int32_t>& ids, std::vector<std::pair<size_t, size_t>>* offsets,
               bool add_special_tokens, const std::function<std::string(int32_t)>& token_of) const;
};
PostProcessor parse_post_processor(const nlohmann::json& j, const std::string& file);

}  // namespace slm::tok
