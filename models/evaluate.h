// Model evaluation on token sequences: perplexity — exp of the mean next-token cross-entropy over the
// predicted tokens — and a comparison of two models' next-token distributions on the same sequences (mean
// KL(P_ref || P_test), top-1 agreement, max |logit difference|), as `slm perplexity` and the export's quality
// report use. Plain text counts every token after the first; chat data only the tokens its loss mask marks
// (assistant content and the end-of-turn token, models/chat/example.h), so the number is the one training
// optimises. Sequences longer than max_len are scored in windows of at most max_len tokens advancing by
// `stride`: every target is predicted exactly once, with at least max_len - stride tokens of context (HF's
// "perplexity of fixed-length models" recipe, minus its unscored first token per window).
// Not a benchmark harness: no batching across sequences; one window at a time on the caller's ComputeMode.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "models/chat/template.h"
#include "models/model.h"
#include "models/tokenizer/tokenizer.h"

namespace slm {

struct EvalSequence {
  std::vector<int32_t> ids;
  // Empty: every token after the first is a target. Else mask[t] = 1 makes token t a target (predicted from
  // the logits at t - 1); mask[0] is ignored (nothing predicts the first token).
  std::vector<uint8_t> mask;
};

struct EvalData {
  std::string path;
  std::string kind;  // "text" | "chat"
  std::vector<EvalSequence> sequences;
  int64_t targets() const;  // target tokens over all sequences
};

struct EvalOptions {
  int64_t max_len = 0;  // longest window in tokens; 0 = the model's max_position_embeddings
  int64_t stride = 0;   // new targets per window once a sequence exceeds max_len; 0 = max_len / 2; <= max_len - 1
  // Tokens per forward call inside a window (bounds the (T, V) logits held at once). Models whose rope
  // depends on the sequence length (dynamic, longrope) run each window in one call, as HF scores it.
  int64_t chunk = 256;
};

struct PerplexityResult {
  double perplexity = 0;  // exp(mean_nll)
  double mean_nll = 0;    // nats per target token
  int64_t tokens = 0;     // target tokens scored
  int64_t sequences = 0;  // sequences with at least one target
  int64_t windows = 0;    // forward windows run
};

PerplexityResult perplexity(Model& model, const std::vector<EvalSequence>& sequences, const EvalOptions& opt = {});

struct CompareResult {
  double mean_kl = 0;             // mean over target positions of KL(P_ref || P_test), nats
  double top1_agreement = 0;      // fraction of target positions whose argmax agrees
  double max_abs_logit_diff = 0;  // over every target position and vocabulary entry
  int64_t positions = 0;
  PerplexityResult ref, test;     // both models' perplexity on the same targets, from the same pass
};

// The two models must share the vocabulary size; both run in their own ComputeMode.
CompareResult compare_models(Model& ref, Model& test, const std::vector<EvalSequence>& sequences,
                             const EvalOptions& opt = {});

// Eval data from a file: `.jsonl` → chat examples (models/chat/dataset.h schemas) rendered with `tmpl` and
// loss-masked by encode_example (tmpl must be non-null); anything else → UTF-8 text tokenised once with the
// tokenizer's special tokens (BOS where its post-processor adds one), as HF's perplexity recipe does.
EvalData load_eval_data(const std::string& path, const Tokenizer& tok, const ChatTemplate* tmpl);
// The same with MODEL_DIR's tokenizer.json and, for `.jsonl`, its chat template (ChatTemplate::from_model_dir).
EvalData load_eval_data(const std::string& path, const std::string& model_dir);

}  // namespace slm
