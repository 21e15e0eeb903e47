// The C ABI of slm_text.wasm: slm's own tokenizer (models/tokenizer) and chat-template renderer
// (models/chat) for the browser, so that the page produces the same ids and prompt text as the native slm.
// web/text/slm_text.mjs is the JS front; docs/wasm.md documents the ABI. Not a second implementation:
// every function forwards to the native classes; the only logic here is picking the template and special
// tokens out of tokenizer_config.json text (what ChatTemplate::from_model_dir does with files).
//
// Conventions: strings are (pointer, byte length) UTF-8; results are malloc'd buffers that the caller
// releases with slm_text_free, their length written to *out_len. A function that fails returns null (or -1)
// and leaves the message in slm_text_last_error(); a template error also sets its kind and bare detail.
// Single-threaded: one wasm instance, one caller at a time.
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/chat/jinja_lexer.h"
#include "models/chat/template.h"
#include "models/tokenizer/tokenizer.h"
#include "models/tokenizer/unicode.h"
#include "tensor/error.h"

#define SLM_EXPORT(name) extern "C" __attribute__((used, export_name(#name)))

namespace {

struct TextTokenizer {
  slm::Tokenizer tok;
};
struct TextTemplate {
  slm::ChatTemplate tpl;
};
struct TextStream {
  slm::StreamDecoder dec;
};

// Error kinds reported to JS: 0 = not a template error, else 1 + jinja::ErrorKind
// (1 syntax, 2 unsupported, 3 runtime, 4 raised by the template's raise_exception).
struct LastError {
  std::string message, detail;
  int kind = 0, line = 0, column = 0;
} g_error;

void set_error(const std::string& message) { g_error = {message, message, 0, 0, 0}; }

// Runs f, turning any exception into the last error; returns whether it succeeded.
template <class F>
bool guarded(F&& f) {
  try {
    f();
    return true;
  } catch (const slm::jinja::TemplateError& e) {
    g_error = {e.what(), e.detail(), 1 + static_cast<int>(e.kind()), e.line(), e.column()};
  } catch (const std::bad_alloc&) {
    set_error("[slm_text] out of memory — the wasm heap could not grow (4 GiB is the wasm32 limit)");
  } catch (const std::exception& e) {
    set_error(e.what());
  } catch (...) {
    set_error("[slm_text] unknown C++ exception");
  }
  return false;
}

// A malloc'd copy of bytes (never null on success, even when empty).
char* copy_out(const std::string& s, size_t* out_len) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (!p) throw std::bad_alloc();
  std::memcpy(p, s.data(), s.size());
  p[s.size()] = '\0';
  *out_len = s.size();
  return p;
}

nlohmann::ordered_json parse_json(const char* text, size_t len, const std::string& what) {
  try {
    return nlohmann::ordered_json::parse(text, text + len);
  } catch (const nlohmann::json::exception& e) {
    throw slm::Error("[slm_text] " + what + ": not valid JSON (" + e.what() + ")");
  }
}

// tokenizer_config.json's "chat_template": a string, or a list of {name, template} of which "default" is
// used — the rule of ChatTemplate::from_model_dir (models/chat/template.cpp).
std::string pick_template(const nlohmann::ordered_json& cfg) {
  SLM_CHECK(cfg.is_object() && cfg.contains("chat_template") && !cfg["chat_template"].is_null(),
            "[chat_template] tokenizer_config.json has no 'chat_template' — a base model has none; pass a config "
            "whose chat_template holds the model's Jinja template");
  const auto& ct = cfg["chat_template"];
  if (ct.is_string()) return ct.get<std::string>();
  SLM_CHECK(ct.is_array(), "[chat_template] tokenizer_config.json: 'chat_template' is " + std::string(ct.type_name()) +
                               " — expected a string or a list of {name, template}");
  for (const auto& t : ct)
    if (t.is_object() && t.value("name", "") == "default" && t.contains("template") && t["template"].is_string())
      return t["template"].get<std::string>();
  throw slm::Error("[chat_template] tokenizer_config.json: 'chat_template' has no entry named \"default\"");
}

}  // namespace

