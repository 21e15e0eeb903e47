// models/evaluate: perplexity against HF transformers' reference logits and against per-target forwards
// computed here, the window contract (every target once, enough context), model comparison (self = 0 KL,
// F32 vs BF16 against KL computed here from both logits), and chat JSONL scoring only loss-masked tokens.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "models/chat/example.h"
#include "models/evaluate.h"
#include "models/model.h"
#include "models/safetensors.h"
#include "tensor/error.h"

using namespace slm;

namespace {

std::string case_dir(const std::string& c) { return std::string(SLM_FIXTURES) + "/models/" + c; }
std::string tiny_tokenizer() { return std::string(SLM_FIXTURES) + "/chat/tiny_tokenizer"; }

std::vector<int32_t> input_ids(const std::string& c) {
  Tensor t = SafetensorsFile::open(case_dir(c) + "/reference.safetensors").get("input_ids").contiguous();
  return std::vector<int32_t>(t.data<int32_t>(), t.data<int32_t>() + t.numel());
}

// log p(target | row) in double, written out here independently of evaluate.cpp.
double log_prob(const float* row, int64_t V, int32_t target) {
  double m = -INFINITY;
  for (int64_t i = 0; i < V; ++i) m = std::max(m, double(row[i]));
  double s = 0;
  for (int64_t i = 0; i < V; ++i) s += std::exp(double(row[i]) - m);
  return double(row[target]) - m - std::log(s);
}

// exp(mean CE) over tokens 1..T-1 from full-sequence logits (T, V).
double ppl_from_logits(const Tensor& logits, const std::vector<int32_t>& ids) {
  Tensor l = logits.contiguous();
  const int64_t V = l.size(1);
  double nll = 0;
  for (size_t t = 1; t < ids.size(); ++t) nll -= log_prob(l.data<float>() + (t - 1) * V, V, ids[t]);
  return std::exp(nll / double(ids.size() - 1));
}

Tensor full_logits(Model& m, const std::vector<int32_t>& ids) {
  KVCache c = m.make_cache(int64_t(ids.size()));
  return m.forward(ids, c).contiguous();
}

}  // namespace

TEST(Evaluate, PerplexityIsExpMeanCrossEntropyOfHfLogits) {
  for (const char* c : {"qwen2", "gemma3_text", "phi3_longrope", "llama_dynamic", "llama3_scaled"}) {
    SCOPED_TRACE(c);
    auto m = load_model(case_dir(c));
    const std::vector<int32_t> ids = input_ids(c);
    EvalOptions o;
    o.max_len = int64_t(ids.size());  // one window, as HF scored the sequence (llama_dynamic's context is shorter)
    PerplexityResult r = perplexity(*m, {{ids, {}}}, o);
    Tensor hf = SafetensorsFile::open(case_dir(c) + "/reference.safetensors").get("logits");
    EXPECT_EQ(r.tokens, int64_t(ids.size()) - 1);
    EXPECT_EQ(r.sequences, 1);
    EXPECT_EQ(r.windows, 1);
    EXPECT_NEAR(std::log(r.perplexity), std::log(ppl_from_logits(hf, ids)), 1e-4);  // HF transformers
    EXPECT_NEAR(r.perplexity, ppl_from_logits(full_logits(*m, ids), ids), 1e-9 * r.perplexity);  // slm's own logits
    EXPECT_NEAR(r.mean_nll, std::log(r.perplexity), 1e-12);
  }
}

TEST(Evaluate, ChunkingInsideAWindowDoesNotChangeTheResult) {
  for (const char* c : {"qwen2", "gemma2", "qwen2_swa"}) {  // the last two slide an 8-token window
    SCOPED_TRACE(c);
    auto m = load_model(case_dir(c));
    const std::vector<int32_t> ids = input_ids(c);
    EvalOptions one, chunked;
    one.max_len = chunked.max_len = int64_t(ids.size());
    chunked.chunk = 5;
    EXPECT_NEAR(perplexity(*m, {{ids, {}}}, chunked).mean_nll, perplexity(*m, {{ids, {}}}, one).mean_nll, 1e-5);
  }
}

