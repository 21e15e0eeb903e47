// Normalizers and pre-tokenizers of tokenizer.json. References (HF tokenizers, src/): normalizers/{unicode,
// replace,prepend,strip,utils}.rs, pre_tokenizers/{split,byte_level,metaspace,whitespace,sequence}.rs and
// tokenizer/normalizer.rs (NormalizedString::split behaviours). Semantics reproduced, code our own.
#include "models/tokenizer/components.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "models/tokenizer/json_util.h"
#include "tensor/error.h"

namespace slm::tok {

using nlohmann::json;

// ---------------------------------------------------------------- normalizers

void Normalizer::apply(NormStr& s) const {
  switch (kind) {
    case Kind::NFC: s.normalize(NormForm::NFC); break;
    case Kind::NFD: s.normalize(NormForm::NFD); break;
    case Kind::NFKC: s.normalize(NormForm::NFKC); break;
    case Kind::NFKD: s.normalize(NormForm::NFKD); break;
    case Kind::Prepend: s.prepend(content); break;  // no-op on an empty string, as HF
    case Kind::Replace: s.replace(*pattern, content); break;
    case Kind::Strip: s.strip(strip_left, strip_right); break;
    case Kind::Lowercase: s.lowercase(); break;
    case Kind::Sequence:
      for (const Normalizer& c : children) c.apply(s);
      break;
  }
}

Pattern parse_pattern(const json& j, const std::string& file, const std::string& where) {
  SLM_CHECK(j.is_object() && j.size() == 1,
            "[tokenizer] " + file + ": " + where + ".pattern must be {\"String\": ...} or {\"Regex\": ...}");
  if (j.contains("String")) return Pattern::literal(get_string(j, "String", file, where + ".pattern"));
  if (j.contains("Regex")) {
    std::string re = get_string(j, "Regex", file, where + ".pattern");
    try {
      return Pattern::regex(re);
    } catch (const Error& e) {
      throw Error("[tokenizer] " + file + ": " + where + ": " + (e.what() + std::string("[tokenizer] ").size()));
    }
  }
  throw Error("[tokenizer] " + file + ": " + where + ".pattern must have a \"String\" or \"Regex\" key");
}

Normalizer parse_normalizer(const json& j, const std::string& file) {
  std::string type = get_type(j, file, "normalizer");
  Normalizer n;
  const std::string where = "normalizer '" + type + "'";
  if (type == "NFC") n.kind = Normalizer::Kind::NFC;
  else if (type == "NFD") n.kind = Normalizer::Kind::NFD;
  else if (type == "NFKC") n.kind = Normalizer::Kind::NFKC;
  else if (type == "NFKD") n.kind = Normalizer::Kind::NFKD;
  else if (type == "Lowercase") n.kind = Normalizer::Kind::Lowercase;
  else if (type == "Prepend") {
    n.kind = Normalizer::Kind::Prepend;
    n.content = get_string(j, "prepend", file, where);
  } else if (type == "Replace") {
    n.kind = Normalizer::Kind::Replace;
    SLM_CHECK(j.contains("pattern"), "[tokenizer] " + file + ": " + where + " has no \"pattern\"");
    n.pattern = parse_pattern(j["pattern"], file, where);
    n.content = get_string(j, "content", file, where);
  } else if (type == "Strip") {
    n.kind = Normalizer::Kind::Strip;
    n.strip_left = get_bool(j, "strip_left", true, file, where);
    n.strip_right = get_bool(j, "strip_right", true, file, where);
  } else if (type == "Sequence") {
    n.kind = Normalizer::Kind::Sequence;
    SLM_CHECK(j.contains("normalizers") && j["normalizers"].is_array(),
              "[tokenizer] " + file + ": normalizer 'Sequence' needs a \"normalizers\" array");
    for (const json& c : j["normalizers"]) n.children.push_back(parse_normalizer(c, file));
  } else {
    throw Error("[tokenizer] " + file + ": normalizer type '" + type +
                "' is not supported (supported: NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace, Strip, Sequence)");
  }
  return n;
}

// ---------------------------------------------------------------- pre-tokenizers

namespace {

const char* kGpt2Regex = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// The regex crate's Unicode \w, spelled for PCRE2.
#define SLM_RUST_WORD R"(\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\x{200C}\x{200D})"

// NormalizedString::split: cuts piece [0, len) at `matches` and applies `b`; emit(s, e) for each kept range.
template <typename F>
void split_piece(const std::vector<std::pair<uint32_t, uint32_t>>& matches, uint32_t len, SplitBehavior b,
                 bool invert, F&& emit) {
  struct Part {
    uint32_t s, e;
    bool is_match;
  };
  thread_local std::vector<Part> parts;
  parts.clear();
  uint32_t prev = 0;
  for (auto [s, e] : matches) {
    if (prev != s) parts.push_back({prev, s, invert});
    parts.push_back({s, e, !invert});
    prev = e;
  }
  if (prev != len) parts.push_back({prev, len, invert});
  switch (b) {
    case SplitBehavior::Isolated:
      for (const Part& p : parts) emit(p.s, p.e);
      return;
    case SplitBehavior::Removed:
      for (const Part& p : parts)
        if (!p.is_match) emit(p.s, p.e);
      return;
    default:
      break;
  }
  thread_local std::vector<std::pair<uint32_t, uint32_t>> acc;
  acc.clear();
  bool prev_match = false;
  if (b == SplitBehavior::Contiguous) {
    for (const Part& p : parts) {
      if (p.is_match == prev_match && !acc.empty()) acc.back().second = p.e;
      else acc.push_back({p.s, p.e});
      prev_match = p.is_match;
    }
  } else if (b == SplitBehavior::MergedWithPrevious) {
    for (const Part& p : parts) {
      if (p.is_match && !prev_match && !acc.empty()) acc.back().second = p.e;
      else acc.push_back({p.s, p.e});
      prev_match = p.is_match;
    }
  } else {  // MergedWithNext: the same walk from the right
    for (size_t i = parts.size(); i-- > 0;) {
      const Part& p = parts[i];
      if (p.is_match && !prev_match && !acc.empty()) acc.back().first = p.s;
      else acc.push_back({p.s, p.e});
      prev_match = p.is_match;
    }
    std::reverse(acc.begin(), acc.end());
  }
  for (auto [s, e] : acc) emit(s, e);
}

void apply_split(PreTokenized& pt, const Pattern& pat, SplitBehavior b, bool invert) {
  std::vector<Split> out;
  out.reserve(pt.splits.size() * 4);
  std::vector<std::pair<uint32_t, uint32_t>> matches;
  for (const Split& sp : pt.splits) {
    if (sp.id >= 0) {
      out.push_back(sp);
      continue;
    }
    std::string_view piece(pt.ns.text.data() + sp.start, sp.end - sp.start);
    pat.find_all(piece, matches);
    split_piece(matches, sp.end - sp.start, b, invert, [&](uint32_t s, uint32_t e) {
      if (e > s) out.push_back({sp.start + s, sp.start + e, -1});
    });
  }
  pt.splits.swap(out);
}

// Rebuilds pt.ns from its splits: text splits go through f(piece, sub) which edits the piece and may cut it
// into sub-ranges (empty `sub` = keep whole); added-token splits are copied as they are.
template <typename F>
void rebuild(PreTokenized& pt, F&& f) {
  NormStr out;
  out.track = pt.ns.track;
  out.text.reserve(pt.ns.text.size() + pt.ns.text.size() / 4);
  std::vector<Split> splits;
  splits.reserve(pt.splits.size());
  std::vector<std::pair<uint32_t, uint32_t>> sub;
  NormStr piece;
  piece.track = pt.ns.track;
  for (const Split& sp : pt.splits) {
    uint32_t base = static_cast<uint32_t>(out.text.size());
    if (sp.id >= 0) {
      out.append(pt.ns, sp.start, sp.end);
      splits.push_back({base, static_cast<uint32_t>(out.text.size()), sp.id});
      continue;
    }
    piece.text.assign(pt.ns.text, sp.start, sp.end - sp.start);
    if (piece.track) piece.align.assign(pt.ns.align.begin() + sp.start, pt.ns.align.begin() + sp.end);
    sub.clear();
    f(piece, sub);
    out.append(piece, 0, piece.text.size());
    if (sub.empty()) {
      if (!piece.text.empty()) splits.push_back({base, static_cast<uint32_t>(out.text.size()), -1});
    } else {
      for (auto [s, e] : sub)
        if (e > s) splits.push_back({base + s, base + e, -1});
    }
  }
  pt.ns = std::move(out);
  pt.splits.swap(splits);
}

}  // namespace

void PreTokenizer::apply(PreTokenized& pt, bool virtual_bytes) const {
  switch (kind) {
    case Kind::Split:
    case Kind::Whitespace:
    case Kind::WhitespaceSplit:
      apply_split(pt, *pattern, behavior, invert);
      return;
    case Kind::ByteLevel:
      if (add_prefix_space) {
        rebuild(pt, [](NormStr& p, auto&) {
          if (p.text[0] != ' ') p.prepend(" ");
        });
      }
      if (use_regex) apply_split(pt, *pattern, SplitBehavior::Isolated, false);
      if (virtual_bytes) {
        pt.byte_level_virtual = true;
      } else {
        rebuild(pt, [](NormStr& p, auto&) { p.byte_level_map(); });
      }
      return;
    case Kind::Metaspace: {
      Pattern space = Pattern::literal(" ");
      Pattern rep = Pattern::literal(replacement);
      std::vector<std::pair<uint32_t, uint32_t>> matches;
      rebuild(pt, [&](NormStr& p, std::vector<std::pair<uint32_t, uint32_t>>& sub) {
        p.replace(space, replacement);
        bool starts = p.text.compare(0, replacement.size(), replacement) == 0;
        if (!starts && (prepend_scheme == Prepend::Always ||
                        (prepend_scheme == Prepend::First && !p.align.empty() && p.align[0].start == 0)))
          p.prepend(replacement);
        if (split) {
          rep.find_all(p.text, matches);
          split_piece(matches, static_cast<uint32_t>(p.text.size()), SplitBehavior::MergedWithNext, false,
                      [&](uint32_t s, uint32_t e) { sub.emplace_back(s, e); });
          if (sub.empty()) sub.emplace_back(0, 0);  // nothing left: drop the piece
        }
      });
      return;
    }
  }
}

bool needs_offsets(const std::vector<PreTokenizer>& pre) {
  for (const PreTokenizer& p : pre)
    if (p.kind == PreTokenizer::Kind::Metaspace && p.prepend_scheme == PreTokenizer::Prepend::First) return true;
  return false;
}

namespace {
SplitBehavior parse_behavior(const std::string& s, const std::string& file) {
  if (s == "Removed") return SplitBehavior::Removed;
  if (s == "Isolated") return SplitBehavior::Isolated;
  if (s == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (s == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (s == "Contiguous") return SplitBehavior::Contiguous;
  throw Error("[tokenizer] " + file + ": Split behavior '" + s +
              "' is unknown (Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous)");
}

void parse_pre_into(const json& j, const std::string& file, std::vector<PreTokenizer>& out) {
  std::string type = get_type(j, file, "pre_tokenizer");
  const std::string where = "pre_tokenizer '" + type + "'";
  PreTokenizer p;
  if (type == "Sequence") {
    SLM_CHECK(j.contains("pretokenizers") && j["pretokenizers"].is_array(),
              "[tokenizer] " + file + ": pre_tokenizer 'Sequence' needs a \"pretokenizers\" array");
    for (const json& c : j["pretokenizers"]) parse_pre_into(c, file, out);
    return;
  }
  if (type == "Split") {
    p.kind = PreTokenizer::Kind::Split;
    SLM_CHECK(j.contains("pattern"), "[tokenizer] " + file + ": " + where + " has no \"pattern\"");
    p.pattern = parse_pattern(j["pattern"], file, where);
    p.behavior = parse_behavior(get_string(j, "behavior", file, where), file);
    p.invert = get_bool(j, "invert", false, file, where);
  } else if (type == "ByteLevel") {
    p.kind = PreTokenizer::Kind::ByteLevel;
    p.add_prefix_space = get_bool(j, "add_prefix_space", true, file, where);
    p.use_regex = get_bool(j, "use_regex", true, file, where);
    if (p.use_regex) p.pattern = Pattern::regex(kGpt2Regex);
  } else if (type == "Metaspace") {
    p.kind = PreTokenizer::Kind::Metaspace;
    p.replacement = get_string(j, "replacement", file, where);
    SLM_CHECK(utf8_char_count(p.replacement) == 1 && utf8_valid_prefix(p.replacement) == p.replacement.size(),
              "[tokenizer] " + file + ": " + where + ".replacement must be one character");
    std::string scheme = j.contains("prepend_scheme") ? get_string(j, "prepend_scheme", file, where) : "always";
    if (scheme == "always") p.prepend_scheme = PreTokenizer::Prepend::Always;
    else if (scheme == "first") p.prepend_scheme = PreTokenizer::Prepend::First;
    else if (scheme == "never") p.prepend_scheme = PreTokenizer::Prepend::Never;
    else throw Error("[tokenizer] " + file + ": " + where + ".prepend_scheme '" + scheme + "' is unknown");
    if (j.contains("add_prefix_space") && j["add_prefix_space"].is_boolean() && !j["add_prefix_space"].get<bool>())
      p.prepend_scheme = PreTokenizer::Prepend::Never;
    p.split = get_bool(j, "split", true, file, where);
  } else if (type == "Whitespace") {
    p.kind = PreTokenizer::Kind::Whitespace;
    p.pattern = Pattern::regex("[" SLM_RUST_WORD "]+|[^" SLM_RUST_WORD "\\s]+");
    p.behavior = SplitBehavior::Removed;
    p.invert = true;
  } else if (type == "WhitespaceSplit") {
    p.kind = PreTokenizer::Kind::WhitespaceSplit;
    p.pattern = Pattern::regex("\\s+");
    p.behavior = SplitBehavior::Removed;
  } else {
    throw Error("[tokenizer] " + file + ": pre_tokenizer type '" + type +
                "' is not supported (supported: Split, ByteLevel, Metaspace, Whitespace, WhitespaceSplit, Sequence)");
  }
  out.push_back(std::move(p));
}
}  // namespace

std::vector<PreTokenizer> parse_pre_tokenizer(const json& j, const std::string& file) {
  std::vector<PreTokenizer> out;
  parse_pre_into(j, file, out);
  return out;
}

}  // namespace slm::tok
