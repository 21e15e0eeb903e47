// Generation loop (see generate.h).
#include "models/generate.h"

#include <algorithm>
#include <chrono>

#include "tensor/error.h"

namespace slm {

static std::vector<float> last_row(const Tensor& logits) {
  Tensor row = logits.select(0, logits.size(0) - 1);
  return row.to_f32_vector();
}

GenerateResult generate(Model& model, const std::vector<int32_t>& prompt, const GenerateOptions& opt) {
  SLM_CHECK(!prompt.empty(), "[generate] the prompt is empty");
  using clock = std::chrono::steady_clock;
  GenerateResult r;
  KVCache cache = model.make_cache(int64_t(prompt.size()) + opt.max_tokens);
  Sampler sampler(opt.sampling);
  std::vector<int32_t> context = prompt;
  auto t0 = clock::now();
  Tensor logits = model.forward(prompt, cache, /*last_only=*/true);
  r.prefill_seconds = std::chrono::duration<double>(clock::now() - t0).count();
  auto t1 = clock::now();
  for (int64_t i = 0; i < opt.max_tokens; ++i) {
    int32_t tok = sampler.next(last_row(logits), context);
    r.tokens.push_back(tok);
    context.push_back(tok);
    if (opt.on_token) opt.on_token(tok);
    if (!opt.ignore_eos && std::find(opt.eos_ids.begin(), opt.eos_ids.end(), int64_t(tok)) != opt.eos_ids.end()) {
      r.stopped_at_eos = true;
      break;
    }
    if (i + 1 >= opt.max_tokens) break;
    const int64_t switch_at = model.recompute_cache_at();
    if (switch_at > 0 && int64_t(context.size()) > switch_at && cache.length <= switch_at) {
      cache.reset();
      logits = model.forward(context, cache, true);
    } else {
      logits = model.forward({tok}, cache, true);
    }
  }
  r.decode_seconds = std::chrono::duration<double>(clock::now() - t1).count();
  return r;
}

std::vector<int32_t> generate_greedy_recompute(Model& model, const std::vector<int32_t>& prompt, int64_t n) {
  std::vector<int32_t> seq = prompt, out;
  for (int64_t i = 0; i < n; ++i) {
    KVCache cache = model.make_cache(int64_t(seq.size()));
    Tensor logits = model.forward(seq, cache, true);
    int32_t tok = argmax(last_row(logits));
    out.push_back(tok);
    seq.push_back(tok);
  }
  return out;
}

}  // namespace slm
