// How much memory a plan may use (model loading, export verification, training): one reading of the
// SLM_MEMORY_AVAILABLE override and of /proc/meminfo for the whole program.
#pragma once
#include <cstdint>
#include <string>

namespace slm {

// SLM_MEMORY_AVAILABLE when set (bytes, or with a K/M/G/T suffix: powers of 1024; decimals allowed, "1.5G"),
// else MemAvailable of /proc/meminfo; 0 when neither is known. `source` (optional) names which one answered.
// A malformed SLM_MEMORY_AVAILABLE is an slm::Error naming the value and the accepted forms.
uint64_t available_memory_bytes(std::string* source = nullptr);

}  // namespace slm
