// The training loop (see trainer.h for the semantics and their transformers references).
#include "lora/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "lora/run_state.h"
#include "tensor/error.h"
#include "tensor/system_memory.h"

namespace fs = std::filesystem;

namespace slm {

int64_t steps_per_epoch(int64_t micro_batches, int64_t grad_accum) {
  return (micro_batches + grad_accum - 1) / grad_accum;
}

int64_t total_train_steps(const TrainOptions& opt, int64_t micro_batches) {
  return opt.max_steps > 0 ? opt.max_steps : opt.epochs * steps_per_epoch(micro_batches, opt.grad_accum);
}

uint64_t dropout_seed(uint64_t seed, int64_t step, int64_t micro_batch) {
  return mix_seed(seed ^ 0x64726f70ULL /* 'drop' */, uint64_t(step), uint64_t(micro_batch));
}

CrossEntropy accumulate_gradients(Objective& objective, const std::vector<NamedParam>& params,
                                  const std::vector<const Batch*>& micro, uint64_t seed, int64_t step) {
  zero_grads(params);
  int64_t counted = 0;
  for (const Batch* b : micro) counted += b->counted_tokens();
  SLM_CHECK(counted > 0, "[train] step " + std::to_string(step + 1) +
                             ": its micro-batches have no trained token (every label is -100)");
  // transformers' num_items_in_batch: every micro-batch's token-loss sum is divided by the step's total count.
  const float grad_scale = float(1.0 / double(counted));
  CrossEntropy sum;
  for (size_t j = 0; j < micro.size(); ++j) {
    const CrossEntropy ce = objective.forward_backward(*micro[j], grad_scale, dropout_seed(seed, step, int64_t(j)));
    SLM_CHECK(std::isfinite(ce.loss_sum), "[train] step " + std::to_string(step + 1) + ": the loss of micro-batch " +
                                              std::to_string(j) + " is " + std::to_string(ce.loss_sum) +
                                              " — the run diverged; lower the learning rate or check the data");
    sum.loss_sum += ce.loss_sum;
    sum.count += ce.count;
  }
  return sum;
}

double evaluate_loss(Objective& objective, const std::vector<Batch>& batches) {
  CrossEntropy sum;
  for (const auto& b : batches) {
    const CrossEntropy ce = objective.evaluate(b);
    sum.loss_sum += ce.loss_sum;
    sum.count += ce.count;
  }
  SLM_CHECK(sum.count > 0, "[train] the eval set has no trained token");
  return sum.loss_sum / double(sum.count);
}

// ---- memory ---------------------------------------------------------------------------------------------

std::string format_bytes(int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = double(bytes);
  int u = 0;
  while (std::fabs(v) >= 1024.0 && u < 4) v /= 1024.0, ++u;
  char buf[48];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", v, units[u]);
  return buf;
}

int64_t memory_available_bytes(std::string* source) {
  const uint64_t n = available_memory_bytes(source);
  SLM_CHECK(n > 0, "[train] cannot read MemAvailable from /proc/meminfo — set SLM_MEMORY_AVAILABLE=BYTES");
  return int64_t(n);
}

void check_memory(int64_t needed_bytes, const std::string& detail) {
  if (needed_bytes <= 0) return;
  std::string source;
  const int64_t avail = memory_available_bytes(&source);
  if (needed_bytes <= avail) return;
  throw Error("[train] this run needs about " + format_bytes(needed_bytes) +
              (detail.empty() ? "" : " (" + detail + ")") + " but " + format_bytes(avail) + " is available (" +
              source + ") — lower --max-len or the batch token budget, use --grad-checkpoint or a smaller model, " +
              "or set SLM_MEMORY_AVAILABLE=BYTES if the estimate is too cautious");
}

// ---- settings -------------------------------------------------------------------------------------------

nlohmann::ordered_json resolved_options_json(const TrainOptions& opt, int64_t micro_batches) {
  const int64_t total = total_train_steps(opt, micro_batches);
  nlohmann::ordered_json t;  // determines the training: compared on resume
  t["lr"] = opt.lr;
  t["adam_beta1"] = opt.adamw.beta1;
  t["adam_beta2"] = opt.adamw.beta2;
  t["adam_epsilon"] = opt.adamw.eps;
  t["weight_decay"] = opt.adamw.weight_decay;
  t["lr_schedule"] = lr_schedule_name(opt.schedule);
  t["warmup_steps"] = resolve_warmup_steps(opt.warmup_steps, opt.warmup_ratio, total);
  t["max_grad_norm"] = opt.max_grad_norm;
  t["grad_accum"] = opt.grad_accum;
  t["epochs"] = opt.epochs;
  t["max_steps"] = opt.max_steps;
  t["micro_batches_per_epoch"] = micro_batches;
  t["steps_per_epoch"] = steps_per_epoch(micro_batches, opt.grad_accum);
  t["total_steps"] = total;
  t["seed"] = opt.seed;
  t["extra"] = opt.extra_settings;
  nlohmann::ordered_json r;  // how the run is observed and stored: free to change on resume
  r["eval_every"] = opt.eval_every;
  r["save_every"] = opt.save_every;
  r["keep_checkpoints"] = opt.keep_checkpoints;
  r["early_stopping_patience"] = opt.early_stopping_patience;
  r["early_stopping_threshold"] = opt.early_stopping_threshold;
  r["load_best_at_end"] = opt.load_best_at_end;
  r["memory_estimate_bytes"] = opt.memory_estimate_bytes;
  nlohmann::ordered_json j;
  j["training"] = t;
  j["run"] = r;
  return j;
}

static void validate(const TrainOptions& opt, int64_t micro_batches) {
  SLM_CHECK(!opt.run_dir.empty(), "[train] no run directory given (--out RUN_DIR)");
  SLM_CHECK(micro_batches > 0, "[train] no training batches — is the data file empty?");
  SLM_CHECK(opt.grad_accum >= 1, "[train] gradient accumulation must be >= 1");
  SLM_CHECK(opt.max_steps > 0 || opt.epochs >= 1, "[train] give epochs >= 1 or max steps > 0");
  SLM_CHECK(opt.lr > 0 && std::isfinite(opt.lr), "[train] the learning rate must be > 0");
  SLM_CHECK(opt.eval_every >= 0 && opt.save_every >= 0 && opt.keep_checkpoints >= 0 &&
                opt.early_stopping_patience >= 0,
            "[train] eval/save intervals, checkpoint count and patience must be >= 0");
  SLM_CHECK(opt.adamw.beta1 >= 0 && opt.adamw.beta1 < 1 && opt.adamw.beta2 >= 0 && opt.adamw.beta2 < 1,
            "[train] AdamW betas must lie in [0, 1)");
}

// The first field of `now` that differs from `saved` ("training.lr: 0.0002 in the run, 0.0001 now").
static std::string first_difference(const nlohmann::json& saved, const nlohmann::json& now, const std::string& path) {
  if (saved.is_object() && now.is_object()) {
    std::set<std::string> keys;
    for (auto it = saved.begin(); it != saved.end(); ++it) keys.insert(it.key());
    for (auto it = now.begin(); it != now.end(); ++it) keys.insert(it.key());
    for (const auto& k : keys) {
      const std::string p = path.empty() ? k : path + "." + k;
      if (!saved.contains(k)) return p + ": absent in the run, " + now[k].dump() + " now";
      if (!now.contains(k)) return p + ": " + saved[k].dump() + " in the run, absent now";
      if (auto d = first_difference(saved[k], now[k], p); !d.empty()) return d;
    }
    return "";
  }
  if (saved == now) return "";
  return path + ": " + saved.dump() + " in the run, " + now.dump() + " now";
}

// ---- the loop -------------------------------------------------------------------------------------------

namespace {

using Clock = std::chrono::steady_clock;

struct Run {
  const TrainOptions& opt;
  Objective& obj;
  const BatchPlan& plan;
  const std::vector<Batch>& eval;
  const TrainCallbacks& cb;
  std::vector<NamedParam> params;
  AdamW adamw;
  TrainerState st;
  MetricsLog metrics;
  std::vector<MetricsRow> rows;
  int64_t n = 0, spe = 0, total = 0, warmup = 0;