SLM_EXPORT(slm_text_alloc) void* slm_text_alloc(size_t n) { return std::malloc(n ? n : 1); }
SLM_EXPORT(slm_text_free) void slm_text_free(void* p) { std::free(p); }
SLM_EXPORT(slm_text_last_error) const char* slm_text_last_error() { return g_error.message.c_str(); }
SLM_EXPORT(slm_text_last_error_detail) const char* slm_text_last_error_detail() { return g_error.detail.c_str(); }
SLM_EXPORT(slm_text_last_error_kind) int slm_text_last_error_kind() { return g_error.kind; }
SLM_EXPORT(slm_text_last_error_line) int slm_text_last_error_line() { return g_error.line; }
SLM_EXPORT(slm_text_last_error_column) int slm_text_last_error_column() { return g_error.column; }

// --- tokenizer ---

SLM_EXPORT(slm_text_tokenizer_create) TextTokenizer* slm_text_tokenizer_create(const char* json, size_t len) {
  TextTokenizer* t = nullptr;
  guarded([&] { t = new TextTokenizer{slm::Tokenizer::from_json_string(std::string_view(json, len))}; });
  return t;
}
SLM_EXPORT(slm_text_tokenizer_destroy) void slm_text_tokenizer_destroy(TextTokenizer* t) { delete t; }

SLM_EXPORT(slm_text_encode)
int32_t* slm_text_encode(const TextTokenizer* t, const char* text, size_t len, int add_special, size_t* n_out) {
  int32_t* out = nullptr;
  guarded([&] {
    std::vector<int32_t> ids = t->tok.encode(std::string_view(text, len), add_special != 0);
    out = static_cast<int32_t*>(std::malloc(ids.size() * sizeof(int32_t) + 4));
    if (!out) throw std::bad_alloc();
    std::memcpy(out, ids.data(), ids.size() * sizeof(int32_t));
    *n_out = ids.size();
  });
  return out;
}

SLM_EXPORT(slm_text_decode)
char* slm_text_decode(const TextTokenizer* t, const int32_t* ids, size_t n, int skip_special, size_t* out_len) {
  char* out = nullptr;
  guarded([&] { out = copy_out(t->tok.decode(std::vector<int32_t>(ids, ids + n), skip_special != 0), out_len); });
  return out;
}

SLM_EXPORT(slm_text_vocab_size) int64_t slm_text_vocab_size(const TextTokenizer* t) { return t->tok.vocab_size(); }
SLM_EXPORT(slm_text_is_special) int slm_text_is_special(const TextTokenizer* t, int32_t id) {
  return t->tok.is_special(id) ? 1 : 0;
}
// -1 when the token is not in the vocabulary.
SLM_EXPORT(slm_text_token_to_id) int32_t slm_text_token_to_id(const TextTokenizer* t, const char* s, size_t len) {
  std::optional<int32_t> id = t->tok.token_to_id(std::string_view(s, len));
  return id ? *id : -1;
}
SLM_EXPORT(slm_text_id_to_token) char* slm_text_id_to_token(const TextTokenizer* t, int32_t id, size_t* out_len) {
  char* out = nullptr;
  guarded([&] { out = copy_out(t->tok.id_to_token(id), out_len); });
  return out;
}

// --- streaming decoder (holds its own reference to the tokenizer's tables) ---

SLM_EXPORT(slm_text_stream_create) TextStream* slm_text_stream_create(const TextTokenizer* t, int skip_special) {
  TextStream* s = nullptr;
  guarded([&] { s = new TextStream{slm::StreamDecoder(t->tok, skip_special != 0)}; });
  return s;
}
SLM_EXPORT(slm_text_stream_push) char* slm_text_stream_push(TextStream* s, int32_t id, size_t* out_len) {
  char* out = nullptr;
  guarded([&] { out = copy_out(s->dec.push(id), out_len); });
  return out;
}
SLM_EXPORT(slm_text_stream_finish) char* slm_text_stream_finish(TextStream* s, size_t* out_len) {
  char* out = nullptr;
  guarded([&] { out = copy_out(s->dec.finish(), out_len); });
  return out;
}
SLM_EXPORT(slm_text_stream_destroy) void slm_text_stream_destroy(TextStream* s) { delete s; }

