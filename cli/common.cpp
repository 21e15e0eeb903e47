// Shared option helpers (see common.h).
#include "cli/common.h"

#include <climits>

namespace slm::cli {

Option compute_option() {
  return {"--compute", "MODE", "f32 (exact) or bf16 (bf16 matmul weights, f32 accumulation; faster)", "f32"};
}

ComputeMode compute_mode(const Args& a) {
  std::string m = a.str("--compute");
  if (m == "f32") return ComputeMode::F32;
  if (m == "bf16") return ComputeMode::BF16;
  throw UsageError{"--compute expects f32 or bf16, got '" + m + "'"};
}

std::vector<int32_t> ids_option(const Args& a, const std::string& name) {
  if (!a.has(name)) throw UsageError{name + " is required"};
  std::vector<int32_t> ids;
  for (long long v : parse_int_list(a.str(name), name)) {
    if (v > INT_MAX) throw UsageError{name + ": id " + std::to_string(v) + " is too large"};
    ids.push_back(int32_t(v));
  }
  return ids;
}

}  // namespace slm::cli
