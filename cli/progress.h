// Progress of a long byte-producing job on stderr: on a terminal one redrawn line with a bar, percent,
// bytes, bytes/s and ETA; otherwise (logs, pipes, tests) a plain line at each 10 % and at the end.
// Not a logger and not thread-safe: one job, updated from one thread.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace slm::cli {

class Progress {
 public:
  // `label` prefixes every line ("[export]"); total 0 = unknown (no bar, no ETA).
  Progress(std::string label, uint64_t total_bytes, FILE* out = stderr);
  void update(uint64_t done_bytes, const std::string& item = "");
  // Final line: bytes, seconds, mean rate.
  void finish();

  static std::string bytes_text(double bytes);  // "12.3 MB" (10^6)
  double seconds() const;

 private:
  std::string line(uint64_t done, const std::string& item) const;

  std::string label_;
  uint64_t total_;
  FILE* out_;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  uint64_t done_ = 0;
  int next_decile_ = 1;
  bool finished_ = false;
};

// Progress of a job counted in steps of any unit (training steps, examples): on a terminal one redrawn line
// "label [####----] 12/100 steps  3.1 steps/s  ETA 28s  loss=2.31 tok/s=812" at most every 100 ms; otherwise a
// plain line at most every `plain_every_s` seconds, always for the first and the last count. The rate and ETA
// come from the counts seen by this meter (a resumed run starting at step 40 measures from there).
class CountProgress {
 public:
  using Fields = std::vector<std::pair<std::string, std::string>>;  // key=value shown after the ETA
  CountProgress(std::string label, int64_t total, std::string unit, FILE* out = stderr, double plain_every_s = 10.0);
  void update(int64_t count, const Fields& fields = {});
  // Ends the redrawn line (TTY) and prints `message` on its own line when not empty.
  void finish(const std::string& message = "");
  // A message line (an eval result, a checkpoint) printed above the bar without garbling it.
  void print(const std::string& message);
  std::string line(int64_t count, const Fields& fields) const;  // the text of one update (tests, logs)
  bool tty() const { return tty_; }

 private:
  std::string label_, unit_;
  int64_t total_;
  FILE* out_;
  bool tty_;
  double plain_every_s_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  int64_t first_count_ = -1, count_ = 0;
  Fields fields_;
  bool drawn_ = false, finished_ = false;
};

}  // namespace slm::cli