// Windows of max_len advancing by stride: each target t is scored once, from the window [s, e) that holds
// it, i.e. from a fresh forward of ids[s, t] — computed here one target at a time.
TEST(Evaluate, LongSequencesAreScoredInOverlappingWindows) {
  auto m = load_model(case_dir("qwen3"));
  const std::vector<int32_t> ids = input_ids("qwen3");  // 24 tokens
  const int64_t L = int64_t(ids.size()), W = 8, S = 3, V = m->config().vocab_size;
  EvalOptions o;
  o.max_len = W;
  o.stride = S;
  PerplexityResult r = perplexity(*m, {{ids, {}}}, o);
  EXPECT_EQ(r.tokens, L - 1);
  EXPECT_EQ(r.windows, 1 + (L - W + S - 1) / S);
  double nll = 0;
  int64_t e = std::min(L, W);
  for (int64_t t = 1; t < L; ++t) {
    while (t >= e) e = std::min(L, e + S);  // the window whose new targets hold t
    const int64_t s = std::max<int64_t>(0, e - W);
    if (t >= W) EXPECT_GE(t - s, W - S) << "target " << t << " has too little context";
    std::vector<int32_t> ctx(ids.begin() + s, ids.begin() + t);
    Tensor l = full_logits(*m, ctx);
    nll -= log_prob(l.data<float>() + (l.size(0) - 1) * V, V, ids[size_t(t)]);
  }
  EXPECT_NEAR(r.mean_nll, nll / double(L - 1), 1e-5);
  // A window as long as the sequence is the plain full-context perplexity; shorter ones see less context.
  o.max_len = L;
  o.stride = 1;
  EXPECT_NEAR(perplexity(*m, {{ids, {}}}, o).perplexity, ppl_from_logits(full_logits(*m, ids), ids), 1e-6);
  o.stride = W;
  o.max_len = W;
  EXPECT_THROW(perplexity(*m, {{ids, {}}}, o), Error);  // stride must leave context
}

TEST(Evaluate, ModelComparedWithItselfAgreesExactly) {
  auto a = load_model(case_dir("gemma2"));
  auto b = load_model(case_dir("gemma2"));
  const std::vector<int32_t> ids = input_ids("gemma2");
  CompareResult r = compare_models(*a, *b, {{ids, {}}});
  EXPECT_NEAR(r.mean_kl, 0.0, 1e-12);
  EXPECT_EQ(r.top1_agreement, 1.0);
  EXPECT_LE(r.max_abs_logit_diff, 1e-6);
  EXPECT_EQ(r.positions, int64_t(ids.size()) - 1);
  EXPECT_NEAR(r.ref.perplexity, r.test.perplexity, 1e-9 * r.ref.perplexity);
  EXPECT_NEAR(r.ref.perplexity, perplexity(*a, {{ids, {}}}).perplexity, 1e-9 * r.ref.perplexity);
}

TEST(Evaluate, KlTop1AndMaxDiffMatchTheirDefinitions) {
  auto ref = load_model(case_dir("llama"), ComputeMode::F32);
  auto test = load_model(case_dir("llama"), ComputeMode::BF16);
  const std::vector<int32_t> ids = input_ids("llama");
  CompareResult r = compare_models(*ref, *test, {{ids, {}}});
  Tensor x = full_logits(*ref, ids), y = full_logits(*test, ids);
  const int64_t V = x.size(1);
  double kl = 0, diff = 0;
  int64_t agree = 0;
  for (size_t t = 0; t + 1 < ids.size(); ++t) {
    const float *px = x.data<float>() + t * V, *py = y.data<float>() + t * V;
    int64_t ax = 0, ay = 0;
    for (int64_t i = 0; i < V; ++i) {
      const double lp = log_prob(px, V, int32_t(i)), lq = log_prob(py, V, int32_t(i));
      kl += std::exp(lp) * (lp - lq);
      diff = std::max(diff, std::abs(double(px[i]) - double(py[i])));
      if (px[i] > px[ax]) ax = i;
      if (py[i] > py[ay]) ay = i;
    }
    agree += ax == ay;
  }
  const double n = double(ids.size() - 1);
  EXPECT_GT(r.mean_kl, 0.0);
  EXPECT_NEAR(r.mean_kl, kl / n, 1e-6 + 1e-4 * kl / n);
  EXPECT_NEAR(r.top1_agreement, double(agree) / n, 1e-12);
  EXPECT_NEAR(r.max_abs_logit_diff, diff, 1e-6);
  EXPECT_GT(r.max_abs_logit_diff, 0.0);
}

