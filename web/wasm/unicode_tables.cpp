// The Unicode-data part of models/tokenizer/unicode.h for the wasm build, in place of unicode_icu.cpp: the
// four normal forms (UAX #15: recursive decomposition, canonical ordering, canonical composition with
// Full_Composition_Exclusion, algorithmic Hangul), the regex-crate \w set and the context-free full lowercase
// mapping, on tables that gen_unicode_tables.mjs generates at build time from Debian's unicode-data (the same
// Unicode version as the native ICU 72). Not a general normaliser: no quick-check data, no streaming API.
// Agreement with ICU is tested by tests/web/test_text_wasm.mjs (Unicode's NormalizationTest.txt, the
// tokenizer corpus against String.prototype.normalize, and the golden tokenizer ids).
#include <algorithm>
#include <cstdint>

#include "models/tokenizer/unicode.h"

namespace slm::tok {

namespace {

struct CccRange {
  char32_t lo, hi;
  uint8_t ccc;
};
struct Decomposition {
  char32_t cp;
  uint32_t packed;  // offset into kDecompositionPool << 8 | 0x80 when a compatibility mapping | length
};
struct Composite {
  char32_t first, second, composite;
};
struct Range {
  char32_t lo, hi;
};
struct LowerMapping {
  char32_t cp;
  char32_t to[3];  // 0-padded
};

#include "unicode_tables_data.inc"

// Hangul syllables (Unicode §3.12).
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

template <class T, size_t N, class Key>
const T* find_sorted(const T (&table)[N], char32_t c, Key key) {
  const T* it = std::lower_bound(table, table + N, c, [&](const T& e, char32_t v) { return key(e) < v; });
  return it != table + N && key(*it) == c ? it : nullptr;
}

uint8_t ccc(char32_t c) {
  if (c < 0x300) return 0;
  const CccRange* it = std::upper_bound(kCcc, std::end(kCcc), c, [](char32_t v, const CccRange& r) { return v < r.lo; });
  if (it == kCcc) return 0;
  --it;
  return c <= it->hi ? it->ccc : 0;
}

bool in_ranges(char32_t c, const Range* begin, const Range* end) {
  const Range* it = std::upper_bound(begin, end, c, [](char32_t v, const Range& r) { return v < r.lo; });
  return it != begin && c <= (it - 1)->hi;
}

// The one-level mapping of c that applies to this form, or null.
const Decomposition* mapping(char32_t c, bool compat) {
  if (c < 0xA0) return nullptr;
  const Decomposition* d = find_sorted(kDecompositions, c, [](const Decomposition& e) { return e.cp; });
  if (!d || ((d->packed & 0x80) && !compat)) return nullptr;
  return d;
}

void decompose(char32_t c, bool compat, std::u32string& out) {
  if (c >= kSBase && c < kSBase + kSCount) {
    char32_t s = c - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount) out.push_back(kTBase + s % kTCount);
    return;
  }
  const Decomposition* d = mapping(c, compat);
  if (!d) {
    out.push_back(c);
    return;
  }
  const char32_t* seq = kDecompositionPool + (d->packed >> 8);
  for (uint32_t k = 0, n = d->packed & 0x1F; k < n; ++k) decompose(seq[k], compat, out);
}

// The first code point of c's full decomposition.
char32_t first_decomposed(char32_t c, bool compat) {
  if (c >= kSBase && c < kSBase + kSCount) return kLBase + (c - kSBase) / kNCount;
  while (const Decomposition* d = mapping(c, compat)) c = kDecompositionPool[d->packed >> 8];
  return c;
}

bool combines_back(char32_t c) {
  if ((c >= kVBase && c < kVBase + kVCount) || (c > kTBase && c < kTBase + kTCount)) return true;
  return std::binary_search(std::begin(kCombinesBack), std::end(kCombinesBack), c);
}

// 0 when the pair has no primary composite.
char32_t compose_pair(char32_t a, char32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount)
    return a + (b - kTBase);
  const Composite* it = std::lower_bound(std::begin(kComposites), std::end(kComposites), Composite{a, b, 0},
                                         [](const Composite& x, const Composite& y) {
                                           return x.first != y.first ? x.first < y.first : x.second < y.second;
                                         });
  return it != std::end(kComposites) && it->first == a && it->second == b ? it->composite : 0;
}