  void say(const std::string& line) const {
    if (cb.log) cb.log(line);
    else std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::string path(const std::string& name) const { return (fs::path(opt.run_dir) / name).string(); }

  void write_svg() const {
    write_file_atomic(path("loss.svg"), loss_curve_svg(rows, "loss — " + opt.run_dir));
  }

  void checkpoint(bool best) {
    const std::string dir = write_checkpoint(opt.run_dir, st, params, adamw, cb.save_adapter);
    if (best) write_checkpoint_pointer(opt.run_dir, "best", st.step);
    // The newest keep_checkpoints (this one included) stay, and the best one.
    prune_checkpoints(opt.run_dir, opt.keep_checkpoints, {st.best_step});
    write_svg();
    say("[train] checkpoint " + dir + (best ? " (best eval so far)" : ""));
  }

  // Checks each grad for NaN/inf (in params() order) and returns Σ g² per parameter.
  std::vector<double> checked_sum_squares(int64_t s, double loss) const {
    auto sq = grad_sum_squares(params);
    for (size_t i = 0; i < params.size(); ++i) {
      if (std::isfinite(sq[i])) continue;
      auto last = latest_checkpoint(opt.run_dir);
      throw Error("[train] step " + std::to_string(s + 1) + ": the gradient of '" + params[i].name +
                  "' holds NaN or inf (step loss " + std::to_string(loss) +
                  ") — the run diverged; lower the learning rate, raise warm-up or clipping, or check the data" +
                  (last ? "; the last good checkpoint is " + *last : ""));
    }
    return sq;
  }

  void start();
  bool step();  // one optimizer step; false when the run should end
  bool stopped = false, early_stopped = false;
};

void Run::start() {
  params = obj.params();
  std::set<std::string> names;
  for (const auto& p : params)
    SLM_CHECK(names.insert(p.name).second, "[train] two trainable parameters are named '" + p.name + "'");
  SLM_CHECK(!params.empty(), "[train] the objective has no trainable parameters");
  adamw = AdamW(opt.adamw);
  adamw.init(params);
  n = plan.size();
  spe = steps_per_epoch(n, opt.grad_accum);
  total = total_train_steps(opt, n);
  warmup = resolve_warmup_steps(opt.warmup_steps, opt.warmup_ratio, total);
  auto resolved = resolved_options_json(opt, n);
  resolved["training"]["data_fingerprint"] = (std::ostringstream() << std::hex << plan.fingerprint()).str();
  resolved["training"]["eval_fingerprint"] =
      (std::ostringstream() << std::hex << batches_fingerprint(eval)).str();
  fs::create_directories(fs::path(opt.run_dir) / "checkpoints");
  remove_temporaries(opt.run_dir);
  metrics = MetricsLog(path("metrics.jsonl"));
  const auto last = latest_checkpoint(opt.run_dir);
  if (opt.resume && last) {
    st = read_checkpoint(*last, params, adamw);
    const auto saved = nlohmann::json::parse(st.options.dump());
    const auto now = nlohmann::json::parse(resolved["training"].dump());
    if (auto d = first_difference(saved, now, ""); !d.empty())
      throw Error("[train] cannot resume " + opt.run_dir + ": " + d +
                  " — resume with the run's settings (RUN_DIR/settings.json) or start a new run");
    SLM_CHECK(st.step == adamw.step_count(), "[train] " + *last + ": trainer state and optimizer disagree on the step");
    rows = truncate_metrics(metrics.path(), st.step);
    say("[train] resuming " + opt.run_dir + " from " + *last + " (step " + std::to_string(st.step) + " of " +
        std::to_string(total) + ")");
  } else {
    SLM_CHECK((!last && !fs::exists(path("metrics.jsonl"))) || opt.resume,
              "[train] " + opt.run_dir + " already holds a run — pass --resume to continue it, or choose another "
              "--out directory");
    if (opt.resume) say("[train] " + opt.run_dir + " has no checkpoint yet: starting from step 0");
    if (fs::exists(path("metrics.jsonl"))) fs::remove(path("metrics.jsonl"));
    st = TrainerState{};
    st.seed = opt.seed;
    st.data_fingerprint = plan.fingerprint();
    st.eval_fingerprint = batches_fingerprint(eval);
    st.options = resolved["training"];
  }
  nlohmann::ordered_json settings = resolved;
  settings["info"] = opt.extra_info;
  write_file_atomic(path("settings.json"), settings.dump(2) + "\n");
  say("[train] settings (saved in " + path("settings.json") + "):");
  for (const char* part : {"training", "run"})
    for (auto it = resolved[part].begin(); it != resolved[part].end(); ++it)
      say("  " + it.key() + " = " + it.value().dump());
}

bool Run::step() {
  const int64_t s = st.step;
  const int64_t epoch = s / spe, k = s % spe;
  const int64_t begin = k * opt.grad_accum, end = std::min(n, begin + opt.grad_accum);
  std::vector<const Batch*> micro;
  int64_t tokens = 0;
  for (int64_t i = begin; i < end; ++i) {
    micro.push_back(&plan.at(epoch, i));
    tokens += int64_t(micro.back()->ids.size());
  }
  const auto t0 = Clock::now();
  const CrossEntropy ce = accumulate_gradients(obj, params, micro, opt.seed, s);
  const double loss = ce.loss_sum / double(ce.count);
  const auto sq = checked_sum_squares(s, loss);
  double total_sq = 0.0;
  for (double x : sq) total_sq += x;
  const float norm = opt.max_grad_norm > 0 ? clip_grad_norm(params, sq, opt.max_grad_norm) : float(std::sqrt(total_sq));
  const double lr = opt.lr * lr_lambda(opt.schedule, s, warmup, total);
  adamw.step(params, lr);
  const double dt = std::chrono::duration<double>(Clock::now() - t0).count();

  st.step = s + 1;
  st.epoch = st.step / spe;
  st.batch_in_epoch = (st.step % spe) * opt.grad_accum;
  st.tokens_seen += tokens;
  st.train_seconds += dt;
  MetricsRow row;
  row.step = st.step;
  row.epoch = double(st.step) / double(spe);
  row.loss = loss;
  row.lr = lr;
  row.grad_norm = norm;
  row.tokens = tokens;
  row.trained_tokens = ce.count;
  row.tokens_per_s = dt > 0 ? double(tokens) / dt : 0.0;
  row.elapsed_s = st.train_seconds;

  bool improved = false;
  const bool last_step = st.step >= total;
  if (!eval.empty() && ((opt.eval_every > 0 && st.step % opt.eval_every == 0) || last_step)) {
    const double el = evaluate_loss(obj, eval);
    SLM_CHECK(std::isfinite(el), "[train] step " + std::to_string(st.step) + ": the eval loss is not finite");
    row.eval_loss = el;
    // EarlyStoppingCallback compares with the best before this eval, then the Trainer updates the best.
    const bool better = el < st.best_eval_loss;
    if (better && std::fabs(el - st.best_eval_loss) > opt.early_stopping_threshold) st.evals_without_improvement = 0;
    else ++st.evals_without_improvement;
    if (better) st.best_eval_loss = el, st.best_step = st.step, improved = true;
    st.last_eval_loss = el;
    st.last_eval_step = st.step;
    say("[train] step " + std::to_string(st.step) + ": eval loss " + std::to_string(el) +
        (improved ? " (best)" : " (best " + std::to_string(st.best_eval_loss) + " at step " +
                                    std::to_string(st.best_step) + ")"));
  }
  early_stopped = opt.early_stopping_patience > 0 && st.evals_without_improvement >= opt.early_stopping_patience;
  metrics.append(row);
  rows.push_back(row);
  if (cb.on_step) cb.on_step(row, total);
  else if (!cb.log) std::fprintf(stderr, "%s\n", metrics_json_line(row).c_str());

  bool saved = false;
  if ((opt.save_every > 0 && st.step % opt.save_every == 0) || improved || last_step || early_stopped) {
    checkpoint(improved);
    saved = true;
  }
  if (early_stopped) {
    say("[train] early stopping: " + std::to_string(st.evals_without_improvement) + " evals without improvement");
    return false;
  }
  if (cb.should_stop && cb.should_stop(st.step)) {
    stopped = true;
    if (cb.save_on_stop && !saved) checkpoint(false);
    say("[train] stopped at step " + std::to_string(st.step) + "; continue with --resume " + opt.run_dir);
    return false;
  }
  return !last_step;
}

}  // namespace

TrainResult train(const TrainOptions& opt, Objective& objective, const BatchPlan& train_batches,
                  const std::vector<Batch>& eval, const TrainCallbacks& cb) {
  validate(opt, train_batches.size());
  check_memory(opt.memory_estimate_bytes, opt.memory_estimate_detail);
  Run run{opt, objective, train_batches, eval, cb, {}, AdamW(), {}, {}, {}};
  run.start();
  // A resumed run that had already stopped early stays stopped.
  run.early_stopped = opt.early_stopping_patience > 0 && run.st.evals_without_improvement >= opt.early_stopping_patience;
  if (run.st.step < run.total && !run.early_stopped)
    while (run.step()) {
    }
  TrainResult r;
  r.steps_done = run.st.step;
  r.total_steps = run.total;
  r.last_loss = run.rows.empty() ? 0.0 : run.rows.back().loss;
  if (run.st.last_eval_step >= 0) r.last_eval_loss = run.st.last_eval_loss;
  if (run.st.best_step >= 0) r.best_eval_loss = run.st.best_eval_loss;
  r.best_step = run.st.best_step;
  r.early_stopped = run.early_stopped;
  r.stopped = run.stopped;
  if (run.stopped) return r;
  if (opt.load_best_at_end && run.st.best_step > 0 && run.st.best_step != run.st.step) {
    const std::string dir = (fs::path(checkpoints_root(opt.run_dir)) / checkpoint_dir_name(run.st.best_step)).string();
    read_checkpoint_params(dir, run.params);
    run.say("[train] loaded the best parameters (step " + std::to_string(run.st.best_step) + ", eval loss " +
            std::to_string(run.st.best_eval_loss) + ") for the final adapter");
  }
  r.adapter_dir = run.path("adapter");
  if (cb.save_adapter) write_dir_atomic(r.adapter_dir, cb.save_adapter);
  run.write_svg();
  run.say("[train] done: " + std::to_string(r.steps_done) + " steps; adapter in " + r.adapter_dir);
  return r;
}

}  // namespace slm
