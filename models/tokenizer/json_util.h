// Small checked accessors for tokenizer JSON files: every failure names the file, the component and the key.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "tensor/error.h"

namespace slm::tok {

inline std::string get_type(const nlohmann::json& j, const std::string& file, const std::string& what) {
  SLM_CHECK(j.is_object(), "[tokenizer] " + file + ": " + what + " must be an object, got " + j.type_name());
  auto it = j.find("type");
  SLM_CHECK(it != j.end() && it->is_string(), "[tokenizer] " + file + ": " + what + " has no string \"type\"");
  return it->get<std::string>();
}

inline std::string get_string(const nlohmann::json& j, const char* key, const std::string& file,
                              const std::string& where) {
  auto it = j.find(key);
  SLM_CHECK(it != j.end() && it->is_string(),
            "[tokenizer] " + file + ": " + where + " needs a string \"" + key + "\"");
  return it->get<std::string>();
}

inline bool get_bool(const nlohmann::json& j, const char* key, bool dflt, const std::string& file,
                     const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return dflt;
  SLM_CHECK(it->is_boolean(), "[tokenizer] " + file + ": " + where + ".\"" + key + "\" must be true or false");
  return it->get<bool>();
}

}  // namespace slm::tok
