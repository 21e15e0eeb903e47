// Verb registry: the order here is the order of `slm --help`.
#include "cli/verbs.h"

namespace slm::cli {

Verb make_info_verb();
Verb make_logits_verb();
Verb make_generate_verb();

std::vector<Verb> all_verbs() { return {make_info_verb(), make_logits_verb(), make_generate_verb()}; }

}  // namespace slm::cli
