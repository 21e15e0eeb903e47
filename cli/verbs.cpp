// Verb registry: the order here is the order of `slm --help`.
#include "cli/verbs.h"

namespace slm::cli {

Verb make_info_verb();
Verb make_logits_verb();
Verb make_generate_verb();
Verb make_tokenize_verb();
Verb make_template_verb();
Verb make_data_stats_verb();
Verb make_export_verb();
Verb make_kernels_verb();
Verb make_serve_verb();
Verb make_grad_verb();
Verb make_merge_verb();
Verb make_perplexity_verb();
Verb make_train_verb();
Verb make_pretrain_verb();
Verb make_pipeline_verb();

std::vector<Verb> all_verbs() {
  // Pipeline order: inspect, data, train, merge, export, run, measure, parity.
  return {make_info_verb(),  make_tokenize_verb(), make_template_verb(),   make_data_stats_verb(),
          make_train_verb(), make_merge_verb(),    make_export_verb(), make_kernels_verb(), make_serve_verb(), make_logits_verb(),
          make_generate_verb(), make_perplexity_verb(), make_grad_verb(),   make_pretrain_verb(), make_pipeline_verb()};
}

}  // namespace slm::cli
