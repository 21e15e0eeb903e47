// The Unicode-data part of unicode.h on ICU (libicu-dev): normal forms, the Alphabetic / Join_Control
// properties and general categories behind \w, and the full lowercase mapping. The native build links this;
// the wasm build links web/wasm/unicode_tables.cpp instead (tables generated from the same Unicode version,
// docs/wasm.md). Everything that needs no Unicode data stays in unicode.cpp.
#include <unicode/bytestream.h>
#include <unicode/edits.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/ustring.h>

#include "models/tokenizer/unicode.h"
#include "tensor/error.h"

namespace slm::tok {

bool is_word_char(char32_t c) {
  if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  UChar32 u = static_cast<UChar32>(c);
  if (u_hasBinaryProperty(u, UCHAR_ALPHABETIC) || u_hasBinaryProperty(u, UCHAR_JOIN_CONTROL)) return true;
  int8_t t = u_charType(u);
  return t == U_NON_SPACING_MARK || t == U_ENCLOSING_MARK || t == U_COMBINING_SPACING_MARK ||
         t == U_DECIMAL_DIGIT_NUMBER || t == U_CONNECTOR_PUNCTUATION;
}

namespace {
const icu::Normalizer2* normalizer_for(NormForm f) {
  UErrorCode st = U_ZERO_ERROR;
  const icu::Normalizer2* n = nullptr;
  switch (f) {
    case NormForm::NFC: n = icu::Normalizer2::getNFCInstance(st); break;
    case NormForm::NFD: n = icu::Normalizer2::getNFDInstance(st); break;
    case NormForm::NFKC: n = icu::Normalizer2::getNFKCInstance(st); break;
    case NormForm::NFKD: n = icu::Normalizer2::getNFKDInstance(st); break;
  }
  SLM_CHECK(U_SUCCESS(st) && n, std::string("[tokenizer] ICU normalizer unavailable: ") + u_errorName(st));
  return n;
}
}  // namespace

bool unicode_normalize(NormForm f, std::string_view s, std::string& out, std::vector<NormChange>* changes) {
  // ASCII is stable under all four forms.
  bool ascii = true;
  for (unsigned char c : s) {
    if (c >= 0x80) { ascii = false; break; }
  }
  if (ascii) return false;
  const icu::Normalizer2* n = normalizer_for(f);
  UErrorCode st = U_ZERO_ERROR;
  icu::StringPiece sp(s.data(), static_cast<int32_t>(s.size()));
  if (n->isNormalizedUTF8(sp, st) && U_SUCCESS(st)) return false;
  st = U_ZERO_ERROR;
  std::string result;
  icu::StringByteSink<std::string> sink(&result);
  icu::Edits edits;
  n->normalizeUTF8(0, sp, sink, changes ? &edits : nullptr, st);
  SLM_CHECK(U_SUCCESS(st), std::string("[tokenizer] ICU normalisation failed: ") + u_errorName(st));
  if (result == s) return false;
  if (changes) {
    changes->clear();
    auto it = edits.getFineChangesIterator();
    while (it.next(st)) {
      changes->push_back({static_cast<uint32_t>(it.sourceIndex()), static_cast<uint32_t>(it.oldLength()),
                          static_cast<uint32_t>(it.destinationIndex()), static_cast<uint32_t>(it.newLength())});
    }
  }
  out = std::move(result);
  return true;
}

void lowercase_append(char32_t c, std::string& out) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c));
    return;
  }
  UChar src[2];
  int32_t n = 0;
  U16_APPEND_UNSAFE(src, n, static_cast<UChar32>(c));
  UChar dst[8];
  UErrorCode st = U_ZERO_ERROR;
  int32_t m = u_strToLower(dst, 8, src, n, "", &st);
  if (U_FAILURE(st)) {
    utf8_append(out, c);
    return;
  }
  for (int32_t i = 0; i < m;) {
    UChar32 cp;
    U16_NEXT(dst, i, m, cp);
    utf8_append(out, static_cast<char32_t>(cp));
  }
}

}  // namespace slm::tok
