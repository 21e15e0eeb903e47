// slm generate MODEL_DIR (--ids 1,403,407 | --prompt "…" [--chat [--system "…"]]) [--max-tokens N]
//              [--temperature T --top-p P --top-k K --seed S]
// Greedy by default. With --ids it prints the generated ids separated by spaces; with --prompt it streams
// decoded text (--chat renders the prompt as a user turn with the model's chat template first).
// Timings go to stderr.
#include <algorithm>
#include <cstdio>

#include "cli/common.h"
#include "cli/verbs.h"
#include "codegen/export_load.h"
#include "models/chat/template.h"
#include "models/generate.h"
#include "models/tokenizer/tokenizer.h"

namespace slm::cli {

static GenerateOptions sampling_options(const Args& a) {
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
  return o;
}

static int run_generate(const Args& a) {
  const std::string dir = a.positional[0];
  if (a.has("--ids") == a.has("--prompt")) throw UsageError{"give exactly one of --ids and --prompt"};
  if ((a.flag("--chat") || a.has("--system")) && !a.has("--prompt")) throw UsageError{"--chat needs --prompt"};
  GenerateOptions o = sampling_options(a);
  std::unique_ptr<Model> m = codegen::load_model_or_export(dir, compute_mode(a));
  o.eos_ids = load_eos_ids(dir, m->config());
  std::vector<int32_t> ids;
  std::unique_ptr<Tokenizer> tok;
  std::unique_ptr<StreamDecoder> stream;
  bool first = true;
  if (a.has("--prompt")) {
    tok = std::make_unique<Tokenizer>(Tokenizer::load(dir));
    for (int32_t e : tok->special_tokens().eos_ids)
      if (std::find(o.eos_ids.begin(), o.eos_ids.end(), e) == o.eos_ids.end()) o.eos_ids.push_back(e);
    if (a.flag("--chat") || a.has("--system")) {
      std::vector<ChatMessage> msgs;
      if (a.has("--system")) msgs.push_back({"system", a.str("--system")});
      msgs.push_back({"user", a.str("--prompt")});
      std::string text = ChatTemplate::from_model_dir(dir).render(msgs, /*add_generation_prompt=*/true);
      ids = tok->encode(text, /*add_special_tokens=*/false);  // the template carries bos etc.
    } else {
      ids = tok->encode(a.str("--prompt"));
    }
    stream = std::make_unique<StreamDecoder>(*tok, /*skip_special_tokens=*/true);
    o.on_token = [&](int32_t t) {
      std::string piece = stream->push(t);
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    };
  } else {
    ids = ids_option(a, "--ids");
    o.on_token = [&](int32_t t) {
      std::printf(first ? "%d" : " %d", t);
      std::fflush(stdout);
      first = false;
    };
  }
  if (o.max_tokens == 0) return 0;
  GenerateResult r = generate(*m, ids, o);
  if (stream) {
    std::string rest = stream->finish();
    std::fwrite(rest.data(), 1, rest.size(), stdout);
  }
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
          "MODEL_DIR (--ids 1,403,407 | --prompt \"...\" [--chat]) [--max-tokens N] [--temperature T --top-p P "
          "--top-k K --seed S]",
          "Generate after a prompt (greedy unless --temperature > 0) with the KV cache; ids in, ids out, or text "
          "in, streamed text out.",
          {"MODEL_DIR"},
          {{"--ids", "IDS", "comma-separated prompt token ids (prints generated ids)", ""},
           {"--prompt", "TEXT", "prompt text (prints streamed text; needs tokenizer.json)", ""},
           {"--chat", "", "render --prompt as a user turn with the model's chat template", ""},
           {"--system", "TEXT", "system prompt for --chat", ""},
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
