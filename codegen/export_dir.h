// The export directory as `slm export` writes it, minus verification and the console report: shards +
// tensor-cache.json (export_weights.h), mlc-chat-config.json (chat_config.h) and the files it lists,
// staged in OUT.tmp-PID, flushed to disk and renamed over OUT in one step. cli/export.cpp and
// benches/bench_quant.cpp call exactly this, so the bench measures what the verb does with --no-verify.
// Not here: calibration and verification (export_verify.h), the progress bar and report (cli/export.cpp).
#pragma once
#include <string>
#include <vector>

#include "codegen/config_normalize.h"
#include "codegen/export_weights.h"

namespace slm::codegen {

// OUT may be absent, empty or a previous export (replaced); anything else throws, naming the remedy.
void check_export_out_dir(const std::string& out);

// A staging directory OUT.tmp-PID beside OUT, created empty (a stale one is removed) and removed again on
// destruction unless commit() moved it into place.
class ExportStaging {
 public:
  explicit ExportStaging(std::string out);
  ~ExportStaging();
  ExportStaging(const ExportStaging&) = delete;
  ExportStaging& operator=(const ExportStaging&) = delete;

  const std::string& path() const { return path_; }
  // Flushes every file of the staging directory to disk (sync_to_disk), then renames it to OUT; a previous
  // export at OUT is moved aside first and removed after.
  void commit();

 private:
  std::string out_, path_;
  bool committed_ = false;
};

// mlc-chat-config.json for `scheme` plus the files it lists in tokenizer_files and config.json /
// generation_config.json (copied verbatim: export_load reads the model back from config.json), into `dir`.
// Returns every config field dropped, rewritten or added, with the reason.
std::vector<ConfigChange> write_chat_files(const std::string& hf_dir, const ModelConfig& config,
                                           quant::Scheme scheme, const std::string& dir);

struct ExportDirResult {
  ExportStats weights;
  std::vector<ConfigChange> config_changes;
};

// Everything an export directory holds, written into the existing directory `dir` (a staging directory).
ExportDirResult write_export_dir(const std::string& hf_dir, const ModelConfig& config, const ExportOptions& opt,
                                 const std::string& dir);

}  // namespace slm::codegen
