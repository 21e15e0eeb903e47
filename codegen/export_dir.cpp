// Export directory: staging, chat config files, atomic commit (see export_dir.h).
#include "codegen/export_dir.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "codegen/chat_config.h"
#include "codegen/export_load.h"
#include "codegen/tensor_cache.h"
#include "tensor/error.h"

namespace slm::codegen {
namespace {

namespace fs = std::filesystem;

// Copied beside MLC's files: config.json verbatim (export_load reads the model back from it exactly) and
// generation_config.json (eos ids for `slm generate`). WebLLM fetches neither.
const char* kExtraFiles[] = {"config.json", "generation_config.json"};

}  // namespace

void check_export_out_dir(const std::string& out) {
  std::error_code ec;
  if (!fs::exists(out, ec)) return;
  if (!fs::is_directory(out, ec)) throw Error("[export] --out " + out + " exists and is not a directory");
  if (fs::is_empty(out, ec) || is_export_dir(out)) return;
  throw Error("[export] --out " + out +
              " exists and is not an export directory (no mlc-chat-config.json or "
              "tensor-cache.json): refusing to replace it — choose another --out or remove it");
}

ExportStaging::ExportStaging(std::string out) : out_(std::move(out)) {
  path_ = out_ + ".tmp-" + std::to_string(::getpid());
  fs::remove_all(path_);
  fs::create_directories(path_);
}

ExportStaging::~ExportStaging() {
  std::error_code ec;
  if (!committed_) fs::remove_all(path_, ec);
}

void ExportStaging::commit() {
  SLM_CHECK(!committed_, "[export] " + path_ + " committed twice");
  sync_to_disk(path_);
  check_export_out_dir(out_);
  std::error_code ec;
  std::string old;
  if (fs::exists(out_, ec)) {
    old = out_ + ".old-" + std::to_string(::getpid());
    fs::rename(out_, old);
  }
  fs::rename(path_, out_);
  committed_ = true;
  if (!old.empty()) fs::remove_all(old, ec);
}

std::vector<ConfigChange> write_chat_files(const std::string& hf_dir, const ModelConfig& config,
                                           quant::Scheme scheme, const std::string& dir) {
  std::vector<ConfigChange> changes;
  const nlohmann::json cc = make_mlc_chat_config(hf_dir, config, quant::scheme_info(scheme).name, &changes);
  std::ofstream o(dir + "/mlc-chat-config.json");
  o << cc.dump(4) << "\n";
  o.close();
  if (!o) throw Error("[export] writing " + dir + "/mlc-chat-config.json failed — is the disk full?");
  std::vector<std::string> files;
  if (cc.contains("tokenizer_files"))
    for (const auto& f : cc["tokenizer_files"]) files.push_back(f.get<std::string>());
  for (const char* f : kExtraFiles) files.push_back(f);
  for (const auto& f : files) {
    std::error_code ec;
    if (f.find('/') == std::string::npos && fs::exists(hf_dir + "/" + f, ec))
      fs::copy_file(hf_dir + "/" + f, dir + "/" + f, fs::copy_options::overwrite_existing);
  }
  return changes;
}

ExportDirResult write_export_dir(const std::string& hf_dir, const ModelConfig& config, const ExportOptions& opt,
                                 const std::string& dir) {
  ExportDirResult r;
  r.weights = export_weights(hf_dir, config, dir, opt);
  r.config_changes = write_chat_files(hf_dir, config, opt.scheme, dir);
  return r;
}

}  // namespace slm::codegen
