// Loading a tokenizer: tokenizer.json (HF tokenizers' serialisation, tokenizer/serialization.rs) and the
// transformers-level companions tokenizer_config.json, special_tokens_map.json, generation_config.json.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "models/tokenizer/json_util.h"
#include "models/tokenizer/tokenizer_impl.h"
#include "tensor/error.h"

namespace slm {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

json parse_json_text(std::string_view text, const std::string& file) {
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    throw Error("[tokenizer] " + file + ": not valid JSON (" + e.what() + ")");
  }
}

std::optional<json> read_json_file(const fs::path& p, bool required) {
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    SLM_CHECK(!required, "[tokenizer] " + p.string() + ": cannot open the file — pass a model directory that holds "
                         "tokenizer.json, or the path of a tokenizer.json");
    return std::nullopt;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_json_text(ss.str(), p.string());
}

std::shared_ptr<Tokenizer::Impl> build(const json& j, const std::string& file) {
  SLM_CHECK(j.is_object(), "[tokenizer] " + file + ": the top level must be an object");
  auto impl = std::make_shared<Tokenizer::Impl>();
  impl->file = file;
  for (const char* key : {"truncation", "padding"}) {
    SLM_CHECK(!j.contains(key) || j[key].is_null(),
              "[tokenizer] " + file + ": \"" + key + "\" is set; slm encodes without " + key +
                  " (it would change the ids) — set it to null in the file");
  }
  SLM_CHECK(j.contains("model"), "[tokenizer] " + file + ": no \"model\" — is this a tokenizer.json?");
  impl->model = tok::Bpe::parse(j["model"], file);
  if (j.contains("normalizer") && !j["normalizer"].is_null())
    impl->normalizer = tok::parse_normalizer(j["normalizer"], file);
  if (j.contains("pre_tokenizer") && !j["pre_tokenizer"].is_null())
    impl->pre = tok::parse_pre_tokenizer(j["pre_tokenizer"], file);
  if (j.contains("post_processor") && !j["post_processor"].is_null())
    impl->post = tok::parse_post_processor(j["post_processor"], file);
  if (j.contains("decoder") && !j["decoder"].is_null()) impl->decoder = tok::parse_decoder(j["decoder"], file);
  impl->added.build(j.contains("added_tokens") ? j["added_tokens"] : json(), impl->model,
                    impl->normalizer ? &*impl->normalizer : nullptr, file);
  impl->virtual_bytes = !impl->pre.empty() && impl->pre.back().kind == tok::PreTokenizer::Kind::ByteLevel &&
                        impl->model.supports_raw_bytes();
  impl->force_offsets = tok::needs_offsets(impl->pre);
  impl->vocab_size = std::max<int64_t>(impl->model.max_id(), impl->added.max_id()) + 1;
  return impl;
}

// A special-token entry: "text", {"content": "text", ...} or null.
std::string token_text(const json& v, const std::string& file, const std::string& key) {
  if (v.is_null()) return {};
  if (v.is_string()) return v.get<std::string>();
  SLM_CHECK(v.is_object() && v.contains("content") && v["content"].is_string(),
            "[tokenizer] " + file + ": \"" + key + "\" must be a string or an object with a string \"content\"");
  return v["content"].get<std::string>();
}

std::vector<int32_t> id_list(const json& v, const std::string& file, const std::string& key) {
  std::vector<int32_t> ids;
  if (v.is_null()) return ids;
  auto one = [&](const json& x) {
    SLM_CHECK(x.is_number_integer() && x.get<int64_t>() >= 0,
              "[tokenizer] " + file + ": \"" + key + "\" must be a non-negative integer or a list of them");
    ids.push_back(x.get<int32_t>());
  };
  if (v.is_array()) for (const json& x : v) one(x);
  else one(v);
  return ids;
}

}  // namespace

