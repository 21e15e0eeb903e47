// NormStr: a piece of normalised text plus, when tracking is on, the original byte range of every
// normalised byte — HF `tokenizers`' NormalizedString alignments, with absolute offsets into the input.
// Every byte of one character carries that character's whole original range, so a token holding part of a
// multi-byte character maps to the whole character (as HF reports it). The edit operations reproduce HF's
// alignment rules: a replaced character keeps the original's range, an inserted one copies the range of the
// byte before it. Unicode normal forms go through ICU's edit records instead of HF's per-character change
// counts: a changed stretch maps to the whole original stretch (HF maps it to its first character).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "models/tokenizer/unicode.h"

namespace slm::tok {

class Pattern;

struct Span {
  uint32_t start = 0, end = 0;
};

class NormStr {
 public:
  std::string text;
  std::vector<Span> align;  // one per byte of text; empty unless tracking
  bool track = false;

  NormStr() = default;
  // s is a slice of the input that starts at byte `base`.
  NormStr(std::string_view s, uint32_t base, bool track_offsets);

  // Appends `other` (text and alignments) — used to build one string out of many pieces.
  void append(const NormStr& other, size_t from, size_t to);
  // HF NormalizedString::prepend: the first prepended character replaces the first character's slot.
  void prepend(std::string_view s);
  // HF NormalizedString::replace with every match of `pat` replaced by `content`.
  void replace(const Pattern& pat, std::string_view content);
  void normalize(NormForm f);
  void lowercase();
  // HF lrstrip: remove leading / trailing White_Space characters.
  void strip(bool left, bool right);
  // Replaces each byte b by the UTF-8 of bytes_to_unicode()[b] (ByteLevel when not virtual).
  void byte_level_map();

  // Original byte range of normalised bytes [s, e) (needs tracking; s < e).
  Span original(size_t s, size_t e) const { return {align[s].start, align[e - 1].end}; }
};

}  // namespace slm::tok
