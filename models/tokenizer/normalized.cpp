// See normalized.h. Reference: tokenizers/src/tokenizer/normalizer.rs (transform_range, replace, prepend,
// lrstrip) — alignment rules reproduced, code our own.
#include "models/tokenizer/normalized.h"

#include "models/tokenizer/regex.h"

namespace slm::tok {

NormStr::NormStr(std::string_view s, uint32_t base, bool track_offsets) : text(s), track(track_offsets) {
  if (!track) return;
  align.resize(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8_len(static_cast<unsigned char>(s[i]));
    Span sp{static_cast<uint32_t>(base + i), static_cast<uint32_t>(base + i + n)};
    for (size_t k = 0; k < n; ++k) align[i + k] = sp;
    i += n;
  }
}

void NormStr::append(const NormStr& other, size_t from, size_t to) {
  text.append(other.text, from, to - from);
  if (track) align.insert(align.end(), other.align.begin() + from, other.align.begin() + to);
}

void NormStr::prepend(std::string_view s) {
  if (text.empty() || s.empty()) return;
  text.insert(0, s);
  // The prepended characters take the slot of the first character: its range.
  if (track) align.insert(align.begin(), s.size(), align.front());
}

void NormStr::replace(const Pattern& pat, std::string_view content) {
  std::vector<std::pair<uint32_t, uint32_t>> matches;
  pat.find_all(text, matches);
  if (matches.empty()) return;
  std::string out;
  out.reserve(text.size() + matches.size() * content.size());
  std::vector<Span> new_align;
  if (track) new_align.reserve(align.size() + matches.size() * content.size());
  size_t last = 0;
  for (auto [s, e] : matches) {
    out.append(text, last, s - last);
    out.append(content);
    if (track) {
      new_align.insert(new_align.end(), align.begin() + last, align.begin() + s);
      // Inserted characters copy the alignment of the byte before them: the match's last byte.
      Span a = e > 0 ? align[e - 1] : Span{0, 0};
      new_align.insert(new_align.end(), content.size(), a);
    }
    last = e;
  }
  out.append(text, last, std::string::npos);
  if (track) new_align.insert(new_align.end(), align.begin() + last, align.end());
  text = std::move(out);
  align = std::move(new_align);
}

void NormStr::normalize(NormForm f) {
  std::string out;
  std::vector<NormChange> changes;
  if (!unicode_normalize(f, text, out, track ? &changes : nullptr)) return;
  if (track) {
    std::vector<Span> new_align;
    new_align.reserve(out.size());
    size_t src = 0;
    for (const NormChange& c : changes) {
      new_align.insert(new_align.end(), align.begin() + src, align.begin() + c.old_pos);
      Span a;
      if (c.old_len > 0) {
        a = {align[c.old_pos].start, align[c.old_pos + c.old_len - 1].end};
      } else {
        a = c.old_pos > 0 ? align[c.old_pos - 1] : Span{0, 0};
      }
      new_align.insert(new_align.end(), c.new_len, a);
      src = c.old_pos + c.old_len;
    }
    new_align.insert(new_align.end(), align.begin() + src, align.end());
    align = std::move(new_align);
  }
  text = std::move(out);
}

void NormStr::lowercase() {
  std::string out;
  out.reserve(text.size());
  std::vector<Span> new_align;
  for (size_t i = 0; i < text.size();) {
    size_t at = i;
    char32_t c = utf8_next(text, i);
    size_t before = out.size();
    lowercase_append(c, out);
    if (track) new_align.insert(new_align.end(), out.size() - before, align[at]);
  }
  text = std::move(out);
  if (track) align = std::move(new_align);
}

void NormStr::strip(bool left, bool right) {
  size_t b = 0, e = text.size();
  if (left) {
    while (b < e) {
      size_t j = b;
      if (!is_white_space(utf8_next(text, j))) break;
      b = j;
    }
  }
  if (right) {
    while (e > b) {
      size_t j = e - 1;
      while (j > b && (static_cast<unsigned char>(text[j]) & 0xC0) == 0x80) --j;
      size_t k = j;
      if (!is_white_space(utf8_next(text, k))) break;
      e = j;
    }
  }
  if (b == 0 && e == text.size()) return;
  text = text.substr(b, e - b);
  if (track) align = std::vector<Span>(align.begin() + b, align.begin() + e);
}

void NormStr::byte_level_map() {
  const auto& table = bytes_to_unicode();
  std::string out;
  out.reserve(text.size() * 2);
  std::vector<Span> new_align;
  if (track) new_align.reserve(text.size() * 2);
  for (size_t i = 0; i < text.size(); ++i) {
    size_t before = out.size();
    utf8_append(out, table[static_cast<unsigned char>(text[i])]);
    if (track) new_align.insert(new_align.end(), out.size() - before, align[i]);
  }
  text = std::move(out);
  if (track) align = std::move(new_align);
}

}  // namespace slm::tok