// Normalisation never moves text across a character whose decomposition starts with a starter that
// nothing composes with from before — the segment boundaries below.
bool boundary_before(char32_t c, bool compat, bool compose) {
  char32_t d0 = first_decomposed(c, compat);
  return ccc(d0) == 0 && !(compose && combines_back(d0));
}

// Canonical ordering (stable sort of each run of non-starters by ccc), then canonical composition.
void normalize_segment(std::u32string& buf, bool compose) {
  // stable_sort, not insertion: a long run of marks (adversarial input) stays O(n log n).
  for (size_t i = 0; i < buf.size();) {
    if (ccc(buf[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i + 1;
    while (j < buf.size() && ccc(buf[j]) != 0) ++j;
    if (j - i > 1)
      std::stable_sort(buf.begin() + i, buf.begin() + j, [](char32_t a, char32_t b) { return ccc(a) < ccc(b); });
    i = j;
  }
  if (!compose || buf.empty()) return;
  size_t starter = 0, out = 1;
  int last_class = ccc(buf[0]) ? 256 : 0;  // a leading non-starter blocks composition until a starter
  for (size_t i = 1; i < buf.size(); ++i) {
    char32_t ch = buf[i];
    int cls = ccc(ch);
    char32_t comp = last_class < 256 ? compose_pair(buf[starter], ch) : 0;
    if (comp && (last_class < cls || last_class == 0)) {
      buf[starter] = comp;
      continue;
    }
    if (cls == 0) starter = out;
    last_class = cls;
    buf[out++] = ch;
  }
  buf.resize(out);
}

}  // namespace

bool unicode_normalize(NormForm f, std::string_view s, std::string& out, std::vector<NormChange>* changes) {
  bool ascii = true;
  for (unsigned char c : s) {
    if (c >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return false;
  const bool compat = f == NormForm::NFKC || f == NormForm::NFKD;
  const bool compose = f == NormForm::NFC || f == NormForm::NFKC;
  std::string result;
  result.reserve(s.size() + 16);
  std::vector<NormChange> found;
  std::u32string buf;
  std::string enc;
  bool changed = false;
  // One segment [seg, i): normalise it, keep the source bytes when the result is the same.
  auto flush = [&](size_t seg, size_t end, size_t n_chars, char32_t only) {
    if (seg == end) return;
    if (n_chars == 1 && ccc(only) == 0 && !mapping(only, compat) && !(only >= kSBase && only < kSBase + kSCount)) {
      result.append(s.substr(seg, end - seg));  // a lone starter without a decomposition is stable
      return;
    }
    buf.clear();
    for (size_t i = seg; i < end;) decompose(utf8_next(s, i), compat, buf);
    normalize_segment(buf, compose);
    enc.clear();
    for (char32_t c : buf) utf8_append(enc, c);
    if (enc == s.substr(seg, end - seg)) {
      result.append(enc);
      return;
    }
    changed = true;
    found.push_back({static_cast<uint32_t>(seg), static_cast<uint32_t>(end - seg), static_cast<uint32_t>(result.size()),
                     static_cast<uint32_t>(enc.size())});
    result.append(enc);
  };
  size_t seg = 0, n_chars = 0;
  char32_t only = 0;
  for (size_t i = 0; i < s.size();) {
    size_t at = i;
    char32_t c = utf8_next(s, i);
    if (at > seg && (c < 0x300 || boundary_before(c, compat, compose))) {
      flush(seg, at, n_chars, only);
      seg = at;
      n_chars = 0;
    }
    ++n_chars;
    only = c;
  }
  flush(seg, s.size(), n_chars, only);
  if (!changed) return false;
  if (changes) *changes = std::move(found);
  out = std::move(result);
  return true;
}

bool is_word_char(char32_t c) {
  if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  return in_ranges(c, std::begin(kWordChars), std::end(kWordChars));
}

void lowercase_append(char32_t c, std::string& out) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c));
    return;
  }
  const LowerMapping* m = find_sorted(kLowercase, c, [](const LowerMapping& e) { return e.cp; });
  if (!m) {
    utf8_append(out, c);
    return;
  }
  for (char32_t t : m->to)
    if (t) utf8_append(out, t);
}

}  // namespace slm::tok
