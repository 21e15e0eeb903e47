// UTF-8 and the few Unicode properties that Python's str methods need (isspace, upper/lower,
// isprintable for repr). Not a Unicode database: case mapping covers ASCII, Latin-1, Latin
// Extended-A, Greek and Cyrillic (docs/chat_templates.md lists what differs from CPython).
// Invalid UTF-8 bytes decode to U+DC80+byte and encode back to the same byte (Python's
// "surrogateescape"), so no input is ever rejected or altered by a round trip.
#pragma once
#include <string>
#include <string_view>

namespace slm::jinja {

// Decodes the code point at s[i] and advances i past it.
char32_t utf8_next(std::string_view s, size_t& i);
void utf8_append(std::u32string::value_type c, std::string& out);
std::u32string utf8_decode(std::string_view s);
std::string utf8_encode(std::u32string_view s);
// Number of code points (Python len()).
size_t utf8_length(std::string_view s);

bool uni_isspace(char32_t c);      // str.isspace / re \s
bool uni_isprintable(char32_t c);  // str.isprintable (approximate outside the BMP's common blocks)
bool uni_isdigit(char32_t c);      // ASCII digits only (str.isdigit on other scripts differs)
bool uni_isalpha(char32_t c);      // cased letters of the covered scripts + CJK/Hangul/kana ranges
char32_t uni_upper(char32_t c);
char32_t uni_lower(char32_t c);
bool uni_iscased(char32_t c);

// str.upper() / str.lower() (ß upper-cases to "SS" as in Python).
std::string str_upper(std::string_view s);
std::string str_lower(std::string_view s);

}  // namespace slm::jinja
