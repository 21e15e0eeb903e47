// A training run's directory and its checkpoints, written so that a kill -9 at any moment leaves either the
// previous checkpoint or the new one, never half of one:
//   RUN_DIR/settings.json                 resolved options (written at start)
//   RUN_DIR/metrics.jsonl, loss.svg       see lora/metrics.h
//   RUN_DIR/checkpoints/step-N/           params.safetensors (f32 trainable weights by name)
//                                         optimizer.safetensors (exp_avg.NAME, exp_avg_sq.NAME)
//                                         trainer_state.json (step, data position, RNG, best eval, options)
//                                         adapter/ (the caller's adapter writer, e.g. PEFT format)
//   RUN_DIR/checkpoints/latest, best      one line: "step-N"
//   RUN_DIR/adapter/                      the final adapter
// A checkpoint is built in checkpoints/.tmp-step-N-PID, every file fsync'd, then renamed into place; the
// pointers are written to a temporary file and renamed. Resume picks the highest complete step-N directory.
// Not the adapter format (lora/adapter.h) and not the loop (lora/trainer.h).
#pragma once
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lora/objective.h"
#include "lora/optimizer.h"

namespace slm {

// Everything besides tensors that a resumed run needs to continue exactly.
struct TrainerState {
  int64_t step = 0;            // optimizer steps completed
  int64_t epoch = 0;           // data position of the next step: epoch and micro-batch index in it
  int64_t batch_in_epoch = 0;
  uint64_t seed = 0;           // dropout seeds are mix_seed(seed, step, micro-batch): no other RNG state
  uint64_t data_fingerprint = 0, eval_fingerprint = 0;
  double best_eval_loss = std::numeric_limits<double>::infinity();
  int64_t best_step = -1;
  int64_t evals_without_improvement = 0;  // early-stopping patience counter
  double last_eval_loss = std::numeric_limits<double>::quiet_NaN();
  int64_t last_eval_step = -1;
  int64_t tokens_seen = 0;     // input tokens of all completed steps
  double train_seconds = 0.0;  // wall time of the completed steps (for rates across resumes)
  nlohmann::ordered_json options;  // the resolved training options (compared on resume)
};

nlohmann::ordered_json trainer_state_to_json(const TrainerState& s);
TrainerState trainer_state_from_json(const nlohmann::json& j, const std::string& where);

std::string checkpoint_dir_name(int64_t step);  // "step-N"
std::string checkpoints_root(const std::string& run_dir);

// Writes RUN_DIR/checkpoints/step-N atomically (replacing an existing one of the same step) and points
// `latest` at it; `save_adapter(dir)` (optional) writes the adapter into dir (a subdirectory of the temporary
// checkpoint). Returns the final directory.
std::string write_checkpoint(const std::string& run_dir, const TrainerState& state,
                             const std::vector<NamedParam>& params, const AdamW& opt,
                             const std::function<void(const std::string&)>& save_adapter);
// The newest complete checkpoint directory under RUN_DIR/checkpoints, if any.
std::optional<std::string> latest_checkpoint(const std::string& run_dir);
// Loads a checkpoint into the parameter values (names and shapes must match) and the optimizer (already
// init()ed with the same params); returns its state.
TrainerState read_checkpoint(const std::string& dir, const std::vector<NamedParam>& params, AdamW& opt);
// Copies only the parameter values of a checkpoint into `params` (best-checkpoint reload).
void read_checkpoint_params(const std::string& dir, const std::vector<NamedParam>& params);
// Points RUN_DIR/checkpoints/<pointer> ("latest", "best") at step-N, atomically.
void write_checkpoint_pointer(const std::string& run_dir, const std::string& pointer, int64_t step);
std::optional<int64_t> read_checkpoint_pointer(const std::string& run_dir, const std::string& pointer);
// Removes the oldest step-N directories beyond `keep` (0 = keep all), never those in `protect`.
void prune_checkpoints(const std::string& run_dir, int64_t keep, const std::vector<int64_t>& protect);
// Removes leftovers of a killed run (*.tmp-* in RUN_DIR and RUN_DIR/checkpoints).
void remove_temporaries(const std::string& run_dir);

// RUN_DIR/settings.json as written at the start of the run ({"training": …, "run": …, "info": …}; the caller's
// extra_settings are under training.extra): what a CLI needs to rebuild the same run for --resume.
nlohmann::json read_run_settings(const std::string& run_dir);

// Files: `content` to PATH.tmp-PID, fsync, rename over PATH, fsync the directory.
void write_file_atomic(const std::string& path, const std::string& content);
// Writes a directory atomically: fill(tmp) builds it in a sibling temporary directory, every file is fsync'd,
// then it replaces `dir` (an existing `dir` is removed first).
void write_dir_atomic(const std::string& dir, const std::function<void(const std::string&)>& fill);

}  // namespace slm
