// The registry of CLI verbs; each cli/<verb>.cpp defines one `Verb make_<verb>_verb()`.
#pragma once
#include <vector>

#include "cli/args.h"

namespace slm::cli {

std::vector<Verb> all_verbs();

}  // namespace slm::cli
