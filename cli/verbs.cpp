// Verb registry: the order here is the order of `slm --help`.
#include "cli/verbs.h"

namespace slm::cli {

std::vector<Verb> all_verbs() {
  return {};
}

}  // namespace slm::cli
