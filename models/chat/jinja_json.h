// JSON <-> Value: messages and template variables come in as JSON; `tojson` writes JSON the way
// transformers' override of the filter does (Python json.dumps with ensure_ascii=False, the
// default separators, key order kept). Use nlohmann::ordered_json to keep the caller's key order
// (json.dumps and dict printing show it); plain nlohmann::json sorts keys.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "models/chat/jinja_value.h"

namespace slm::jinja {

Value from_json(const nlohmann::ordered_json& j);
Value from_json(const nlohmann::json& j);

struct JsonOptions {
  bool ensure_ascii = false;
  std::optional<std::string> indent;  // None: one line; otherwise the per-level indent string
  std::optional<std::pair<std::string, std::string>> separators;
  bool sort_keys = false;
};
// json.dumps(v, ...); type_error for values JSON cannot hold (Undefined, iterators, ...).
std::string to_json(const Value& v, const JsonOptions& opt);

}  // namespace slm::jinja
