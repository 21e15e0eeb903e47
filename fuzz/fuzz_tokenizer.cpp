// libFuzzer target for the tokenizer (models/tokenizer/): the tokenizer.json parser and the encode / decode
// pipeline. The first input byte picks the mode:
//   even: the rest is tokenizer.json text -> Tokenizer::from_json_string; slm::Error is the only accepted
//         failure; an accepted tokenizer then encodes and decodes a fixed text that touches every stage.
//   odd:  the rest is text (any bytes, invalid UTF-8 included) for two built-in tokenizers — a byte-level one
//         (Split regex + ByteLevel + added tokens with lstrip/rstrip/single_word) and a SentencePiece-style one
//         (Replace/Prepend normalizers, byte_fallback, Metaspace decoder) — checking: offsets lie inside the
//         input; decoded text is valid UTF-8; byte-level decode(encode(x)) == x with invalid bytes as U+FFFD
//         (unless NFC changed x or an lstrip/rstrip added token matched);
//         streamed chunks are valid UTF-8 and concatenate to the full decode (first 256 ids streamed).
// Any other exception escapes and is reported as a crash.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "models/tokenizer/tokenizer.h"
#include "models/tokenizer/unicode.h"
#include "tensor/error.h"

namespace {

const char* kByteLevel = R"({
 "added_tokens": [
  {"id": 0, "content": "<|s|>", "single_word": false, "lstrip": true, "rstrip": false, "normalized": false, "special": true},
  {"id": 0, "content": "<|e|>", "single_word": false, "lstrip": false, "rstrip": true, "normalized": false, "special": true},
  {"id": 0, "content": "word", "single_word": true, "lstrip": false, "rstrip": false, "normalized": true, "special": false}],
 "normalizer": {"type": "NFC"},
 "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
   {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
    "behavior": "Isolated", "invert": false},
   {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}]},
 "post_processor": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false},
 "decoder": {"type": "ByteLevel"},
 "model": {"type": "BPE", "vocab": {VOCAB}, "merges": ["Ġ t", "h e", "Ġt he", "i n", "e r", "a n"]}})";

const char* kSentencePiece = R"({
 "added_tokens": [{"id": 1, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
 "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
   {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
 "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": true},
 "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
   {"Sequence": {"id": "A", "type_id": 0}}], "pair": null, "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
 "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
   {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
 "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": true,
   "vocab": {VOCAB}, "merges": ["▁ t", "h e", "▁t he"]}})";

std::string with_vocab(std::string tmpl, bool byte_level) {
  std::string vocab = "\"<unk>\": 0, \"<s>\": 1";
  int id = 2;
  auto add = [&](const std::string& t) {
    std::string esc;
    for (char c : t) esc += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
    vocab += ", \"" + esc + "\": " + std::to_string(id++);
  };
  if (byte_level) {
    for (int b = 0; b < 256; ++b) {
      std::string s;
      slm::tok::utf8_append(s, slm::tok::bytes_to_unicode()[b]);
      add(s);
    }
    for (const char* t : {"Ġt", "he", "Ġthe", "in", "er", "an"}) add(t);
  } else {
    char code[8];
    for (int b = 0; b < 256; ++b) {
      std::snprintf(code, sizeof code, "<0x%02X>", b);
      add(code);
    }
    for (const char* t : {"▁", "t", "h", "e", "▁t", "he", "▁the", "a", "b"}) add(t);
  }
  tmpl.replace(tmpl.find("{VOCAB}"), 7, "{" + vocab + "}");
  return tmpl;
}

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz_tokenizer invariant failed: %s\n", what);
    std::abort();
  }
}

void exercise(const slm::Tokenizer& t, const std::string& text, bool lossless) {
  slm::Tokenizer::Encoding e = t.encode_with_offsets(text, true);
  check(e.ids.size() == e.offsets.size(), "one offset per id");
  for (auto [s, f] : e.offsets) check(s <= f && f <= text.size(), "offsets inside the input");
  check(e.ids == t.encode(text, true), "encode == encode_with_offsets");
  std::vector<int32_t> plain = t.encode(text, false);
  std::string dec = t.decode(plain, false);
  check(slm::tok::utf8_valid_prefix(dec) == dec.size(), "decode is UTF-8");
  // lstrip / rstrip added tokens swallow whitespace: the round trip holds when none matched.
  bool added = false;
  for (int32_t id : plain) added = added || t.is_special(id) || t.token_to_id("word") == id;
  if (lossless && !added) {
    std::string repaired;
    slm::tok::utf8_lossy_append(text, repaired);
    std::string nfc;
    if (!slm::tok::unicode_normalize(slm::tok::NormForm::NFC, repaired, nfc, nullptr))
      check(dec == repaired, "byte-level round trip");
  }
  // Streaming re-decodes a window that grows while the text ends in U+FFFD (HF's DecodeStream does the same):
  // quadratic on random bytes, so only the first 256 ids are streamed.
  std::vector<int32_t> head(e.ids.begin(), e.ids.begin() + std::min<size_t>(e.ids.size(), 256));
  for (bool skip : {false, true}) {
    slm::StreamDecoder sd(t, skip);
    std::string all;
    for (int32_t id : head) {
      std::string c = sd.push(id);
      check(slm::tok::utf8_valid_prefix(c) == c.size(), "stream chunk is UTF-8");
      all += c;
    }
    all += sd.finish();
    // A cut inside a byte-fallback character makes decode() redo the whole byte run (tokenizer.h).
    if (head.size() == e.ids.size()) check(all == t.decode(head, skip), "stream == decode");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) == 0) {
    try {
      slm::Tokenizer t = slm::Tokenizer::from_json_string(rest, "fuzz.json");
      exercise(t, "Hello <|s|> wörld\t 123 \xF0\x9F\x98\x80 e\xCC\x81 <s>", false);
    } catch (const slm::Error&) {
    }
    return 0;
  }
  static const slm::Tokenizer byte_level = slm::Tokenizer::from_json_string(with_vocab(kByteLevel, true));
  static const slm::Tokenizer sentencepiece = slm::Tokenizer::from_json_string(with_vocab(kSentencePiece, false));
  exercise(byte_level, rest, true);
  exercise(sentencepiece, rest, false);
  return 0;
}
