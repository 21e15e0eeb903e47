// See system_memory.h.
#include "tensor/system_memory.h"

#include <cstdlib>
#include <fstream>

#include "tensor/error.h"

namespace slm {

uint64_t available_memory_bytes(std::string* source) {
  if (const char* env = std::getenv("SLM_MEMORY_AVAILABLE"); env && *env) {
    char* end = nullptr;
    const double v = std::strtod(env, &end);
    const std::string suffix = end ? std::string(end) : "";
    double mul = 1.0;
    if (suffix == "K" || suffix == "k") mul = 1024.0;
    else if (suffix == "M" || suffix == "m") mul = 1024.0 * 1024.0;
    else if (suffix == "G" || suffix == "g") mul = 1024.0 * 1024.0 * 1024.0;
    else if (suffix == "T" || suffix == "t") mul = 1024.0 * 1024.0 * 1024.0 * 1024.0;
    SLM_CHECK(end != env && v >= 0 && (suffix.empty() || mul > 1.0),
              "SLM_MEMORY_AVAILABLE='" + std::string(env) + "' is not a byte count (examples: 8000000000, 8G, 512M)");
    if (source) *source = "SLM_MEMORY_AVAILABLE";
    return uint64_t(v * mul);
  }
  std::ifstream in("/proc/meminfo");
  std::string key, rest;
  uint64_t kb = 0;
  while (in >> key >> kb) {
    std::getline(in, rest);
    if (key == "MemAvailable:") {
      if (source) *source = "MemAvailable in /proc/meminfo";
      return kb << 10;
    }
  }
  return 0;
}

}  // namespace slm