// --- chat template ---

// From tokenizer_config.json text: its chat_template and the special tokens transformers passes
// (bos/eos/unk/sep/pad/cls/mask, strings or {"content": ...}).
SLM_EXPORT(slm_text_template_create) TextTemplate* slm_text_template_create(const char* config_json, size_t len) {
  TextTemplate* t = nullptr;
  guarded([&] {
    const nlohmann::ordered_json cfg = parse_json(config_json, len, "tokenizer_config.json");
    std::string source = pick_template(cfg);
    nlohmann::json specials = nlohmann::json::object();
    for (const char* k : {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"})
      if (cfg.contains(k)) specials[k] = nlohmann::json::parse(cfg[k].dump());
    t = new TextTemplate{slm::ChatTemplate(std::move(source), std::move(specials))};
  });
  return t;
}
SLM_EXPORT(slm_text_template_destroy) void slm_text_template_destroy(TextTemplate* t) { delete t; }

// messages: a JSON array; extra: a JSON object of template variables (enable_thinking, tools, ...), or
// len 0 for none; now: {year, month 0-11, day, hour, minute, second, weekday 0-6, day of year 0-365} for
// strftime_now (the page passes the browser's local time), or null for the wasm clock (UTC).
SLM_EXPORT(slm_text_render_chat)
char* slm_text_render_chat(TextTemplate* t, const char* messages_json, size_t messages_len, int add_generation_prompt,
                           const char* extra_json, size_t extra_len, const int32_t* now, size_t* out_len) {
  char* out = nullptr;
  guarded([&] {
    const auto messages = parse_json(messages_json, messages_len, "messages");
    const auto extra = extra_len ? parse_json(extra_json, extra_len, "template variables")
                                 : nlohmann::ordered_json::object();
    if (now) {
      std::tm tm{};
      tm.tm_year = now[0] - 1900, tm.tm_mon = now[1], tm.tm_mday = now[2];
      tm.tm_hour = now[3], tm.tm_min = now[4], tm.tm_sec = now[5], tm.tm_wday = now[6], tm.tm_yday = now[7];
      t->tpl.set_now(tm);
    } else {
      std::time_t s = std::time(nullptr);
      t->tpl.set_now(*std::gmtime(&s));
    }
    out = copy_out(t->tpl.render_json(messages, add_generation_prompt != 0, extra), out_len);
  });
  return out;
}

// --- Unicode (for tests: the table backend against ICU) ---

// form: 0 NFC, 1 NFD, 2 NFKC, 3 NFKD.
SLM_EXPORT(slm_text_normalize) char* slm_text_normalize(int form, const char* text, size_t len, size_t* out_len) {
  char* out = nullptr;
  guarded([&] {
    SLM_CHECK(form >= 0 && form <= 3, "[slm_text] normalize: form must be 0 (NFC), 1 (NFD), 2 (NFKC) or 3 (NFKD)");
    const std::string_view s(text, len);
    std::string r;
    if (!slm::tok::unicode_normalize(static_cast<slm::tok::NormForm>(form), s, r, nullptr)) r.assign(s);
    out = copy_out(r, out_len);
  });
  return out;
}
// 1 when c is in the regex crate's \w; the lowercase mapping of c (UTF-8).
SLM_EXPORT(slm_text_is_word_char) int slm_text_is_word_char(uint32_t c) { return slm::tok::is_word_char(c) ? 1 : 0; }
SLM_EXPORT(slm_text_lowercase) char* slm_text_lowercase(uint32_t c, size_t* out_len) {
  char* out = nullptr;
  guarded([&] {
    std::string r;
    slm::tok::lowercase_append(c, r);
    out = copy_out(r, out_len);
  });
  return out;
}
