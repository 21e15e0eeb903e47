// slm generate MODEL_DIR --ids 1,403,407 [--max-tokens N] [--temperature T --top-p P --top-k K --seed S]
// Greedy by default; prints the generated ids separated by spaces (stdout), timings on stderr.
#include <cstdio>

#include "cli/common.h"
#include "cli/verbs.h"
#include "models/generate.h"

namespace slm::cli {

static int run_generate(const Args& a) {
  const std::string dir = a.positional[0];
  std::vector<int32_t> ids = ids_option(a, "--ids");
  GenerateOptions o;
  o.max_tokens = a.integer("--max-tokens");
  if (o.max_tokens < 0) throw UsageError{"--max-tokens must be >= 0"};
  o.sampling.temperature = float(a.number("--temperature"));
  o.sampling.top_p = float(a.number("--top-p"));
  o.sampling.top_k = a.integer("--top-k");
  o.sampling.repetition_penalty = float(a.number("--repetition-penalty"));
  o.sampling.seed = uint64_t(a.integer("--seed"));
  if (o.sampling.temperature < 0) throw UsageError{"--temperature must be >= 0"};
  if (!(o.sampling.top_p > 0 && o.sampling.top_p <= 1)) throw UsageError{"--top-p must be in (0, 1]"};
  if (o.sampling.top_k < 0) throw UsageError{"--top-k must be >= 0"};
  if (!(o.sampling.repetition_penalty > 0)) throw UsageError{"--repetition-penalty must be > 0"};
  o.ignore_eos = a.flag("--ignore-eos");
  std::unique_ptr<Model> m = load_model(dir, compute_mode(a));
  o.eos_ids = load_eos_ids(dir, m->config());
  bool first = true;
  o.on_token = [&](int32_t t) {
    std::printf(first ? "%d" : " %d", t);
    std::fflush(stdout);
    first = false;
  };
  if (o.max_tokens == 0) return 0;
  GenerateResult r = generate(*m, ids, o);
  std::printf("\n");
  std::fflush(stdout);
  std::fprintf(stderr, "[generate] prompt %zu tokens in %.3f s; %zu tokens in %.3f s (%.1f tok/s)%s\n", ids.size(),
               r.prefill_seconds, r.tokens.size(), r.decode_seconds,
               r.decode_seconds > 0 ? double(r.tokens.size()) / r.decode_seconds : 0.0,
               r.stopped_at_eos ? "; stopped at eos" : "");
  return 0;
}

Verb make_generate_verb() {
  return {"generate",
          "MODEL_DIR --ids 1,403,407 [--max-tokens N] [--temperature T --top-p P --top-k K --seed S]",
          "Generate token ids after a prompt (greedy unless --temperature > 0), using the KV cache.",
          {"MODEL_DIR"},
          {{"--ids", "IDS", "comma-separated prompt token ids", ""},
           {"--max-tokens", "N", "tokens to generate at most", "32"},
           {"--temperature", "T", "sampling temperature; 0 = greedy", "0"},
           {"--top-p", "P", "nucleus sampling mass", "1"},
           {"--top-k", "K", "keep the K most likely tokens; 0 = off", "0"},
           {"--repetition-penalty", "R", "HF repetition penalty; 1 = off", "1"},
           {"--seed", "S", "random seed for sampling", "0"},
           {"--ignore-eos", "", "do not stop at the model's eos ids", ""},
           compute_option()},
          run_generate};
}

}  // namespace slm::cli
