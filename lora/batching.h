// Training data as packed micro-batches: encoded examples (ids + loss mask) → truncated examples → Batches,
// an eval split, and the per-epoch order of the batches. Everything is a pure function of the data and a
// seed (own SplitMix64 stream and Fisher–Yates shuffle, not std::shuffle, whose output differs between
// standard libraries), so a run and its resume see the same batches in the same order.
//
// Labels are built here, shifted as transformers' causal-LM loss does (logits[:-1] vs labels[1:]): within one
// example, labels[t] = ids[t+1] when token t+1 is trained (mask 1), else -100; the last token of every example
// gets -100, so no target ever crosses into the next packed example.
// Two batching modes (both concatenate whole examples into one row of T tokens, no padding; `segments` keeps
// attention inside each example):
//   packed    examples shuffled once with the seed, then greedily filled into micro-batches of at most
//             batch_tokens tokens (a batch is closed when the next example does not fit);
//   bucketed  examples sorted by length, cut into micro-batches of similar length (at most batch_size
//             examples and batch_tokens tokens).
// The set of micro-batches is fixed for the run; each epoch visits it in a seeded order (BatchPlan).
// Not a tokenizer or a chat renderer: models/chat/example.h makes the EncodedExamples.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "lora/objective.h"
#include "models/chat/example.h"

namespace slm {

// ---- deterministic randomness ---------------------------------------------------------------------------
// SplitMix64 (Steele, Lea, Flood 2014): the finaliser mixes (seed, stream ids) into independent seeds.
uint64_t splitmix64(uint64_t& state);
uint64_t mix_seed(uint64_t seed, uint64_t a, uint64_t b = 0);
// Fisher–Yates permutation of 0..n-1 from `seed` (unbiased: rejection sampling of the random draws).
std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed);

// ---- examples -----------------------------------------------------------------------------------------
struct TrainExample {
  std::vector<int32_t> ids;   // (n)
  std::vector<uint8_t> mask;  // (n) 1 = token is a trained target (assistant content and its end-of-turn)
  int64_t source = -1;        // index in the dataset, for messages
};

struct PrepareReport {
  int64_t examples_in = 0, kept = 0;
  int64_t truncated = 0;          // examples longer than max_len (cut here or already by encode_example)
  int64_t tokens_cut = 0;         // tokens those examples lost
  int64_t dropped_no_target = 0;  // examples left with no trained target (e.g. the assistant turn was cut off)
  int64_t tokens = 0, targets = 0;  // kept: all tokens / trained targets (labels != -100)
  std::string summary() const;    // one line for the log
};

// Truncation keeps the first max_len tokens of an example and their mask (transformers' default
// truncation_side "right": the end of a long conversation is lost). max_len 0 = no truncation. Examples
// with no trained target after truncation are dropped (their loss would be 0/0) and counted.
std::vector<TrainExample> prepare_examples(const std::vector<EncodedExample>& encoded, int64_t max_len,
                                           PrepareReport* report = nullptr);
std::vector<TrainExample> prepare_examples(std::vector<TrainExample> examples, int64_t max_len,
                                           PrepareReport* report = nullptr);

// Held-out split as datasets' train_test_split(test_size=fraction, seed): n_eval = ceil(fraction · n) chosen by
// a seeded shuffle; both index lists returned ascending. fraction in [0, 1); at least one train example.
struct EvalSplit {
  std::vector<int64_t> train, eval;
};
EvalSplit split_eval(int64_t n, double fraction, uint64_t seed);

// ---- batches ------------------------------------------------------------------------------------------
enum class BatchMode { Packed, Bucketed };
BatchMode parse_batch_mode(const std::string& name);  // "packed" | "bucketed"
std::string batch_mode_name(BatchMode m);

struct BatchOptions {
  BatchMode mode = BatchMode::Packed;
  int64_t batch_tokens = 2048;  // token budget of one micro-batch (both modes); must be >= the longest example
  int64_t batch_size = 0;       // bucketed: most examples per micro-batch (0 = only the token budget limits)
  uint64_t seed = 42;
};

// Concatenates examples into one Batch (labels shifted per example, segments 0.., positions from 0).
Batch make_batch(const std::vector<const TrainExample*>& examples);
// All micro-batches of `examples`. shuffle=false (eval): packed keeps the dataset order.
std::vector<Batch> build_batches(const std::vector<TrainExample>& examples, const BatchOptions& opt,
                                 bool shuffle = true);

struct BatchStats {
  int64_t batches = 0, tokens = 0, targets = 0, max_tokens = 0;
  double fill = 0.0;  // tokens / (batches · budget)
};
BatchStats batch_stats(const std::vector<Batch>& batches, int64_t budget);

// FNV-1a 64 over every batch's ids, labels, segments and positions: checkpoints record it, so resuming with
// different data (or different batching) is refused instead of silently training on other batches.
uint64_t batches_fingerprint(const std::vector<Batch>& batches);

// The run's micro-batches and the order of each epoch: epoch e visits batches in
// seeded_permutation(size, mix_seed(seed, 'epoc', e)), a pure function of (seed, e).
class BatchPlan {
 public:
  BatchPlan() = default;
  BatchPlan(std::vector<Batch> batches, uint64_t seed, bool shuffle_each_epoch = true);

  int64_t size() const { return int64_t(batches_.size()); }
  const Batch& at(int64_t epoch, int64_t index) const;  // index in [0, size())
  const std::vector<Batch>& batches() const { return batches_; }
  uint64_t fingerprint() const { return fingerprint_; }  // of the batches, the seed and the shuffle flag

 private:
  std::vector<Batch> batches_;
  uint64_t seed_ = 0;
  bool shuffle_ = true;
  uint64_t fingerprint_ = 0;
  mutable int64_t cached_epoch_ = -1;
  mutable std::vector<int64_t> order_;
};

}  // namespace slm
