// Encode / decode pipeline of slm::Tokenizer and StreamDecoder. Reference: HF tokenizers
// src/tokenizer/mod.rs (encode_single_sequence, decode, DecodeStream) and pre_tokenizer.rs (into_encoding).
#include "models/tokenizer/tokenizer_impl.h"
#include "models/tokenizer/unicode.h"
#include "tensor/error.h"

namespace slm {

using tok::AddedMatch;
using tok::BpeToken;
using tok::NormStr;
using tok::PreTokenized;

void Tokenizer::Impl::encode(std::string_view input, bool add_special_tokens, std::vector<int32_t>& ids,
                             std::vector<std::pair<size_t, size_t>>* offsets) const {
  ids.clear();
  if (offsets) offsets->clear();
  // Invalid UTF-8 -> U+FFFD per maximal invalid subsequence; `back` maps repaired bytes to input bytes.
  std::string repaired;
  std::vector<uint32_t> back;
  std::string_view text = input;
  if (tok::utf8_valid_prefix(input) != input.size()) {
    tok::utf8_lossy_append(input, repaired, offsets ? &back : nullptr);
    back.push_back(static_cast<uint32_t>(input.size()));
    text = repaired;
  }
  const bool track = offsets != nullptr || force_offsets;

  // 1. Added tokens on the raw text, then the normalizer and normalised added tokens on each plain piece.
  PreTokenized pt;
  pt.ns.track = track;
  pt.ns.text.reserve(text.size() + text.size() / 8);
  std::vector<AddedMatch> raw, inner;
  added.split(text, false, raw);
  for (const AddedMatch& m : raw) {
    NormStr piece(text.substr(m.start, m.end - m.start), m.start, track);
    const uint32_t base = static_cast<uint32_t>(pt.ns.text.size());
    if (m.id >= 0) {
      pt.ns.append(piece, 0, piece.text.size());
      pt.splits.push_back({base, static_cast<uint32_t>(pt.ns.text.size()), m.id});
      continue;
    }
    if (normalizer) normalizer->apply(piece);
    if (piece.text.empty()) continue;
    pt.ns.append(piece, 0, piece.text.size());
    if (added.has(true)) {
      added.split(piece.text, true, inner);
      for (const AddedMatch& n : inner)
        if (n.end > n.start) pt.splits.push_back({base + n.start, base + n.end, n.id});
    } else {
      pt.splits.push_back({base, static_cast<uint32_t>(pt.ns.text.size()), -1});
    }
  }
  // 2. Pre-tokenizers.
  for (size_t i = 0; i < pre.size(); ++i) pre[i].apply(pt, virtual_bytes && i + 1 == pre.size());
  // 3. Model.
  thread_local std::vector<BpeToken> toks;
  for (const tok::Split& sp : pt.splits) {
    if (sp.id >= 0) {
      ids.push_back(sp.id);
      if (offsets) {
        tok::Span o = pt.ns.original(sp.start, sp.end);
        offsets->emplace_back(o.start, o.end);
      }
      continue;
    }
    toks.clear();
    model.tokenize(std::string_view(pt.ns.text).substr(sp.start, sp.end - sp.start), pt.byte_level_virtual, toks);
    for (const BpeToken& t : toks) {
      ids.push_back(t.id);
      if (offsets) {
        tok::Span o = pt.ns.original(sp.start + t.start, sp.start + t.end);
        offsets->emplace_back(o.start, o.end);
      }
    }
  }
  // 4. Post-processor.
  if (post) {
    post->process(ids, offsets, add_special_tokens, [this](int32_t id) {
      const std::string* s = token_string(id);
      return s ? *s : std::string();
    });
  }
  if (offsets && !back.empty()) {
    for (auto& [s, e] : *offsets) {
      if (s == e && s == 0) continue;
      s = back[s];
      e = back[e];
    }
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  std::vector<int32_t> ids;
  impl_->encode(text, add_special_tokens, ids, nullptr);
  return ids;
}

Tokenizer::Encoding Tokenizer::encode_with_offsets(std::string_view text, bool add_special_tokens) const {
  Encoding e;
  impl_->encode(text, add_special_tokens, e.ids, &e.offsets);
  return e;
}

std::vector<std::vector<int32_t>> Tokenizer::encode_batch(const std::vector<std::string>& texts,
                                                          bool add_special_tokens) const {
  std::vector<std::vector<int32_t>> out(texts.size());
  const Impl& impl = *impl_;
  std::string error;
#pragma omp parallel for schedule(dynamic, 16)
  for (size_t i = 0; i < texts.size(); ++i) {
    try {
      impl.encode(texts[i], add_special_tokens, out[i], nullptr);
    } catch (const std::exception& e) {
#pragma omp critical(slm_tokenizer_batch_error)
      if (error.empty()) error = e.what();
    }
  }
  SLM_CHECK(error.empty(), error);
  return out;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  const Impl& impl = *impl_;
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    const std::string* s = impl.token_string(id);
    if (!s) continue;
    if (skip_special_tokens && impl.added.is_special_content(*s)) continue;
    tokens.push_back(*s);
  }
  std::string out;
  if (impl.decoder) {
    impl.decoder->decode_chain(tokens);
    for (const std::string& t : tokens) out += t;
  } else {
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i) out += ' ';
      out += tokens[i];
    }
  }
  return out;
}