void load_special_tokens(Tokenizer::Impl& impl, const std::string& dir) {
  SpecialTokens& st = impl.specials;
  const fs::path cfg_path = fs::path(dir) / "tokenizer_config.json";
  const fs::path map_path = fs::path(dir) / "special_tokens_map.json";
  const fs::path gen_path = fs::path(dir) / "generation_config.json";
  std::optional<json> cfg = read_json_file(cfg_path, false);
  std::optional<json> map = read_json_file(map_path, false);
  std::optional<json> gen = read_json_file(gen_path, false);
  for (auto [opt, path] : {std::pair{&cfg, &cfg_path}, std::pair{&map, &map_path}, std::pair{&gen, &gen_path}})
    SLM_CHECK(!*opt || (*opt)->is_object(), "[tokenizer] " + path->string() + ": the top level must be an object");
  struct Field {
    const char* key;
    std::string* text;
  } fields[] = {{"bos_token", &st.bos}, {"eos_token", &st.eos}, {"pad_token", &st.pad}, {"unk_token", &st.unk}};
  for (const Field& f : fields) {
    // tokenizer_config.json wins; special_tokens_map.json fills what it leaves out.
    if (cfg && cfg->contains(f.key)) *f.text = token_text((*cfg)[f.key], cfg_path.string(), f.key);
    if (f.text->empty() && map && map->contains(f.key)) *f.text = token_text((*map)[f.key], map_path.string(), f.key);
  }
  if (cfg) {
    st.add_bos_token = tok::get_bool(*cfg, "add_bos_token", false, cfg_path.string(), "tokenizer_config");
    st.add_eos_token = tok::get_bool(*cfg, "add_eos_token", false, cfg_path.string(), "tokenizer_config");
    if (cfg->contains("chat_template")) {
      const json& t = (*cfg)["chat_template"];
      if (t.is_string()) {
        st.chat_template = t.get<std::string>();
      } else if (t.is_array()) {  // [{"name": "default", "template": "..."}, ...]
        for (const json& e : t)
          if (e.is_object() && e.value("name", "") == "default" && e.contains("template") && e["template"].is_string())
            st.chat_template = e["template"].get<std::string>();
      }
    }
  }
  auto id_of = [&](const std::string& s) -> std::optional<int32_t> {
    if (s.empty()) return std::nullopt;
    if (auto id = impl.added.token_to_id(s)) return id;
    return impl.model.token_to_id(s);
  };
  st.bos_id = id_of(st.bos);
  st.eos_id = id_of(st.eos);
  st.pad_id = id_of(st.pad);
  st.unk_id = id_of(st.unk);
  if (st.eos_id) st.eos_ids.push_back(*st.eos_id);
  if (gen) {
    for (int32_t id : id_list(gen->value("eos_token_id", json()), gen_path.string(), "eos_token_id"))
      if (std::find(st.eos_ids.begin(), st.eos_ids.end(), id) == st.eos_ids.end()) st.eos_ids.push_back(id);
    std::vector<int32_t> bos = id_list(gen->value("bos_token_id", json()), gen_path.string(), "bos_token_id");
    if (!st.bos_id && !bos.empty()) st.bos_id = bos[0];
    std::vector<int32_t> pad = id_list(gen->value("pad_token_id", json()), gen_path.string(), "pad_token_id");
    if (!st.pad_id && !pad.empty()) st.pad_id = pad[0];
  }
}

Tokenizer Tokenizer::load(const std::string& dir_or_json_path) {
  fs::path p(dir_or_json_path);
  SLM_CHECK(fs::exists(p), "[tokenizer] " + p.string() + ": does not exist — pass a model directory that holds "
                           "tokenizer.json, or the path of a tokenizer.json");
  fs::path json_path = fs::is_directory(p) ? p / "tokenizer.json" : p;
  std::optional<json> j = read_json_file(json_path, true);
  Tokenizer t;
  auto impl = build(*j, json_path.string());
  load_special_tokens(*impl, json_path.parent_path().string());
  t.impl_ = std::move(impl);
  return t;
}

Tokenizer Tokenizer::from_json_string(std::string_view json_text, const std::string& name) {
  Tokenizer t;
  t.impl_ = build(parse_json_text(json_text, name), name);
  return t;
}

}  // namespace slm
