// Run directory, atomic checkpoints and resume (see run_state.h).
#include "lora/run_state.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "models/safetensors.h"
#include "tensor/error.h"

namespace fs = std::filesystem;

namespace slm {

static void fsync_path(const std::string& path, bool dir) {
  int fd = ::open(path.c_str(), (dir ? O_DIRECTORY : 0) | O_RDONLY);
  if (fd < 0) return;  // best effort: durability, not correctness, depends on it
  ::fsync(fd);
  ::close(fd);
}

static void fsync_tree(const std::string& root) {
  for (const auto& e : fs::recursive_directory_iterator(root)) fsync_path(e.path().string(), e.is_directory());
  fsync_path(root, true);
}

void write_file_atomic(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  SLM_CHECK(fd >= 0, "[run] cannot create " + tmp + " — is the run directory writable?");
  size_t done = 0;
  while (done < content.size()) {
    ssize_t w = ::write(fd, content.data() + done, content.size() - done);
    if (w <= 0) {
      ::close(fd);
      ::unlink(tmp.c_str());
      throw Error("[run] cannot write " + tmp + " — is the disk full?");
    }
    done += size_t(w);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  SLM_CHECK(synced, "[run] fsync of " + tmp + " failed — is the disk full?");
  SLM_CHECK(::rename(tmp.c_str(), path.c_str()) == 0, "[run] cannot rename " + tmp + " to " + path);
  fsync_path(fs::path(path).parent_path().string(), true);
}

void write_dir_atomic(const std::string& dir, const std::function<void(const std::string&)>& fill) {
  const fs::path final_dir(dir);
  const fs::path parent = final_dir.parent_path();
  fs::create_directories(parent);
  const fs::path tmp = parent / (".tmp-" + final_dir.filename().string() + "-" + std::to_string(::getpid()));
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  fill(tmp.string());
  fsync_tree(tmp.string());
  if (fs::exists(final_dir)) {
    // Move the old one aside first: rename() cannot replace a non-empty directory.
    const fs::path old = parent / (".tmp-old-" + final_dir.filename().string() + "-" + std::to_string(::getpid()));
    fs::remove_all(old);
    fs::rename(final_dir, old);
    fs::rename(tmp, final_dir);
    fs::remove_all(old);
  } else {
    fs::rename(tmp, final_dir);
  }
  fsync_path(parent.string(), true);
}

// ---- state ------------------------------------------------------------------------------------------

static std::string hex64(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

static uint64_t parse_hex64(const nlohmann::json& j, const std::string& where) {
  SLM_CHECK(j.is_string(), "[run] " + where + ": expected a hex string");
  return std::stoull(j.get<std::string>(), nullptr, 16);
}

static nlohmann::ordered_json finite_or_null(double v) {
  return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
}

nlohmann::ordered_json trainer_state_to_json(const TrainerState& s) {
  nlohmann::ordered_json j;
  j["format"] = "slm-trainer-state-1";
  j["step"] = s.step;
  j["data_position"] = {{"epoch", s.epoch}, {"batch_in_epoch", s.batch_in_epoch}};
  j["rng"] = {{"algorithm", "counter-based: dropout_seed(seed, step, micro_batch) in lora/trainer.h"},
              {"seed", s.seed},
              {"next_step", s.step}};
  j["data_fingerprint"] = hex64(s.data_fingerprint);
  j["eval_fingerprint"] = hex64(s.eval_fingerprint);
  j["best_eval_loss"] = finite_or_null(s.best_eval_loss);
  j["best_step"] = s.best_step;
  j["evals_without_improvement"] = s.evals_without_improvement;
  j["last_eval_loss"] = finite_or_null(s.last_eval_loss);
  j["last_eval_step"] = s.last_eval_step;
  j["tokens_seen"] = s.tokens_seen;
  j["train_seconds"] = s.train_seconds;
  j["options"] = s.options;
  return j;
}

TrainerState trainer_state_from_json(const nlohmann::json& j, const std::string& where) {
  try {
    SLM_CHECK(j.value("format", "") == "slm-trainer-state-1",
              "[run] " + where + ": not an slm trainer state (format 'slm-trainer-state-1' expected)");
    TrainerState s;
    s.step = j.at("step").get<int64_t>();
    s.epoch = j.at("data_position").at("epoch").get<int64_t>();
    s.batch_in_epoch = j.at("data_position").at("batch_in_epoch").get<int64_t>();
    s.seed = j.at("rng").at("seed").get<uint64_t>();
    s.data_fingerprint = parse_hex64(j.at("data_fingerprint"), where);
    s.eval_fingerprint = parse_hex64(j.at("eval_fingerprint"), where);
    const auto& best = j.at("best_eval_loss");
    s.best_eval_loss = best.is_null() ? std::numeric_limits<double>::infinity() : best.get<double>();
    s.best_step = j.at("best_step").get<int64_t>();
    s.evals_without_improvement = j.at("evals_without_improvement").get<int64_t>();
    const auto& last = j.at("last_eval_loss");
    s.last_eval_loss = last.is_null() ? std::numeric_limits<double>::quiet_NaN() : last.get<double>();
    s.last_eval_step = j.at("last_eval_step").get<int64_t>();
    s.tokens_seen = j.at("tokens_seen").get<int64_t>();
    s.train_seconds = j.at("train_seconds").get<double>();
    s.options = j.at("options");
    return s;
  } catch (const nlohmann::json::exception& e) {
    throw Error("[run] " + where + ": malformed trainer state (" + e.what() + ") — the checkpoint is damaged; " +
                "remove it to resume from the one before");
  }
}

// ---- checkpoints ------------------------------------------------------------------------------------

std::string checkpoint_dir_name(int64_t step) { return "step-" + std::to_string(step); }
std::string checkpoints_root(const std::string& run_dir) { return (fs::path(run_dir) / "checkpoints").string(); }

std::string write_checkpoint(const std::string& run_dir, const TrainerState& state,
                             const std::vector<NamedParam>& params, const AdamW& opt,
                             const std::function<void(const std::string&)>& save_adapter) {
  const std::string dir = (fs::path(checkpoints_root(run_dir)) / checkpoint_dir_name(state.step)).string();
  write_dir_atomic(dir, [&](const std::string& tmp) {
    NamedTensors p, o;
    for (size_t i = 0; i < params.size(); ++i) {
      p.emplace_back(params[i].name, params[i].value);
      o.emplace_back("exp_avg." + params[i].name, opt.exp_avg()[i]);
      o.emplace_back("exp_avg_sq." + params[i].name, opt.exp_avg_sq()[i]);
    }
    safetensors_write(tmp + "/params.safetensors", p);
    safetensors_write(tmp + "/optimizer.safetensors", o, {{"step", std::to_string(opt.step_count())}});
    write_file_atomic(tmp + "/trainer_state.json", trainer_state_to_json(state).dump(2) + "\n");
    if (save_adapter) save_adapter(tmp + "/adapter");
  });
  write_checkpoint_pointer(run_dir, "latest", state.step);
  return dir;
}

static std::optional<int64_t> parse_step_name(const std::string& name) {
  if (name.rfind("step-", 0) != 0 || name.size() == 5) return std::nullopt;
  int64_t v = 0;
  for (size_t i = 5; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
    v = v * 10 + (name[i] - '0');
  }
  return v;
}

static std::vector<int64_t> complete_checkpoint_steps(const std::string& run_dir) {
  std::vector<int64_t> steps;
  const fs::path root(checkpoints_root(run_dir));
  if (!fs::is_directory(root)) return steps;
  for (const auto& e : fs::directory_iterator(root)) {
    auto step = parse_step_name(e.path().filename().string());
    if (step && e.is_directory() && fs::exists(e.path() / "trainer_state.json")) steps.push_back(*step);
  }
  std::sort(steps.begin(), steps.end());
  return steps;
}

std::optional<std::string> latest_checkpoint(const std::string& run_dir) {
  // Directories appear only complete (rename), so the highest one is the newest even if `latest` was not
  // updated before a kill.
  auto steps = complete_checkpoint_steps(run_dir);
  if (steps.empty()) return std::nullopt;
  return (fs::path(checkpoints_root(run_dir)) / checkpoint_dir_name(steps.back())).string();
}

static Tensor get_tensor(const SafetensorsFile& f, const std::string& name, const Shape& shape) {
  SLM_CHECK(f.has(name), "[run] " + f.name() + " has no tensor '" + name +
                             "' — the checkpoint belongs to a run with other trainable parameters");
  Tensor t = f.get(name);
  SLM_CHECK(t.dtype() == DType::F32 && t.shape() == shape,
            "[run] " + f.name() + ": tensor '" + name + "' is " + shape_str(t.shape()) + ", the run has " +
                shape_str(shape));
  return t;
}

void read_checkpoint_params(const std::string& dir, const std::vector<NamedParam>& params) {
  const auto f = SafetensorsFile::open(dir + "/params.safetensors");
  SLM_CHECK(f.entries().size() == params.size(), "[run] " + f.name() + " holds " +
                                                     std::to_string(f.entries().size()) + " tensors, the run trains " +
                                                     std::to_string(params.size()));
  for (const auto& p : params) {
    Tensor dst = p.value;  // shares the storage
    dst.copy_from(get_tensor(f, p.name, p.value.shape()));
  }
}

TrainerState read_checkpoint(const std::string& dir, const std::vector<NamedParam>& params, AdamW& opt) {
  std::ifstream in(dir + "/trainer_state.json");
  SLM_CHECK(in.good(), "[run] cannot read " + dir + "/trainer_state.json");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error("[run] " + dir + "/trainer_state.json is not valid JSON (" + e.what() + ")");
  }
  TrainerState s = trainer_state_from_json(j, dir + "/trainer_state.json");
  read_checkpoint_params(dir, params);
  const auto o = SafetensorsFile::open(dir + "/optimizer.safetensors");
  std::vector<Tensor> m, v;
  for (const auto& p : params) {
    m.push_back(get_tensor(o, "exp_avg." + p.name, p.value.shape()));
    v.push_back(get_tensor(o, "exp_avg_sq." + p.name, p.value.shape()));
  }
  auto it = o.metadata().find("step");
  SLM_CHECK(it != o.metadata().end(), "[run] " + o.name() + " has no 'step' metadata");
  opt.load_state(m, v, std::stoll(it->second));
  return s;
}

nlohmann::json read_run_settings(const std::string& run_dir) {
  const std::string path = (fs::path(run_dir) / "settings.json").string();
  std::ifstream in(path);
  SLM_CHECK(in.good(), "[run] " + path + " not found — is " + run_dir + " a training run directory (slm train --out)?");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error("[run] " + path + " is not valid JSON (" + e.what() + ")");
  }
}

void write_checkpoint_pointer(const std::string& run_dir, const std::string& pointer, int64_t step) {
  write_file_atomic((fs::path(checkpoints_root(run_dir)) / pointer).string(), checkpoint_dir_name(step) + "\n");
}

std::optional<int64_t> read_checkpoint_pointer(const std::string& run_dir, const std::string& pointer) {
  std::ifstream in((fs::path(checkpoints_root(run_dir)) / pointer).string());
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  return parse_step_name(line);
}

void prune_checkpoints(const std::string& run_dir, int64_t keep, const std::vector<int64_t>& protect) {
  if (keep <= 0) return;
  auto steps = complete_checkpoint_steps(run_dir);
  int64_t kept = 0;
  for (auto it = steps.rbegin(); it != steps.rend(); ++it) {
    const bool prot = std::find(protect.begin(), protect.end(), *it) != protect.end();
    if (prot) continue;
    if (kept < keep) {
      ++kept;
      continue;
    }
    fs::remove_all(fs::path(checkpoints_root(run_dir)) / checkpoint_dir_name(*it));
  }
}

void remove_temporaries(const std::string& run_dir) {
  std::vector<fs::path> junk;
  for (const fs::path& root : {fs::path(run_dir), fs::path(checkpoints_root(run_dir))}) {
    if (!fs::is_directory(root)) continue;
    for (const auto& e : fs::directory_iterator(root))
      if (e.path().filename().string().find(".tmp-") != std::string::npos) junk.push_back(e.path());
  }
  for (const auto& p : junk) fs::remove_all(p);
}

}  // namespace slm