// Chat JSONL: only the tokens encode_example's loss mask marks are scored, each from its own example.
TEST(Evaluate, ChatDataScoresOnlyAssistantTokens) {
  auto m = load_model(case_dir("qwen2"));  // vocab 320 covers the tiny tokenizer's 267 ids
  Tokenizer tok = Tokenizer::load(tiny_tokenizer());
  ChatTemplate tmpl = ChatTemplate::from_model_dir(tiny_tokenizer());
  const std::string path = std::string(SLM_FIXTURES) + "/chat/sample.jsonl";
  EvalData d = load_eval_data(path, tok, &tmpl);
  EXPECT_EQ(d.kind, "chat");
  ASSERT_FALSE(d.sequences.empty());
  const int64_t V = m->config().vocab_size;
  double nll = 0;
  int64_t n = 0, all = 0;
  for (const EvalSequence& s : d.sequences) {
    ASSERT_EQ(s.mask.size(), s.ids.size());
    Tensor l = full_logits(*m, s.ids);
    for (size_t t = 1; t < s.ids.size(); ++t) {
      ++all;
      if (!s.mask[t]) continue;
      nll -= log_prob(l.data<float>() + (t - 1) * V, V, s.ids[t]);
      ++n;
    }
  }
  PerplexityResult r = perplexity(*m, d.sequences);
  EXPECT_EQ(r.tokens, n);
  EXPECT_EQ(r.tokens, d.targets());
  EXPECT_LT(n, all / 2);  // the prompts and templates are most of the text
  EXPECT_NEAR(r.mean_nll, nll / double(n), 1e-6);
  // The first example's trained tokens decode to its assistant reply plus the end-of-turn token.
  std::vector<int32_t> trained;
  for (size_t t = 0; t < d.sequences[0].ids.size(); ++t)
    if (d.sequences[0].mask[t]) trained.push_back(d.sequences[0].ids[t]);
  EXPECT_EQ(tok.decode(trained), "Only sudden and accidental water damage is covered; gradual leaks are excluded.<|im_end|>");
}

TEST(Evaluate, TextDataIsTokenisedWithSpecialTokens) {
  Tokenizer tok = Tokenizer::load(tiny_tokenizer());
  const std::string path = ::testing::TempDir() + "/slm_eval_text.txt";
  const std::string text = "The insurer may cancel with 30 days notice.\nGradual leaks are excluded.\n";
  std::ofstream(path) << text;
  EvalData d = load_eval_data(path, tok, nullptr);
  EXPECT_EQ(d.kind, "text");
  ASSERT_EQ(d.sequences.size(), 1u);
  EXPECT_EQ(d.sequences[0].ids, tok.encode(text, true));
  EXPECT_TRUE(d.sequences[0].mask.empty());
  EXPECT_EQ(d.targets(), int64_t(d.sequences[0].ids.size()) - 1);
  EXPECT_THROW(load_eval_data(std::string(SLM_FIXTURES) + "/chat/sample.jsonl", tok, nullptr), Error);
}

TEST(Evaluate, BadInputIsAnError) {
  auto m = load_model(case_dir("qwen2"));
  EXPECT_THROW(perplexity(*m, {{{1, 2, 5000}, {}}}), Error);            // id outside the vocabulary
  EXPECT_THROW(perplexity(*m, {{{1}, {}}}), Error);                     // nothing to predict
  EXPECT_THROW(perplexity(*m, {{{1, 2, 3}, {1, 0, 0}}}), Error);        // the mask marks no target
  EXPECT_THROW(perplexity(*m, {{{1, 2, 3}, {0, 1}}}), Error);           // mask length
}
