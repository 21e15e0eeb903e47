// The training loop: micro-batches → gradient accumulation → NaN/inf check → clipping → AdamW with a
// learning-rate schedule, evaluation, best-checkpoint tracking, early stopping, atomic checkpoints and exact
// resume, metrics.jsonl + loss.svg. It follows transformers' Trainer where that defines behaviour:
//   - steps: ceil(micro-batches per epoch / grad_accum) per epoch, the last step of an epoch taking the
//     remainder (Trainer ≥ 4.46); max_steps > 0 overrides epochs (epochs then repeat as needed);
//   - loss of a step = Σ token losses / Σ counted tokens of its micro-batches (num_items_in_batch), so each
//     micro-batch's backward gets grad_scale = 1 / (counted tokens of the whole step);
//   - clipping by global norm (max_grad_norm), grad_norm logged before clipping; lr λ(step) with λ(0) first;
//   - EarlyStoppingCallback: stop after `patience` evals in a row without an improvement > threshold.
// Training is a pure function of (options, data, seed): step s uses micro-batches [k·accum, (k+1)·accum) of
// epoch s / steps_per_epoch (k = s mod steps_per_epoch) in the BatchPlan's seeded order and dropout seeds
// mix_seed(seed ^ 'drop', s, micro-batch); so a resumed run is bit-identical to an uninterrupted one.
// Not a model, not a CLI: the Objective computes losses and gradients, cli/train.cpp wires options and progress.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lora/batching.h"
#include "lora/metrics.h"
#include "lora/objective.h"
#include "lora/optimizer.h"
#include "lora/schedule.h"

namespace slm {

struct TrainOptions {
  std::string run_dir;                        // required; created if absent
  bool resume = false;                        // continue from the newest checkpoint in run_dir
  // Optimisation (transformers TrainingArguments defaults, except the LoRA-typical learning rate).
  double lr = 2e-4;                           // learning_rate (peak, after warm-up)
  AdamWConfig adamw;                          // adam_beta1 0.9, adam_beta2 0.999, adam_epsilon 1e-8, weight_decay 0
  LrSchedule schedule = LrSchedule::Linear;   // lr_scheduler_type
  int64_t warmup_steps = 0;                   // > 0 wins over warmup_ratio
  double warmup_ratio = 0.0;                  // ceil(total_steps · ratio)
  double max_grad_norm = 1.0;                 // <= 0: no clipping (the norm is still logged)
  int64_t grad_accum = 1;                     // micro-batches per optimizer step
  int64_t epochs = 1;
  int64_t max_steps = 0;                      // > 0 overrides epochs
  uint64_t seed = 42;                         // dropout seeds (data order is the BatchPlan's own seed)
  // Evaluation and checkpoints.
  int64_t eval_every = 0;                     // steps; 0 = only at the end. Eval also runs after the last step
  int64_t save_every = 0;                     // steps; 0 = only at the end (and at each new best eval)
  int64_t keep_checkpoints = 0;               // newest N step-* dirs kept (plus best); 0 = all
  int64_t early_stopping_patience = 0;        // evals without improvement before stopping; 0 = off
  double early_stopping_threshold = 0.0;      // an improvement must exceed this
  bool load_best_at_end = false;              // RUN_DIR/adapter from the best eval's parameters
  // Memory: the caller's estimate of the bytes the run needs (0 = no check) and its breakdown for the message.
  int64_t memory_estimate_bytes = 0;
  std::string memory_estimate_detail;
  // The caller's own settings (model, data, LoRA rank, targets, max_len, batching…): saved in settings.json and in
  // every checkpoint; on resume they must be equal (only put there what determines the training).
  nlohmann::ordered_json extra_settings = nlohmann::ordered_json::object();
  // Saved in settings.json only, never compared (paths, thread count, host).
  nlohmann::ordered_json extra_info = nlohmann::ordered_json::object();
};

struct TrainCallbacks {
  // Writes the adapter of the objective's current parameters into `dir` (created by the callee). Called for
  // RUN_DIR/checkpoints/step-N/adapter (inside the temporary checkpoint dir) and RUN_DIR/adapter.
  std::function<void(const std::string& dir)> save_adapter;
  // After each step's metrics line is written (progress display). total_steps is the planned number.
  std::function<void(const MetricsRow& row, int64_t total_steps)> on_step;
  // Human-readable messages: resolved settings at start, evals, checkpoints, resume. Default: stderr.
  std::function<void(const std::string& line)> log;
  // Polled after each step; true stops the run (SIGINT, tests). With save_on_stop a checkpoint is written first;
  // without it the run just returns (as a kill would, minus the process exit).
  std::function<bool(int64_t steps_done)> should_stop;
  bool save_on_stop = true;
};

struct TrainResult {
  int64_t steps_done = 0, total_steps = 0;
  double last_loss = 0.0;
  std::optional<double> last_eval_loss, best_eval_loss;
  int64_t best_step = -1;
  bool early_stopped = false, stopped = false;  // stopped: should_stop ended it
  std::string adapter_dir;                      // RUN_DIR/adapter when written ("" when stopped early by should_stop)
};

// Runs (or resumes) a training run. `eval` may be empty (no evaluation, no best tracking). Throws slm::Error on
// NaN/inf (naming the step and the first offending parameter), on a resume whose options or data differ, and
// when memory_estimate_bytes exceeds the memory available.
TrainResult train(const TrainOptions& opt, Objective& objective, const BatchPlan& train_batches,
                  const std::vector<Batch>& eval, const TrainCallbacks& cb = {});

// ---- building blocks (exposed for tests and tools) -------------------------------------------------------

// Steps of one epoch and of the whole run.
int64_t steps_per_epoch(int64_t micro_batches, int64_t grad_accum);
int64_t total_train_steps(const TrainOptions& opt, int64_t micro_batches);

// One step's forward/backward over `micro` (grads zeroed first, then accumulated with the token-count
// normalisation above); throws on a non-finite loss. Returns the loss sum and count over all micro-batches.
CrossEntropy accumulate_gradients(Objective& objective, const std::vector<NamedParam>& params,
                                  const std::vector<const Batch*>& micro, uint64_t seed, int64_t step);
uint64_t dropout_seed(uint64_t seed, int64_t step, int64_t micro_batch);

// Mean token loss over batches (Σ loss / Σ count; transformers averages per-batch means instead).
double evaluate_loss(Objective& objective, const std::vector<Batch>& batches);

// Memory: MemAvailable from /proc/meminfo, or SLM_MEMORY_AVAILABLE (bytes, or with a K/M/G/T suffix, powers of
// 1024) when set; `source` says which. Throws when neither can be read.
int64_t memory_available_bytes(std::string* source = nullptr);
// Throws slm::Error with the estimate, its breakdown and what is available when needed > available.
void check_memory(int64_t needed_bytes, const std::string& detail);
std::string format_bytes(int64_t bytes);  // "1.25 GiB"

// The resolved options as JSON (what settings.json holds and resume compares).
nlohmann::ordered_json resolved_options_json(const TrainOptions& opt, int64_t micro_batches);

}  // namespace slm
