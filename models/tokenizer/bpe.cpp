// See bpe.h. Reference: HF tokenizers src/models/bpe/model.rs (merge_word, tokenize_with_cache, build) and
// word.rs (merge_all). Code our own.
#include "models/tokenizer/bpe.h"

#include <algorithm>
#include <atomic>
#include <memory>

#include <nlohmann/json.hpp>

#include "models/tokenizer/json_util.h"
#include "models/tokenizer/unicode.h"
#include "tensor/error.h"

namespace slm::tok {

using nlohmann::json;

namespace {

constexpr size_t kMaxCachedWord = 256;     // HF MAX_LENGTH: longer words are not cached
constexpr size_t kCacheCapacity = 1 << 16;  // entries per thread and model; cleared when full

// Per-thread cache of merged words: word bytes -> (id, byte length) run in `arena`.
struct WordCache {
  uint64_t owner = 0;
  StrMap<std::pair<uint32_t, uint32_t>> map;  // (arena offset, count)
  std::vector<std::pair<int32_t, uint32_t>> arena;
};

WordCache& cache_for(uint64_t owner) {
  thread_local std::vector<std::unique_ptr<WordCache>> caches;
  for (auto& c : caches)
    if (c->owner == owner) return *c;
  if (caches.size() >= 4) caches.erase(caches.begin());  // a few tokenizers per thread at most
  caches.push_back(std::make_unique<WordCache>());
  caches.back()->owner = owner;
  caches.back()->map.reserve(1024);
  return *caches.back();
}

std::atomic<uint64_t> g_next_owner{1};

}  // namespace

void Bpe::initial_symbols(std::string_view w, bool raw_bytes, std::vector<Sym>& syms) const {
  syms.clear();
  if (raw_bytes) {
    for (size_t i = 0; i < w.size(); ++i)
      syms.push_back({byte_char_id_[static_cast<unsigned char>(w[i])], static_cast<uint32_t>(i), 1});
    return;
  }
  // HF merge_word: one symbol per character; byte_fallback / unk (fused or not) for unknown characters.
  int32_t unk_id = -1;
  uint32_t unk_start = 0, unk_len = 0;
  std::string buf;
  for (size_t i = 0; i < w.size();) {
    size_t n = utf8_len(static_cast<unsigned char>(w[i]));
    bool first = i == 0, last = i + n >= w.size();
    std::string_view s = w.substr(i, n);
    if ((!first && prefix_) || (last && suffix_)) {
      buf.clear();
      if (!first && prefix_) buf += *prefix_;
      buf += s;
      if (last && suffix_) buf += *suffix_;
      s = buf;
    }
    const int32_t* id = vocab_.find(s);
    if (id) {
      if (unk_id >= 0) {
        syms.push_back({unk_id, unk_start, unk_len});
        unk_id = -1;
      }
      syms.push_back({*id, static_cast<uint32_t>(i), static_cast<uint32_t>(n)});
    } else {
      bool done = false;
      if (byte_fallback_) {
        bool all = true;
        for (unsigned char b : s) all = all && byte_token_[b] >= 0;
        if (all) {
          // Byte tokens of `s` (prefix/suffix included, as HF), each one byte long in the word.
          uint32_t pos = static_cast<uint32_t>(i);
          for (unsigned char b : s) syms.push_back({byte_token_[b], pos++, 1});
          done = true;
        }
      }
      if (!done && unk_token_) {
        SLM_CHECK(unk_id_ >= 0, "[tokenizer] BPE unk_token '" + *unk_token_ + "' is not in the vocabulary");
        if (unk_id >= 0 && fuse_unk_) {
          unk_len += static_cast<uint32_t>(n);
        } else {
          if (unk_id >= 0) syms.push_back({unk_id, unk_start, unk_len});
          unk_id = unk_id_;
          unk_start = static_cast<uint32_t>(i);
          unk_len = static_cast<uint32_t>(n);
        }
      }
    }
    i += n;
  }
  if (unk_id >= 0) syms.push_back({unk_id, unk_start, unk_len});
}

// Lowest rank first, leftmost among equals; ranks of adjacent pairs kept in an array (small words).
void Bpe::merge(std::vector<Sym>& syms) const {
  if (syms.size() < 2) return;
  if (syms.size() > 48) return merge_long(syms);
  constexpr uint32_t kNone = 0xFFFFFFFFu;
  uint32_t rank[48];
  int32_t new_id[48];
  auto set = [&](size_t i) {
    const Merge* m = find_merge(syms[i].id, syms[i + 1].id);
    rank[i] = m ? m->rank : kNone;
    new_id[i] = m ? m->new_id : -1;
  };
  size_t n = syms.size();
  for (size_t i = 0; i + 1 < n; ++i) set(i);
  while (n > 1) {
    uint32_t best = kNone;
    size_t at = 0;
    for (size_t i = 0; i + 1 < n; ++i)
      if (rank[i] < best) best = rank[i], at = i;
    if (best == kNone) break;
    syms[at].id = new_id[at];
    syms[at].len += syms[at + 1].len;
    for (size_t i = at + 1; i + 1 < n; ++i) {
      syms[i] = syms[i + 1];
      rank[i] = rank[i + 1];
      new_id[i] = new_id[i + 1];
    }
    --n;
    if (at + 1 < n) set(at);
    if (at > 0) set(at - 1);
  }
  syms.resize(n);
}

// HF Word::merge_all: a heap of candidate merges over a linked list of symbols (long words).
void Bpe::merge_long(std::vector<Sym>& syms) const {
  struct Node {
    int32_t prev, next;
  };
  struct Cand {
    uint32_t rank, pos;
    int32_t new_id;
    bool operator<(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  const size_t n = syms.size();
  std::vector<Node> link(n);
  for (size_t i = 0; i < n; ++i) link[i] = {static_cast<int32_t>(i) - 1, i + 1 < n ? static_cast<int32_t>(i + 1) : -1};
  std::vector<Cand> heap;
  heap.reserve(n);
  for (size_t i = 0; i + 1 < n; ++i)
    if (const Merge* m = find_merge(syms[i].id, syms[i + 1].id))
      heap.push_back({m->rank, static_cast<uint32_t>(i), m->new_id});
  std::make_heap(heap.begin(), heap.end());
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end());
    Cand top = heap.back();
    heap.pop_back();
    Sym& cur = syms[top.pos];
    if (cur.len == 0 || link[top.pos].next < 0) continue;
    int32_t nx = link[top.pos].next;
    const Merge* m = find_merge(cur.id, syms[nx].id);
    if (!m || m->new_id != top.new_id) continue;  // stale entry
    cur.id = top.new_id;
    cur.len += syms[nx].len;
    syms[nx].len = 0;
    link[top.pos].next = link[nx].next;
    if (link[nx].next >= 0) link[link[nx].next].prev = static_cast<int32_t>(top.pos);
    if (int32_t pv = link[top.pos].prev; pv >= 0) {
      if (const Merge* pm = find_merge(syms[pv].id, cur.id)) {
        heap.push_back({pm->rank, static_cast<uint32_t>(pv), pm->new_id});
        std::push_heap(heap.begin(), heap.end());
      }
    }
    if (int32_t nn = link[top.pos].next; nn >= 0) {
      if (const Merge* nm = find_merge(cur.id, syms[nn].id)) {
        heap.push_back({nm->rank, top.pos, nm->new_id});
        std::push_heap(heap.begin(), heap.end());
      }
    }
  }
  syms.erase(std::remove_if(syms.begin(), syms.end(), [](const Sym& s) { return s.len == 0; }), syms.end());
}

void Bpe::tokenize(std::string_view word, bool raw_bytes, std::vector<BpeToken>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    const int32_t* id = raw_bytes ? raw_vocab_.find(word) : vocab_.find(word);
    if (id) {
      out.push_back({*id, 0, static_cast<uint32_t>(word.size())});
      return;
    }
  }
  const bool cacheable = word.size() < kMaxCachedWord;
  WordCache* cache = nullptr;
  if (cacheable) {
    cache = &cache_for(cache_owner_);
    if (const auto* hit = cache->map.find(word)) {
      uint32_t pos = 0;
      for (uint32_t k = 0; k < hit->second; ++k) {
        auto [id, len] = cache->arena[hit->first + k];
        out.push_back({id, pos, pos + len});
        pos += len;
      }
      return;
    }
  }
  thread_local std::vector<Sym> syms;
  initial_symbols(word, raw_bytes, syms);
  merge(syms);
  for (const Sym& s : syms) out.push_back({s.id, s.start, s.start + s.len});
  if (cache) {
    if (cache->map.size() >= kCacheCapacity) {
      cache->map.clear();
      cache->arena.clear();
    }
    cache->map.put(word, {static_cast<uint32_t>(cache->arena.size()), static_cast<uint32_t>(syms.size())});
    for (const Sym& s : syms) cache->arena.emplace_back(s.id, s.len);
  }
}

