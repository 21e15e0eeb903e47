// See added_vocab.h. A byte trie walked at each candidate position gives leftmost-longest matches (the
// semantics of the Aho-Corasick automaton HF builds with MatchKind::LeftmostLongest).
#include "models/tokenizer/added_vocab.h"

#include <nlohmann/json.hpp>

#include "models/tokenizer/bpe.h"
#include "models/tokenizer/components.h"
#include "models/tokenizer/json_util.h"
#include "models/tokenizer/unicode.h"
#include "tensor/error.h"

namespace slm::tok {

using nlohmann::json;

void AddedVocab::Trie::insert(std::string_view s, int32_t id) {
  if (values.empty()) values.push_back(-1);
  int32_t node = 0;
  for (unsigned char b : s) {
    uint64_t key = (static_cast<uint64_t>(node) << 8) | b;
    if (const int32_t* child = edges.find(key)) {
      node = *child;
    } else {
      int32_t next = static_cast<int32_t>(values.size());
      values.push_back(-1);
      edges.put(key, next);
      node = next;
    }
  }
  values[node] = id;
  first_byte[static_cast<unsigned char>(s[0])] = true;
}

const std::string* AddedVocab::spelling(int32_t id) const {
  auto n = normalized_form_.find(id);
  if (n != normalized_form_.end()) return &n->second;
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second.content;
}

void AddedVocab::build(const json& added, const Bpe& model, const Normalizer* normalizer, const std::string& file) {
  if (added.is_null()) return;
  SLM_CHECK(added.is_array(), "[tokenizer] " + file + ": \"added_tokens\" must be an array");
  int32_t next_id = static_cast<int32_t>(model.vocab_entries());
  for (size_t k = 0; k < added.size(); ++k) {
    const json& t = added[k];
    const std::string where = "added_tokens[" + std::to_string(k) + "]";
    SLM_CHECK(t.is_object(), "[tokenizer] " + file + ": " + where + " must be an object");
    AddedToken tok;
    tok.content = get_string(t, "content", file, where);
    tok.single_word = get_bool(t, "single_word", false, file, where);
    tok.lstrip = get_bool(t, "lstrip", false, file, where);
    tok.rstrip = get_bool(t, "rstrip", false, file, where);
    tok.normalized = get_bool(t, "normalized", true, file, where);
    tok.special = get_bool(t, "special", false, file, where);
    if (tok.content.empty()) continue;
    SLM_CHECK(utf8_valid_prefix(tok.content) == tok.content.size(),
              "[tokenizer] " + file + ": " + where + ".content is not valid UTF-8");
    // Fast path of HF add_tokens: the same token again is ignored.
    if (const int32_t* old = by_content_.find(tok.content)) {
      const AddedToken& o = by_id_[*old];
      if (o.single_word == tok.single_word && o.lstrip == tok.lstrip && o.rstrip == tok.rstrip &&
          o.normalized == tok.normalized && o.special == tok.special)
        continue;
    }
    int32_t id;
    if (auto a = token_to_id(tok.content)) id = *a;
    else if (auto m = model.token_to_id(tok.content)) id = *m;
    else id = next_id++;
    if (tok.normalized && normalizer) {
      NormStr s(tok.content, 0, false);
      normalizer->apply(s);
      if (s.text != tok.content) normalized_form_[id] = s.text;
    }
    by_content_.put(tok.content, id);
    if (tok.special) special_.put(tok.content, 1);
    by_id_[id] = tok;
    max_id_ = std::max(max_id_, id);
  }
  for (const auto& [id, tok] : by_id_) {
    if (tok.normalized) {
      const std::string* pat = spelling(id);
      if (!pat->empty()) norm_.insert(*pat, id);
    } else {
      raw_.insert(tok.content, id);
    }
  }
}

namespace {
char32_t last_char(std::string_view s) {
  size_t i = s.size() - 1;
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
  return utf8_next(s, i);
}
}  // namespace

void AddedVocab::split(std::string_view text, bool normalized, std::vector<AddedMatch>& out) const {
  out.clear();
  const Trie& trie = normalized ? norm_ : raw_;
  const uint32_t len = static_cast<uint32_t>(text.size());
  if (trie.values.empty() || text.empty()) {
    out.push_back({0, len, -1});
    return;
  }
  uint32_t start_offset = 0;
  uint32_t pos = 0;
  while (pos < len) {
    if (!trie.first_byte[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    int32_t node = 0, best_id = -1;
    uint32_t best_end = 0;
    for (uint32_t k = pos; k < len; ++k) {
      const int32_t* child = trie.edges.find((static_cast<uint64_t>(node) << 8) | static_cast<unsigned char>(text[k]));
      if (!child) break;
      node = *child;
      if (trie.values[node] >= 0) best_id = trie.values[node], best_end = k + 1;
    }
    if (best_id < 0) {
      ++pos;
      continue;
    }
    uint32_t start = pos, stop = best_end;
    pos = best_end;  // the automaton resumes after the match, accepted or not
    const AddedToken& tok = by_id_.at(best_id);
    if (tok.single_word) {
      bool start_space = start == 0 || !is_word_char(last_char(text.substr(0, start)));
      size_t j = stop;
      bool stop_space = stop == len || !is_word_char(utf8_next(text, j));
      if (!start_space || !stop_space) continue;
    }
    if (tok.lstrip) {
      uint32_t s = start;
      while (s > 0) {
        size_t i = s - 1;
        while (i > 0 && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) --i;
        size_t j = i;
        if (!is_white_space(utf8_next(text, j))) break;
        s = static_cast<uint32_t>(i);
      }
      start = std::max(s, start_offset);
    }
    if (tok.rstrip) {
      while (stop < len) {
        size_t j = stop;
        if (!is_white_space(utf8_next(text, j))) break;
        stop = static_cast<uint32_t>(j);
      }
    }
    if (start_offset < start) out.push_back({start_offset, start, -1});
    out.push_back({start, stop, best_id});
    start_offset = stop;
  }
  if (start_offset != len) out.push_back({start_offset, len, -1});
}

}  // namespace slm::tok
