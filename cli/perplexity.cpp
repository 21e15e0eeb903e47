// slm perplexity MODEL_OR_EXPORT --data F [--max-len N] [--stride N] [--compute f32|bf16]
// Perplexity of an HF model directory or an export directory (slm export --out) on a text file (every token
// after the first is scored) or a chat JSONL file (only the assistant tokens its loss mask marks, rendered
// with the model's chat template). Prints perplexity, tokens evaluated and mean NLL; settings and timing go
// to stderr. The tokenizer (and chat template) come from the same directory as the weights.
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "cli/common.h"
#include "cli/verbs.h"
#include "codegen/export_load.h"
#include "models/evaluate.h"

namespace slm::cli {

static int run_perplexity(const Args& a) {
  const std::string dir = a.positional[0];
  if (!a.has("--data")) throw UsageError{"--data is required"};
  EvalOptions opt;
  opt.max_len = a.integer("--max-len");
  opt.stride = a.integer("--stride");
  if (opt.max_len < 0 || opt.max_len == 1) throw UsageError{"--max-len must be 0 (the model's context) or >= 2"};
  if (opt.stride < 0) throw UsageError{"--stride must be >= 0"};
  const std::string data = a.str("--data");
  // HF directory or export directory (codegen/export_load.h decides by mlc-chat-config.json / tensor-cache.json).
  std::unique_ptr<Model> m = codegen::load_model_or_export(dir, compute_mode(a));
  EvalData d = load_eval_data(data, dir);
  if (opt.max_len == 0) opt.max_len = m->config().max_position_embeddings;
  if (opt.stride == 0) opt.stride = std::max<int64_t>(1, opt.max_len / 2);
  if (opt.stride >= opt.max_len) throw UsageError{"--stride must be smaller than --max-len"};
  std::fprintf(stderr, "[perplexity] %s: %s, %zu sequence(s); max-len %lld, stride %lld, compute %s\n", data.c_str(),
               d.kind.c_str(), d.sequences.size(), (long long)opt.max_len, (long long)opt.stride,
               a.str("--compute").c_str());
  const auto t0 = std::chrono::steady_clock::now();
  PerplexityResult r = perplexity(*m, d.sequences, opt);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("perplexity    %.6f\n", r.perplexity);
  std::printf("tokens        %lld %s in %lld sequence(s)\n", (long long)r.tokens,
              d.kind == "chat" ? "assistant tokens (loss-masked)" : "tokens", (long long)r.sequences);
  std::printf("mean NLL      %.6f nats/token\n", r.mean_nll);
  std::fprintf(stderr, "[perplexity] %lld window(s) in %.2f s (%.1f tok/s)\n", (long long)r.windows, s,
               s > 0 ? double(r.tokens) / s : 0.0);
  return 0;
}

Verb make_perplexity_verb() {
  return {"perplexity",
          "MODEL_OR_EXPORT --data F [--max-len N] [--stride N]",
          "Perplexity on a text file (every token) or chat JSONL (assistant tokens only); HF or export directory.",
          {"MODEL_OR_EXPORT"},
          {{"--data", "F", "eval data: .jsonl = chat examples, anything else = plain UTF-8 text", ""},
           {"--max-len", "N", "longest window in tokens; 0 = the model's max_position_embeddings", "0"},
           {"--stride", "N", "new tokens scored per window for longer sequences; 0 = max-len / 2", "0"},
           compute_option()},
          run_perplexity};
}

}  // namespace slm::cli