Bpe Bpe::parse(const json& j, const std::string& file) {
  std::string type = j.is_object() && j.contains("type") && j["type"].is_string() ? j["type"].get<std::string>()
                                                                                  : std::string("BPE");
  SLM_CHECK(type == "BPE", "[tokenizer] " + file + ": model type '" + type +
                               "' is not supported (only BPE; WordPiece, WordLevel and Unigram are not)");
  const std::string where = "model 'BPE'";
  SLM_CHECK(j.contains("vocab") && j["vocab"].is_object(),
            "[tokenizer] " + file + ": " + where + " needs a \"vocab\" object");
  SLM_CHECK(j.contains("merges") && j["merges"].is_array(),
            "[tokenizer] " + file + ": " + where + " needs a \"merges\" array");
  if (j.contains("dropout") && j["dropout"].is_number())
    SLM_CHECK(j["dropout"].get<double>() == 0.0,
              "[tokenizer] " + file + ": BPE dropout is not supported (it makes encoding random); set it to null");
  Bpe m;
  m.cache_owner_ = g_next_owner.fetch_add(1);
  const json& vocab = j["vocab"];
  m.vocab_.reserve(vocab.size());
  int64_t max_id = -1;
  for (const auto& [tok, id] : vocab.items()) {
    SLM_CHECK(id.is_number_unsigned() && id.get<uint64_t>() < (1ull << 31),
              "[tokenizer] " + file + ": vocab entry '" + tok + "' needs a non-negative integer id");
    m.vocab_.put(tok, id.get<int32_t>());
    max_id = std::max<int64_t>(max_id, id.get<int64_t>());
  }
  m.vocab_r_.assign(static_cast<size_t>(max_id + 1), std::string());
  m.has_r_.assign(static_cast<size_t>(max_id + 1), false);
  m.vocab_.for_each([&](std::string_view tok, int32_t id) {
    m.vocab_r_[id] = std::string(tok);
    m.has_r_[id] = true;
  });
  auto opt_string = [&](const char* key) -> std::optional<std::string> {
    if (!j.contains(key) || j[key].is_null()) return std::nullopt;
    return get_string(j, key, file, where);
  };
  m.unk_token_ = opt_string("unk_token");
  if (m.unk_token_)
    if (const int32_t* id = m.vocab_.find(*m.unk_token_)) m.unk_id_ = *id;
  m.prefix_ = opt_string("continuing_subword_prefix");
  m.suffix_ = opt_string("end_of_word_suffix");
  m.fuse_unk_ = get_bool(j, "fuse_unk", false, file, where);
  m.byte_fallback_ = get_bool(j, "byte_fallback", false, file, where);
  m.ignore_merges_ = get_bool(j, "ignore_merges", false, file, where);

  // Merges: "a b" strings (exactly one space) or [a, b] pairs; rank = position; a repeated pair keeps the
  // last rank (HF collects them into a map).
  const json& merges = j["merges"];
  m.merges_.reserve(merges.size());
  std::string joined;
  const size_t plen = m.prefix_ ? m.prefix_->size() : 0;
  for (size_t r = 0; r < merges.size(); ++r) {
    const json& e = merges[r];
    std::string a, b;
    if (e.is_string()) {
      const std::string& s = e.get_ref<const std::string&>();
      size_t sp = s.find(' ');
      SLM_CHECK(sp != std::string::npos && s.find(' ', sp + 1) == std::string::npos,
                "[tokenizer] " + file + ": merge " + std::to_string(r + 1) + " '" + s +
                    "' must be two tokens separated by one space");
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else {
      SLM_CHECK(e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string(),
                "[tokenizer] " + file + ": merge " + std::to_string(r + 1) + " must be \"a b\" or [\"a\", \"b\"]");
      a = e[0].get<std::string>();
      b = e[1].get<std::string>();
    }
    const int32_t* ia = m.vocab_.find(a);
    const int32_t* ib = m.vocab_.find(b);
    SLM_CHECK(ia && ib, "[tokenizer] " + file + ": merge " + std::to_string(r + 1) + " ('" + a + "', '" + b +
                            "') uses a token missing from the vocabulary");
    SLM_CHECK(b.size() >= plen, "[tokenizer] " + file + ": merge " + std::to_string(r + 1) + " is shorter than the prefix");
    joined = a;
    joined.append(b, plen, std::string::npos);
    const int32_t* in = m.vocab_.find(joined);
    SLM_CHECK(in, "[tokenizer] " + file + ": merge " + std::to_string(r + 1) + " makes '" + joined +
                      "', which is missing from the vocabulary");
    m.merges_.put((static_cast<uint64_t>(static_cast<uint32_t>(*ia)) << 32) | static_cast<uint32_t>(*ib),
                  Merge{static_cast<uint32_t>(r), *in});
  }

  char code[8];
  for (int b = 0; b < 256; ++b) {
    std::snprintf(code, sizeof code, "<0x%02X>", b);
    const int32_t* id = m.vocab_.find(code);
    m.byte_token_[b] = id ? *id : -1;
  }
  // Virtual ByteLevel needs every byte's character in the vocabulary and no prefix/suffix decoration.
  m.raw_ok_ = (!m.prefix_ || m.prefix_->empty()) && (!m.suffix_ || m.suffix_->empty());
  const auto& table = bytes_to_unicode();
  for (int b = 0; b < 256 && m.raw_ok_; ++b) {
    std::string s;
    utf8_append(s, table[b]);
    const int32_t* id = m.vocab_.find(s);
    m.byte_char_id_[b] = id ? *id : -1;
    m.raw_ok_ = id != nullptr;
  }
  if (m.raw_ok_ && m.ignore_merges_) {
    m.raw_vocab_.reserve(m.vocab_.size());
    m.vocab_.for_each([&](std::string_view tok, int32_t id) {
      std::string raw;
      for (size_t i = 0; i < tok.size();) {
        int b = unicode_to_byte(utf8_next(tok, i));
        if (b < 0) return;  // not spelled in the byte alphabet: can never match a raw-byte word
        raw.push_back(static_cast<char>(b));
      }
      m.raw_vocab_.put(raw, id);
    });
  }
  return m;
}

}  // namespace slm::tok
