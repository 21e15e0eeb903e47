// Training metrics: RUN_DIR/metrics.jsonl (one JSON object per optimizer step, appended and fsync'd, so a
// killed run keeps every line it reported) and RUN_DIR/loss.svg (train loss per step and eval loss, redrawn
// at every checkpoint and at the end). Field names follow transformers' Trainer logs where one exists
// (loss, learning_rate → lr, grad_norm, epoch, eval_loss).
// Not a progress display (cli/progress.h) and not a plotting library: one fixed chart.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace slm {

struct MetricsRow {
  int64_t step = 0;               // optimizer steps completed (1-based for the first line)
  double epoch = 0.0;             // step / steps per epoch
  double loss = 0.0;              // Σ token losses / Σ counted tokens over the step's micro-batches
  double lr = 0.0;                // learning rate used by this step's update
  double grad_norm = 0.0;         // total norm before clipping
  int64_t tokens = 0;             // input tokens of the step
  int64_t trained_tokens = 0;     // of which counted in the loss (labels != -100)
  double tokens_per_s = 0.0;      // tokens / wall time of the step
  double elapsed_s = 0.0;         // training wall time so far (across resumes)
  std::optional<double> eval_loss;  // when evaluated after this step
};

std::string metrics_json_line(const MetricsRow& r);  // one line, no newline; doubles round-trip exactly
MetricsRow metrics_from_json_line(const std::string& line, const std::string& where);

// Appends lines to RUN_DIR/metrics.jsonl, fsync'ing each.
class MetricsLog {
 public:
  MetricsLog() = default;
  explicit MetricsLog(std::string path) : path_(std::move(path)) {}
  void append(const MetricsRow& r) const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Reads a metrics file (absent = no rows). A torn last line (a kill mid-write) is ignored; a bad line before
// it is an error naming file:line.
std::vector<MetricsRow> read_metrics(const std::string& path);
// Rewrites the file (atomically) with only the rows of step <= max_step: a resumed run drops what the killed
// run reported after its last checkpoint, so every step appears once. Returns the rows kept.
std::vector<MetricsRow> truncate_metrics(const std::string& path, int64_t max_step);

// The loss curve: train loss per step (line), eval loss (line with markers), axes with ticks, a legend.
std::string loss_curve_svg(const std::vector<MetricsRow>& rows, const std::string& title);

}  // namespace slm
