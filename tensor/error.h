// The one exception type of slm. Messages name the place and the remedy:
// "[safetensors] model.safetensors: tensor 'x' ends at byte 812 past the file's 640 bytes — ..."
#pragma once
#include <stdexcept>
#include <string>

namespace slm {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

// SLM_CHECK(cond, "message " + x): throws slm::Error when cond is false.
#define SLM_CHECK(cond, msg)                      \
  do {                                            \
    if (!(cond)) throw ::slm::Error(msg);         \
  } while (0)

}  // namespace slm
