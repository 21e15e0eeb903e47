// Decoders and post-processors of tokenizer.json. References (HF tokenizers, src/): decoders/{byte_fallback,
// fuse,strip,sequence}.rs, normalizers/replace.rs (Replace decoder), pre_tokenizers/{byte_level,metaspace}.rs
// (their decoders), processors/{template,byte_level,sequence}.rs. Semantics reproduced, code our own.
#include <algorithm>

#include <nlohmann/json.hpp>

#include "models/tokenizer/components.h"
#include "models/tokenizer/json_util.h"
#include "tensor/error.h"

namespace slm::tok {

using nlohmann::json;
Pattern parse_pattern(const json& j, const std::string& file, const std::string& where);  // components.cpp

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "<0xNN>" -> NN, as Rust's u8::from_str_radix(&token[3..5], 16) (which also takes "+N").
int byte_token_value(const std::string& t) {
  if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
  if (t[3] == '+') return hex_digit(t[4]);
  int hi = hex_digit(t[3]), lo = hex_digit(t[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

void flush_bytes(std::string& bytes, std::vector<std::string>& out) {
  if (bytes.empty()) return;
  if (utf8_valid_prefix(bytes) == bytes.size()) {
    out.push_back(bytes);
  } else {
    for (size_t i = 0; i < bytes.size(); ++i) out.emplace_back("\xEF\xBF\xBD");
  }
  bytes.clear();
}

std::vector<char32_t> to_chars(const std::string& s) {
  std::vector<char32_t> cs;
  for (size_t i = 0; i < s.size();) cs.push_back(utf8_next(s, i));
  return cs;
}

}  // namespace

void Decoder::decode_chain(std::vector<std::string>& tokens) const {
  switch (kind) {
    case Kind::ByteLevel: {
      std::string bytes;
      for (const std::string& t : tokens) {
        size_t start = bytes.size();
        bool all = true;
        for (size_t i = 0; i < t.size();) {
          int b = unicode_to_byte(utf8_next(t, i));
          if (b < 0) { all = false; break; }
          bytes.push_back(static_cast<char>(b));
        }
        if (!all) {
          bytes.resize(start);
          bytes += t;
        }
      }
      std::string out;
      utf8_lossy_append(bytes, out);
      tokens.assign(1, std::move(out));
      return;
    }
    case Kind::ByteFallback: {
      std::vector<std::string> out;
      std::string bytes;
      for (std::string& t : tokens) {
        int v = byte_token_value(t);
        if (v >= 0) {
          bytes.push_back(static_cast<char>(v));
        } else {
          flush_bytes(bytes, out);
          out.push_back(std::move(t));
        }
      }
      flush_bytes(bytes, out);
      tokens.swap(out);
      return;
    }
    case Kind::Fuse: {
      std::string all;
      for (const std::string& t : tokens) all += t;
      tokens.assign(1, std::move(all));
      return;
    }
    case Kind::Strip: {
      char32_t c = to_chars(content).at(0);
      for (std::string& t : tokens) {
        std::vector<char32_t> cs = to_chars(t);
        size_t b = 0, e = cs.size();
        while (b < std::min(start, cs.size()) && cs[b] == c) ++b;
        for (size_t i = 0; i < stop && e > b && cs[e - 1] == c; ++i) --e;
        std::string r;
        for (size_t i = b; i < e; ++i) utf8_append(r, cs[i]);
        t = std::move(r);
      }
      return;
    }
    case Kind::Replace: {
      std::vector<std::pair<uint32_t, uint32_t>> m;
      for (std::string& t : tokens) {
        pattern->find_all(t, m);
        if (m.empty()) continue;
        std::string r;
        size_t last = 0;
        for (auto [s, e] : m) {
          r.append(t, last, s - last);
          r += content;
          last = e;
        }
        r.append(t, last, std::string::npos);
        t = std::move(r);
      }
      return;
    }
    case Kind::Metaspace: {
      for (size_t i = 0; i < tokens.size(); ++i) {
        std::string r;
        const std::string& t = tokens[i];
        for (size_t k = 0; k < t.size();) {
          if (t.compare(k, content.size(), content) == 0) {
            if (!(i == 0 && !prepend_never)) r += ' ';
            k += content.size();
          } else {
            r += t[k++];
          }
        }
        tokens[i] = std::move(r);
      }
      return;
    }
    case Kind::Sequence:
      for (const Decoder& d : children) d.decode_chain(tokens);
      return;
  }
}

Decoder parse_decoder(const json& j, const std::string& file) {
  std::string type = get_type(j, file, "decoder");
  const std::string where = "decoder '" + type + "'";
  Decoder d;
  if (type == "ByteLevel") {
    d.kind = Decoder::Kind::ByteLevel;
  } else if (type == "ByteFallback") {
    d.kind = Decoder::Kind::ByteFallback;
  } else if (type == "Fuse") {
    d.kind = Decoder::Kind::Fuse;
  } else if (type == "Strip") {
    d.kind = Decoder::Kind::Strip;
    d.content = get_string(j, "content", file, where);
    SLM_CHECK(utf8_char_count(d.content) == 1, "[tokenizer] " + file + ": " + where + ".content must be one character");
    SLM_CHECK(j.value("start", json(0)).is_number_unsigned() && j.value("stop", json(0)).is_number_unsigned(),
              "[tokenizer] " + file + ": " + where + ".start/.stop must be non-negative integers");
    d.start = j.value("start", size_t{0});
    d.stop = j.value("stop", size_t{0});
  } else if (type == "Replace") {
    d.kind = Decoder::Kind::Replace;
    SLM_CHECK(j.contains("pattern"), "[tokenizer] " + file + ": " + where + " has no \"pattern\"");
    d.pattern = parse_pattern(j["pattern"], file, where);
    d.content = get_string(j, "content", file, where);
  } else if (type == "Metaspace") {
    d.kind = Decoder::Kind::Metaspace;
    d.content = get_string(j, "replacement", file, where);
    std::string scheme = j.contains("prepend_scheme") ? get_string(j, "prepend_scheme", file, where) : "always";
    d.prepend_never = scheme == "never" ||
                      (j.contains("add_prefix_space") && j["add_prefix_space"].is_boolean() &&
                       !j["add_prefix_space"].get<bool>());
  } else if (type == "Sequence") {
    d.kind = Decoder::Kind::Sequence;
    SLM_CHECK(j.contains("decoders") && j["decoders"].is_array(),
              "[tokenizer] " + file + ": decoder 'Sequence' needs a \"decoders\" array");
    for (const json& c : j["decoders"]) d.children.push_back(parse_decoder(c, file));
  } else {
    throw Error("[tokenizer] " + file + ": decoder type '" + type +
                "' is not supported (supported: ByteLevel, ByteFallback, Fuse, Strip, Replace, Metaspace, Sequence)");
  }
  return d;
}

// ---------------------------------------------------------------- post-processors

void PostProcessor::process(std::vector<int32_t>& ids, std::vector<std::pair<size_t, size_t>>* offsets,
                            bool add_special_tokens, const std::function<std::string(int32_t)>& token_of) const {
  switch (kind) {
    case Kind::ByteLevel: {
      if (!trim_offsets || !offsets) return;
      for (size_t i = 0; i < ids.size(); ++i) {
        std::vector<char32_t> cs = to_chars(token_of(ids[i]));
        auto is_sp = [](char32_t c) { return c == 0x120 || is_white_space(c); };
        size_t lead = 0, trail = 0;
        while (lead < cs.size() && is_sp(cs[lead])) ++lead;
        while (trail < cs.size() && is_sp(cs[cs.size() - 1 - trail])) ++trail;
        auto& [s, e] = (*offsets)[i];
        if (lead > 0) {
          bool is_first = i == 0 || s == 0;
          if (is_first && add_prefix_space && lead == 1) lead = 0;
          s = std::min(s + lead, e);
        }
        if (trail > 0 && e >= trail) e = std::max(e - trail, s);
      }
      return;
    }
    case Kind::Template: {
      if (!add_special_tokens) return;
      std::vector<int32_t> out;
      std::vector<std::pair<size_t, size_t>> out_off;
      for (const Piece& p : single) {
        if (p.is_special) {
          for (int32_t id : specials.at(p.name)) {
            out.push_back(id);
            out_off.emplace_back(0, 0);
          }
        } else {
          out.insert(out.end(), ids.begin(), ids.end());
          if (offsets) out_off.insert(out_off.end(), offsets->begin(), offsets->end());
        }
      }
      ids.swap(out);
      if (offsets) offsets->swap(out_off);
      return;
    }
    case Kind::Sequence:
      for (const PostProcessor& c : children) c.process(ids, offsets, add_special_tokens, token_of);
      return;
  }
}

PostProcessor parse_post_processor(const json& j, const std::string& file) {
  std::string type = get_type(j, file, "post_processor");
  const std::string where = "post_processor '" + type + "'";
  PostProcessor p;
  if (type == "ByteLevel") {
    p.kind = PostProcessor::Kind::ByteLevel;
    p.trim_offsets = get_bool(j, "trim_offsets", true, file, where);
    p.add_prefix_space = get_bool(j, "add_prefix_space", true, file, where);
  } else if (type == "TemplateProcessing") {
    p.kind = PostProcessor::Kind::Template;
    SLM_CHECK(j.contains("special_tokens") && j["special_tokens"].is_object(),
              "[tokenizer] " + file + ": " + where + " needs a \"special_tokens\" object");
    for (const auto& [name, v] : j["special_tokens"].items()) {
      SLM_CHECK(v.is_object() && v.contains("ids") && v["ids"].is_array(),
                "[tokenizer] " + file + ": " + where + ".special_tokens['" + name + "'] needs an \"ids\" array");
      std::vector<int32_t> ids;
      for (const json& id : v["ids"]) {
        SLM_CHECK(id.is_number_unsigned(), "[tokenizer] " + file + ": " + where + ".special_tokens['" + name +
                                               "'].ids must be non-negative integers");
        ids.push_back(id.get<int32_t>());
      }
      p.specials[name] = std::move(ids);
    }
    auto parse_template = [&](const char* key, bool required) {
      std::vector<PostProcessor::Piece> pieces;
      if (!j.contains(key) || j[key].is_null()) {
        SLM_CHECK(!required, "[tokenizer] " + file + ": " + where + " needs a \"" + key + "\" template");
        return pieces;
      }
      SLM_CHECK(j[key].is_array(), "[tokenizer] " + file + ": " + where + "." + key + " must be an array");
      for (const json& item : j[key]) {
        if (item.contains("SpecialToken")) {
          std::string id = get_string(item["SpecialToken"], "id", file, where + "." + key);
          SLM_CHECK(p.specials.count(id), "[tokenizer] " + file + ": " + where + "." + key + " uses special token '" +
                                              id + "' missing from special_tokens");
          pieces.push_back({true, id});
        } else if (item.contains("Sequence")) {
          pieces.push_back({false, get_string(item["Sequence"], "id", file, where + "." + key)});
        } else {
          throw Error("[tokenizer] " + file + ": " + where + "." + key +
                      " items must be {\"SpecialToken\": ...} or {\"Sequence\": ...}");
        }
      }
      return pieces;
    };
    p.single = parse_template("single", true);
    parse_template("pair", false);  // validated only: slm encodes single sequences
    for (const auto& piece : p.single)
      SLM_CHECK(piece.is_special || piece.name == "A",
                "[tokenizer] " + file + ": " + where + ".single may only use sequence 'A'");
  } else if (type == "Sequence") {
    p.kind = PostProcessor::Kind::Sequence;
    SLM_CHECK(j.contains("processors") && j["processors"].is_array(),
              "[tokenizer] " + file + ": post_processor 'Sequence' needs a \"processors\" array");
    for (const json& c : j["processors"]) p.children.push_back(parse_post_processor(c, file));
  } else {
    throw Error("[tokenizer] " + file + ": post_processor type '" + type +
                "' is not supported (supported: TemplateProcessing, ByteLevel, Sequence; RobertaProcessing and "
                "BertProcessing are not)");
  }
  return p;
}

}  // namespace slm::tok