int64_t Tokenizer::vocab_size() const { return impl_->vocab_size; }

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (auto id = impl_->added.token_to_id(token)) return id;
  return impl_->model.token_to_id(token);
}

std::string Tokenizer::id_to_token(int32_t id) const {
  const std::string* s = impl_->added.by_id(id) ? &impl_->added.by_id(id)->content : impl_->model.id_to_token(id);
  return s ? *s : std::string();
}

bool Tokenizer::is_special(int32_t id) const {
  const tok::AddedToken* t = impl_->added.by_id(id);
  return t && t->special;
}

const SpecialTokens& Tokenizer::special_tokens() const { return impl_->specials; }

// ---------------------------------------------------------------- StreamDecoder

namespace {
const std::string kReplacement = "\xEF\xBF\xBD";
bool ends_in_replacement(const std::string& s) {
  return s.size() >= 3 && s.compare(s.size() - 3, 3, kReplacement) == 0;
}
}  // namespace

StreamDecoder::StreamDecoder(const Tokenizer& tok, bool skip_special_tokens) : tok_(tok), skip_(skip_special_tokens) {}

// The text of ids_[prefix_index_, end) when the window's decode no longer extends what was emitted. That
// happens only with ByteFallback: an invalid byte turns its whole byte run into U+FFFD, retroactively (HF's
// DecodeStream fails here). Emitted text is kept; the new ids are decoded after one id of context.
std::string StreamDecoder::divergent_tail() const {
  std::vector<int32_t> pending(ids_.begin() + static_cast<std::ptrdiff_t>(prefix_index_), ids_.end());
  if (prefix_index_ > 0) {
    std::vector<int32_t> ctx_ids{ids_[prefix_index_ - 1]};
    std::string ctx = tok_.decode(ctx_ids, skip_);
    ctx_ids.insert(ctx_ids.end(), pending.begin(), pending.end());
    std::string both = tok_.decode(ctx_ids, skip_);
    if (both.compare(0, ctx.size(), ctx) == 0) return both.substr(ctx.size());
  }
  return tok_.decode(pending, skip_);
}

std::string StreamDecoder::push(int32_t id) {
  ids_.push_back(id);
  std::string text = tok_.decode(ids_, skip_);
  if (text.size() <= prefix_.size() || ends_in_replacement(text)) return {};
  std::string fresh = text.compare(0, prefix_.size(), prefix_) == 0 ? text.substr(prefix_.size()) : divergent_tail();
  // Keep the ids of this chunk as left context for the next one (decoders look at neighbours).
  ids_.erase(ids_.begin(), ids_.begin() + static_cast<std::ptrdiff_t>(prefix_index_));
  prefix_ = tok_.decode(ids_, skip_);
  prefix_index_ = ids_.size();
  return fresh;
}

std::string StreamDecoder::finish() {
  std::string rest;
  if (prefix_index_ < ids_.size()) {
    std::string text = tok_.decode(ids_, skip_);
    if (text.compare(0, prefix_.size(), prefix_) == 0) rest = text.substr(prefix_.size());
    else rest = divergent_tail();
  }
  ids_.clear();
  prefix_.clear();
  prefix_index_ = 0;
  return rest;
}

}  // namespace slm
