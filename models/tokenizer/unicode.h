// UTF-8 and Unicode helpers for the tokenizer: decoding, lossy repair (Rust's String::from_utf8_lossy
// rule), the character classes HF `tokenizers` relies on (Rust char::is_whitespace, regex-crate \w), the
// GPT-2 byte<->unicode map, and normalisation forms. Not a general Unicode library. The functions that need
// Unicode data (normal forms, is_word_char, lowercase_append) are in unicode_icu.cpp (ICU, native) or
// web/wasm/unicode_tables.cpp (generated tables, the wasm build).
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace slm::tok {

// Decodes the code point at s[i] (s must be valid UTF-8) and advances i.
inline char32_t utf8_next(std::string_view s, size_t& i) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  unsigned char c = p[i];
  if (c < 0x80) { i += 1; return c; }
  if (c < 0xE0) { char32_t r = ((c & 0x1F) << 6) | (p[i + 1] & 0x3F); i += 2; return r; }
  if (c < 0xF0) {
    char32_t r = ((c & 0x0F) << 12) | ((p[i + 1] & 0x3F) << 6) | (p[i + 2] & 0x3F);
    i += 3;
    return r;
  }
  char32_t r = ((c & 0x07) << 18) | ((p[i + 1] & 0x3F) << 12) | ((p[i + 2] & 0x3F) << 6) | (p[i + 3] & 0x3F);
  i += 4;
  return r;
}
// Byte length of the UTF-8 sequence that starts with lead byte c (valid input assumed).
inline size_t utf8_len(unsigned char c) { return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4; }
void utf8_append(std::string& out, char32_t cp);
size_t utf8_char_count(std::string_view s);

// Length of the longest valid UTF-8 prefix of s (== s.size() when s is valid).
size_t utf8_valid_prefix(std::string_view s);
// Appends s to out, replacing each maximal invalid subsequence by U+FFFD (the rule of Rust's
// String::from_utf8_lossy and Python's bytes.decode(errors="replace")). When map is not null, pushes for
// every appended byte the offset in s it came from (a U+FFFD maps to the start of what it replaced).
void utf8_lossy_append(std::string_view s, std::string& out, std::vector<uint32_t>* map = nullptr);

// Rust char::is_whitespace: the Unicode White_Space property (also Oniguruma's \s).
bool is_white_space(char32_t c);
// The regex crate's Unicode \w: Alphabetic, marks, decimal numbers, connector punctuation, Join_Control.
bool is_word_char(char32_t c);

// GPT-2 byte-level alphabet: bytes_to_unicode()[b] is the printable stand-in for byte b;
// unicode_to_byte(c) is its inverse (-1 for characters outside the alphabet).
const std::array<char32_t, 256>& bytes_to_unicode();
int unicode_to_byte(char32_t c);

// Unicode normalisation (ICU natively). A change records that new_len output bytes replace old_len input
// bytes starting at old_pos (ICU's fine-grained edits); unchanged stretches are not listed.
enum class NormForm { NFC, NFD, NFKC, NFKD };
struct NormChange {
  uint32_t old_pos, old_len, new_pos, new_len;
};
// Returns false (and leaves out/changes untouched) when s is already in form f.
bool unicode_normalize(NormForm f, std::string_view s, std::string& out, std::vector<NormChange>* changes);
// Full (1:n) lowercase mapping of one character, context-free, as Rust's char::to_lowercase.
void lowercase_append(char32_t c, std::string& out);

}  // namespace slm::tok
