// Helpers shared by the verbs: option values -> library settings.
#pragma once
#include <string>
#include <vector>

#include "cli/args.h"
#include "models/model.h"

namespace slm::cli {

// --compute f32|bf16
ComputeMode compute_mode(const Args& a);
Option compute_option();
// --ids 3,17,250 -> int32 ids
std::vector<int32_t> ids_option(const Args& a, const std::string& name);

}  // namespace slm::cli
