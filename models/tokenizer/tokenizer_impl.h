// The loaded state behind slm::Tokenizer (internal to models/tokenizer/).
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "models/tokenizer/added_vocab.h"
#include "models/tokenizer/bpe.h"
#include "models/tokenizer/components.h"
#include "models/tokenizer/tokenizer.h"

namespace slm {

struct Tokenizer::Impl {
  std::string file;  // tokenizer.json path (errors)
  std::optional<tok::Normalizer> normalizer;
  std::vector<tok::PreTokenizer> pre;  // flattened Sequence
  tok::Bpe model;
  tok::AddedVocab added;
  std::optional<tok::PostProcessor> post;
  std::optional<tok::Decoder> decoder;
  SpecialTokens specials;
  bool virtual_bytes = false;  // last pre-tokenizer is ByteLevel and the model reads raw bytes
  bool force_offsets = false;  // the pipeline reads original offsets (Metaspace prepend_scheme "first")
  int64_t vocab_size = 0;

  // The whole pipeline: added tokens, normalizer, pre-tokenizers, model, post-processor.
  void encode(std::string_view text, bool add_special_tokens, std::vector<int32_t>& ids,
              std::vector<std::pair<size_t, size_t>>* offsets) const;
  // Token spelling used by decoders: added token (normalised form when normalized) else model vocabulary.
  const std::string* token_string(int32_t id) const {
    if (const std::string* s = added.spelling(id)) return s;
    return model.id_to_token(id);
  }
};

// tokenizer_load.cpp
void load_special_tokens(Tokenizer::Impl& impl, const std::string& dir);

}  // namespace slm
