// Perplexity and model comparison (see evaluate.h). All reductions in double; logits stay f32 as the
// forward pass returns them.
#include "models/evaluate.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>

#include "models/chat/dataset.h"
#include "models/chat/example.h"
#include "tensor/error.h"

namespace slm {
namespace {

// A forward window over ids[start, end) whose targets are the tokens in [first, end).
struct Window {
  int64_t start, end, first;
};

std::vector<Window> windows_for(int64_t L, int64_t W, int64_t S) {
  std::vector<Window> out;
  if (L < 2) return out;
  int64_t e = std::min(L, W);
  out.push_back({0, e, 1});
  while (e < L) {
    const int64_t p = e;
    e = std::min(e + S, L);
    out.push_back({std::max<int64_t>(0, e - W), e, p});
  }
  return out;
}

bool is_target(const EvalSequence& s, int64_t t) { return s.mask.empty() || s.mask[size_t(t)] != 0; }

bool length_dependent_rope(const ModelConfig& c) {
  for (const RopeParams* r : {&c.rope_full, &c.rope_sliding})
    if (r->rope_type == "dynamic" || r->rope_type == "longrope") return true;
  return false;
}

struct Resolved {
  int64_t max_len, stride, chunk;
};

Resolved resolve(const Model& m, const EvalOptions& o) {
  SLM_CHECK(o.max_len >= 0 && o.stride >= 0 && o.chunk >= 0, "[evaluate] max_len, stride and chunk must be >= 0");
  Resolved r;
  r.max_len = o.max_len > 0 ? o.max_len : m.config().max_position_embeddings;
  SLM_CHECK(r.max_len >= 2, "[evaluate] max_len must be at least 2 (one token of context, one target)");
  r.stride = o.stride > 0 ? o.stride : std::max<int64_t>(1, r.max_len / 2);
  SLM_CHECK(r.stride <= r.max_len - 1, "[evaluate] stride " + std::to_string(r.stride) + " must be at most max_len - 1 (" +
                                           std::to_string(r.max_len - 1) + ") so that every token keeps some context");
  r.chunk = o.chunk > 0 ? o.chunk : r.max_len;
  if (length_dependent_rope(m.config())) r.chunk = r.max_len;
  return r;
}

void check_sequence(const EvalSequence& s, int64_t vocab) {
  SLM_CHECK(s.mask.empty() || s.mask.size() == s.ids.size(),
            "[evaluate] a sequence's mask has " + std::to_string(s.mask.size()) + " entries for " +
                std::to_string(s.ids.size()) + " ids");
  for (int32_t id : s.ids)
    SLM_CHECK(id >= 0 && id < vocab, "[evaluate] token id " + std::to_string(id) + " is outside the model's vocabulary (" +
                                         std::to_string(vocab) + ") — was the data tokenised for another model?");
}

// Runs every window of every sequence through `models` in lockstep (same chunks) and calls
// visit(rows, target) for each target token, rows[i] pointing at model i's logits that predict it.
using Visit = std::function<void(const std::vector<const float*>& rows, int32_t target)>;

int64_t for_each_target(const std::vector<Model*>& models, const std::vector<EvalSequence>& seqs,
                        const EvalOptions& opt, const Visit& visit, int64_t* sequences_scored) {
  const int64_t V = models[0]->config().vocab_size;
  Resolved r = resolve(*models[0], opt);
  for (Model* m : models) r.chunk = std::min(r.chunk, resolve(*m, opt).chunk);
  int64_t n_windows = 0;
  *sequences_scored = 0;
  for (const EvalSequence& s : seqs) {
    check_sequence(s, V);
    const int64_t L = int64_t(s.ids.size());
    bool any = false;
    for (const Window& w : windows_for(L, r.max_len, r.stride)) {
      bool has_target = false;
      for (int64_t t = w.first; t < w.end && !has_target; ++t) has_target = is_target(s, t);
      if (!has_target) continue;
      any = true;
      ++n_windows;
      std::vector<KVCache> caches;
      for (Model* m : models) caches.push_back(m->make_cache(w.end - w.start));
      std::vector<Tensor> logits(models.size());
      for (int64_t c0 = w.start; c0 < w.end; c0 += r.chunk) {
        const int64_t c1 = std::min(w.end, c0 + r.chunk);
        const std::vector<int32_t> ids(s.ids.begin() + c0, s.ids.begin() + c1);
        for (size_t i = 0; i < models.size(); ++i) logits[i] = models[i]->forward(ids, caches[i]).contiguous();  // (T, V)
        std::vector<const float*> rows(models.size());
        for (int64_t a = c0; a < c1; ++a) {  // logits at position a predict token a + 1
          const int64_t t = a + 1;
          if (t < w.first || t >= w.end || !is_target(s, t)) continue;
          for (size_t i = 0; i < models.size(); ++i) rows[i] = logits[i].data<float>() + (a - c0) * V;
          visit(rows, s.ids[size_t(t)]);
        }
      }
    }
    *sequences_scored += any;
  }
  return n_windows;
}

// log(sum(exp(x))) over a row, in double.
double log_sum_exp(const float* x, int64_t V) {
  double m = x[0];
  for (int64_t i = 1; i < V; ++i) m = std::max(m, double(x[i]));
  double s = 0;
  for (int64_t i = 0; i < V; ++i) s += std::exp(double(x[i]) - m);
  return m + std::log(s);
}

int64_t argmax(const float* x, int64_t V) { return int64_t(std::max_element(x, x + V) - x); }

PerplexityResult finish(double nll_sum, int64_t n, int64_t sequences, int64_t windows) {
  PerplexityResult r;
  r.tokens = n;
  r.sequences = sequences;
  r.windows = windows;
  SLM_CHECK(n > 0, "[evaluate] no target tokens: the data is empty, every sequence has fewer than 2 tokens, or its "
                   "loss mask marks nothing");
  r.mean_nll = nll_sum / double(n);
  r.perplexity = std::exp(r.mean_nll);
  return r;
}

}  // namespace

int64_t EvalData::targets() const {
  int64_t n = 0;
  for (const auto& s : sequences)
    for (int64_t t = 1; t < int64_t(s.ids.size()); ++t) n += is_target(s, t);
  return n;
}

PerplexityResult perplexity(Model& model, const std::vector<EvalSequence>& seqs, const EvalOptions& opt) {
  const int64_t V = model.config().vocab_size;
  double nll = 0;
  int64_t n = 0, sequences = 0;
  const int64_t windows = for_each_target(
      {&model}, seqs, opt,
      [&](const std::vector<const float*>& rows, int32_t target) {
        nll += log_sum_exp(rows[0], V) - double(rows[0][target]);
        ++n;
      },
      &sequences);
  return finish(nll, n, sequences, windows);
}

CompareResult compare_models(Model& ref, Model& test, const std::vector<EvalSequence>& seqs, const EvalOptions& opt) {
  const int64_t V = ref.config().vocab_size;
  SLM_CHECK(test.config().vocab_size == V, "[evaluate] the models' vocabularies differ (" + std::to_string(V) + " vs " +
                                               std::to_string(test.config().vocab_size) + ")");
  double kl = 0, nll_ref = 0, nll_test = 0, max_diff = 0;
  int64_t n = 0, agree = 0, sequences = 0;
  const int64_t windows = for_each_target(
      {&ref, &test}, seqs, opt,
      [&](const std::vector<const float*>& rows, int32_t target) {
        const float *x = rows[0], *y = rows[1];
        const double lx = log_sum_exp(x, V), ly = log_sum_exp(y, V);
        double k = 0;
        for (int64_t i = 0; i < V; ++i) {
          const double lp = double(x[i]) - lx, lq = double(y[i]) - ly;
          k += std::exp(lp) * (lp - lq);
          max_diff = std::max(max_diff, std::abs(double(x[i]) - double(y[i])));
        }
        kl += std::max(0.0, k);  // KL >= 0; rounding can leave -1e-17
        agree += argmax(x, V) == argmax(y, V);
        nll_ref += lx - double(x[target]);
        nll_test += ly - double(y[target]);
        ++n;
      },
      &sequences);
  CompareResult r;
  r.ref = finish(nll_ref, n, sequences, windows);
  r.test = finish(nll_test, n, sequences, windows);
  r.positions = n;
  r.mean_kl = kl / double(n);
  r.top1_agreement = double(agree) / double(n);
  r.max_abs_logit_diff = max_diff;
  return r;
}

namespace {
bool is_chat_file(const std::string& path) {
  return path.size() >= 6 && path.compare(path.size() - 6, 6, ".jsonl") == 0;
}
}  // namespace

EvalData load_eval_data(const std::string& path, const Tokenizer& tok, const ChatTemplate* tmpl) {
  EvalData d;
  d.path = path;
  if (is_chat_file(path)) {
    SLM_CHECK(tmpl, "[evaluate] " + path + " is chat JSONL but the model has no chat template to render it with");
    d.kind = "chat";
    for (const Conversation& c : read_chat_jsonl(path).conversations) {
      EncodedExample ex = encode_example(tok, *tmpl, c);
      d.sequences.push_back({std::move(ex.ids), std::move(ex.mask)});
    }
    return d;
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("[evaluate] cannot open " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  d.kind = "text";
  d.sequences.push_back({tok.encode(ss.str(), /*add_special_tokens=*/true), {}});
  return d;
}

EvalData load_eval_data(const std::string& path, const std::string& model_dir) {
  const Tokenizer tok = Tokenizer::load(model_dir);
  std::optional<ChatTemplate> tmpl;
  if (is_chat_file(path)) tmpl = ChatTemplate::from_model_dir(model_dir);
  return load_eval_data(path, tok, tmpl ? &*tmpl : nullptr);
}

}  // namespace slm
