// The training loop on a toy objective (softmax regression with analytic gradients, tests/lora/toy_objective.h):
// learning, bit-identical reruns, exact resume after a stop and after kill -9, NaN detection, gradient
// accumulation with token-count normalisation, eval / best checkpoint / early stopping, settings and refusals.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "lora/run_state.h"
#include "lora/trainer.h"
#include "tensor/error.h"
#include "toy_objective.h"

namespace fs = std::filesystem;

namespace slm {
namespace {

using test::ToyObjective;

// Removes this process's temporary run directories after the last test.
class RemoveRunDirs : public ::testing::Environment {
 public:
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(fs::temp_directory_path() / ("slm_train_test_" + std::to_string(::getpid())), ec);
  }
};
const auto* const kRemoveRunDirs = ::testing::AddGlobalTestEnvironment(new RemoveRunDirs);

struct Data {
  BatchPlan plan;
  std::vector<Batch> eval;
};

Data make_data(int n = 48, int eval_a = 3, int eval_c = 1) {
  auto ex = test::bigram_examples(n, 3);
  auto split = split_eval(n, 0.2, 42);
  std::vector<TrainExample> tr;
  for (int64_t i : split.train) tr.push_back(ex[size_t(i)]);
  // The eval set: the held-out examples, or another bigram language (to make eval loss rise).
  std::vector<TrainExample> ev;
  if (eval_a == 3 && eval_c == 1) {
    for (int64_t i : split.eval) ev.push_back(ex[size_t(i)]);
  } else {
    ev = test::bigram_examples(10, 99, eval_a, eval_c);
  }
  BatchOptions bo;
  bo.batch_tokens = 24;
  bo.seed = 42;
  return {BatchPlan(build_batches(tr, bo), 42), build_batches(ev, bo, false)};
}

TrainOptions options(const std::string& dir) {
  TrainOptions o;
  o.run_dir = dir;
  o.lr = 0.05;
  o.epochs = 3;
  o.grad_accum = 2;
  o.warmup_steps = 2;
  o.schedule = LrSchedule::Cosine;
  o.eval_every = 4;
  o.save_every = 3;
  o.seed = 7;
  o.adamw.weight_decay = 0.01;
  o.extra_settings = {{"toy", "bigram"}};
  return o;
}

TrainCallbacks quiet(Objective& obj) {
  TrainCallbacks cb;
  cb.log = [](const std::string&) {};
  cb.on_step = [](const MetricsRow&, int64_t) {};
  cb.save_adapter = [&obj](const std::string& dir) { test::save_params_adapter(obj, dir); };
  return cb;
}

std::string bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string final_adapter(const std::string& dir) { return bytes(dir + "/adapter/adapter_model.safetensors"); }

// Every per-step number except timings, as exact bit patterns.
std::vector<std::string> curve(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& r : read_metrics(dir + "/metrics.jsonl")) {
    std::ostringstream s;
    s.precision(17);
    s << r.step << " " << r.epoch << " " << r.loss << " " << r.lr << " " << r.grad_norm << " " << r.tokens << " "
      << r.trained_tokens << " " << (r.eval_loss ? *r.eval_loss : -1.0);
    out.push_back(s.str());
  }
  return out;
}

TEST(Trainer, LossGoesDown) {
  const std::string dir = test::fresh_dir("down");
  Data d = make_data();
  ToyObjective obj(1);
  const double before = evaluate_loss(obj, d.eval);
  auto r = train(options(dir), obj, d.plan, d.eval, quiet(obj));
  ASSERT_TRUE(r.last_eval_loss.has_value());
  EXPECT_LT(*r.last_eval_loss, 0.5 * before) << "eval loss " << before << " -> " << *r.last_eval_loss;
  auto rows = read_metrics(dir + "/metrics.jsonl");
  ASSERT_EQ(int64_t(rows.size()), r.total_steps);
  EXPECT_LT(rows.back().loss, rows.front().loss);
  EXPECT_EQ(rows.front().lr, 0.0);  // warm-up starts at λ(0) = 0, as transformers' Trainer
  EXPECT_EQ(r.total_steps, 3 * ((d.plan.size() + 1) / 2));
  // Run directory layout.
  for (const char* f : {"settings.json", "loss.svg", "adapter/adapter_model.safetensors", "checkpoints/latest",
                        "checkpoints/best"})
    EXPECT_TRUE(fs::exists(dir + "/" + f)) << f;
  EXPECT_NE(bytes(dir + "/loss.svg").find("<polyline"), std::string::npos);
  auto settings = nlohmann::json::parse(bytes(dir + "/settings.json"));
  EXPECT_EQ(settings["training"]["total_steps"].get<int64_t>(), r.total_steps);
  EXPECT_EQ(read_checkpoint_pointer(dir, "latest"), r.total_steps);
  EXPECT_EQ(read_run_settings(dir)["training"]["extra"]["toy"], "bigram");
}

TEST(Trainer, SameSeedSameCurveBitForBit) {
  const std::string a = test::fresh_dir("same_a"), b = test::fresh_dir("same_b");
  Data d = make_data();
  ToyObjective oa(1, 0.2), ob(1, 0.2);  // with dropout: its masks come from the seeds
  train(options(a), oa, d.plan, d.eval, quiet(oa));
  train(options(b), ob, d.plan, d.eval, quiet(ob));
  EXPECT_EQ(curve(a), curve(b));
  EXPECT_EQ(final_adapter(a), final_adapter(b));
  // A different seed changes the dropout masks, hence the curve.
  const std::string c = test::fresh_dir("same_c");
  ToyObjective oc(1, 0.2);
  auto opt = options(c);
  opt.seed = 8;
  train(opt, oc, d.plan, d.eval, quiet(oc));
  EXPECT_NE(curve(a), curve(c));
}

TEST(Trainer, ResumeAfterStopIsByteIdentical) {
  const std::string full = test::fresh_dir("resume_full"), cut = test::fresh_dir("resume_cut");
  Data d = make_data();
  ToyObjective o1(1, 0.2);
  train(options(full), o1, d.plan, d.eval, quiet(o1));
  {
    // Stop after step 7 without saving (as a kill would): the newest checkpoint is step 6 and metrics.jsonl
    // already holds step 7. The objective and optimizer are then dropped with everything in memory.
    ToyObjective o2(1, 0.2);
    auto cb = quiet(o2);
    cb.should_stop = [](int64_t step) { return step == 7; };
    cb.save_on_stop = false;
    auto r = train(options(cut), o2, d.plan, d.eval, cb);
    EXPECT_TRUE(r.stopped);
    EXPECT_EQ(r.steps_done, 7);
    EXPECT_EQ(read_checkpoint_pointer(cut, "latest"), 6);
  }
  ToyObjective o3(99, 0.2);  // a different init: everything must come from the checkpoint
  auto opt = options(cut);
  opt.resume = true;
  auto r = train(opt, o3, d.plan, d.eval, quiet(o3));
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(final_adapter(full), final_adapter(cut));
  const std::string last = "/checkpoints/" + checkpoint_dir_name(r.total_steps);
  EXPECT_EQ(bytes(full + last + "/params.safetensors"), bytes(cut + last + "/params.safetensors"));
  EXPECT_EQ(bytes(full + last + "/optimizer.safetensors"), bytes(cut + last + "/optimizer.safetensors"));
  EXPECT_EQ(curve(full), curve(cut));  // each step once, with the same numbers
}

TEST(Trainer, ResumeAfterKill9IsByteIdentical) {
  const std::string full = test::fresh_dir("kill_full"), cut = test::fresh_dir("kill_cut");
  Data d = make_data();
  ToyObjective o1(1, 0.2);
  train(options(full), o1, d.plan, d.eval, quiet(o1));
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // child: train and SIGKILL itself after step 8's metrics line, before any checkpoint of step 8
    try {
      ToyObjective o(1, 0.2);
      auto cb = quiet(o);
      cb.on_step = [](const MetricsRow& row, int64_t) {
        if (row.step == 8) ::raise(SIGKILL);
      };
      train(options(cut), o, d.plan, d.eval, cb);
    } catch (...) {
    }
    ::_exit(3);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
  EXPECT_EQ(read_metrics(cut + "/metrics.jsonl").back().step, 8);
  ToyObjective o2(5, 0.2);
  auto opt = options(cut);
  opt.resume = true;
  train(opt, o2, d.plan, d.eval, quiet(o2));
  EXPECT_EQ(final_adapter(full), final_adapter(cut));
  EXPECT_EQ(curve(full), curve(cut));
}

TEST(Trainer, NanGradientStopsNamingStepAndParameter) {
  Data d = make_data();
  ToyObjective obj(1);
  obj.nan_grad_at_call = 2 * 3 + 1;  // grad_accum 2: the first micro-batch of step 4
  obj.nan_param = "toy.out";
  try {
    train(options(test::fresh_dir("nan")), obj, d.plan, d.eval, quiet(obj));
    FAIL() << "expected slm::Error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("step 4"), std::string::npos) << m;
    EXPECT_NE(m.find("'toy.out'"), std::string::npos) << m;
    EXPECT_NE(m.find("checkpoints/step-3"), std::string::npos) << m;  // the last good checkpoint
  }
  ToyObjective obj2(1);
  obj2.nan_loss_at_call = 10;  // step 5, second micro-batch
  try {
    train(options(test::fresh_dir("nan_loss")), obj2, d.plan, d.eval, quiet(obj2));
    FAIL() << "expected slm::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("step 5: the loss of micro-batch 1"), std::string::npos) << e.what();
  }
}

Batch concat(const Batch& a, const Batch& b) {
  Batch c = a;
  const int32_t seg0 = a.segments.empty() ? 0 : a.segments.back() + 1;
  c.ids.insert(c.ids.end(), b.ids.begin(), b.ids.end());
  c.labels.insert(c.labels.end(), b.labels.begin(), b.labels.end());
  c.positions.insert(c.positions.end(), b.positions.begin(), b.positions.end());
  for (int32_t s : b.segments) c.segments.push_back(seg0 + s);
  return c;
}

TEST(Trainer, AccumulationEqualsOneBigBatch) {
  auto ex = test::bigram_examples(6, 21);
  const Batch a = make_batch({&ex[0]});                           // few targets
  const Batch b = make_batch({&ex[1], &ex[2], &ex[3], &ex[4]});  // many targets
  ASSERT_NE(a.counted_tokens(), b.counted_tokens());
  const Batch ab = concat(a, b);
  ToyObjective o1(3), o2(3);
  auto p1 = o1.params(), p2 = o2.params();
  const CrossEntropy two = accumulate_gradients(o1, p1, {&a, &b}, 1, 0);
  const CrossEntropy one = accumulate_gradients(o2, p2, {&ab}, 1, 0);
  EXPECT_EQ(two.count, one.count);
  EXPECT_NEAR(two.loss_sum, one.loss_sum, 1e-9);
  for (size_t k = 0; k < p1.size(); ++k) {
    auto g1 = p1[k].grad.to_f32_vector(), g2 = p2[k].grad.to_f32_vector();
    for (size_t i = 0; i < g1.size(); ++i) EXPECT_NEAR(g1[i], g2[i], 1e-6 * (1 + std::fabs(g2[i]))) << p1[k].name;
  }
  // The normalisation is by tokens, not a mean of per-micro-batch means (which would differ clearly here).
  ToyObjective o3(3);
  auto p3 = o3.params();
  zero_grads(p3);
  o3.forward_backward(a, float(0.5 / double(a.counted_tokens())), dropout_seed(1, 0, 0));
  o3.forward_backward(b, float(0.5 / double(b.counted_tokens())), dropout_seed(1, 0, 1));
  double max_rel = 0;
  for (size_t k = 0; k < p3.size(); ++k) {
    auto g3 = p3[k].grad.to_f32_vector(), g2 = p2[k].grad.to_f32_vector();
    for (size_t i = 0; i < g3.size(); ++i) max_rel = std::max(max_rel, std::fabs(g3[i] - g2[i]) / (1e-3 + std::fabs(g2[i])));
  }
  EXPECT_GT(max_rel, 0.1);

  // Through the whole loop: one step over [a, b] with accumulation = one step over [a+b].
  const std::string d1 = test::fresh_dir("accum1"), d2 = test::fresh_dir("accum2");
  auto opt = options(d1);
  opt.max_steps = 1;
  opt.warmup_steps = 0;
  opt.eval_every = 0;
  ToyObjective t1(3), t2(3);
  train(opt, t1, BatchPlan({a, b}, 1, false), {}, quiet(t1));
  opt.run_dir = d2;
  opt.grad_accum = 1;
  train(opt, t2, BatchPlan({ab}, 1, false), {}, quiet(t2));
  auto r1 = read_metrics(d1 + "/metrics.jsonl"), r2 = read_metrics(d2 + "/metrics.jsonl");
  EXPECT_NEAR(r1[0].loss, r2[0].loss, 1e-12);
  EXPECT_NEAR(r1[0].grad_norm, r2[0].grad_norm, 1e-6 * r2[0].grad_norm);
  for (size_t k = 0; k < 2; ++k) {
    auto v1 = t1.params()[k].value.to_f32_vector(), v2 = t2.params()[k].value.to_f32_vector();
    for (size_t i = 0; i < v1.size(); ++i) EXPECT_NEAR(v1[i], v2[i], 1e-6);
  }
}

TEST(Trainer, EarlyStoppingAndBestCheckpoint) {
  // Eval on another language: training on the first makes eval loss rise after the first eval.
  const std::string dir = test::fresh_dir("early");
  Data d = make_data(48, 5, 2);
  ToyObjective obj(1);
  auto opt = options(dir);
  opt.eval_every = 2;
  opt.save_every = 0;
  opt.early_stopping_patience = 2;
  opt.load_best_at_end = true;
  opt.epochs = 10;
  auto r = train(opt, obj, d.plan, d.eval, quiet(obj));
  ASSERT_TRUE(r.early_stopped);
  const auto rows = read_metrics(dir + "/metrics.jsonl");
  std::vector<double> evals;
  for (const auto& row : rows)
    if (row.eval_loss) evals.push_back(*row.eval_loss);
  ASSERT_GE(evals.size(), size_t(3));
  // Stopped exactly when the last two evals did not beat the best before them.
  const double best = *std::min_element(evals.begin(), evals.end() - 2);
  EXPECT_GE(evals[evals.size() - 1], best);
  EXPECT_GE(evals[evals.size() - 2], best);
  EXPECT_EQ(r.best_eval_loss, *std::min_element(evals.begin(), evals.end()));
  EXPECT_EQ(read_checkpoint_pointer(dir, "best"), r.best_step);
  EXPECT_LT(r.steps_done, r.total_steps);
  // load_best_at_end: the final adapter is the best step's parameters.
  const std::string best_dir = dir + "/checkpoints/" + checkpoint_dir_name(r.best_step);
  EXPECT_EQ(final_adapter(dir), bytes(best_dir + "/adapter/adapter_model.safetensors"));
  // Resuming a run that stopped early trains no further.
  opt.resume = true;
  ToyObjective again(4);
  auto r2 = train(opt, again, d.plan, d.eval, quiet(again));
  EXPECT_TRUE(r2.early_stopped);
  EXPECT_EQ(r2.steps_done, r.steps_done);
  EXPECT_EQ(read_metrics(dir + "/metrics.jsonl").size(), rows.size());
}

TEST(Trainer, KeepsTheNewestCheckpointsAndTheBest) {
  const std::string dir = test::fresh_dir("keep");
  Data d = make_data(48, 5, 2);  // eval loss best early, so "best" is an old checkpoint
  ToyObjective obj(1);
  auto opt = options(dir);
  opt.save_every = 1;
  opt.keep_checkpoints = 2;
  auto r = train(opt, obj, d.plan, d.eval, quiet(obj));
  std::set<std::string> dirs;
  for (const auto& e : fs::directory_iterator(dir + "/checkpoints"))
    if (e.is_directory()) dirs.insert(e.path().filename().string());
  const std::set<std::string> want = {checkpoint_dir_name(r.best_step), checkpoint_dir_name(r.total_steps - 1),
                                      checkpoint_dir_name(r.total_steps)};
  EXPECT_EQ(dirs, want);
}

TEST(Trainer, RefusesMismatchedResumeAndOccupiedRunDir) {
  const std::string dir = test::fresh_dir("refuse");
  Data d = make_data();
  ToyObjective obj(1);
  auto cb = quiet(obj);
  cb.should_stop = [](int64_t step) { return step == 4; };
  train(options(dir), obj, d.plan, d.eval, cb);
  auto opt = options(dir);
  EXPECT_THROW(train(opt, obj, d.plan, d.eval, quiet(obj)), Error);  // no --resume: refuse to overwrite
  opt.resume = true;
  opt.lr = 0.01;
  try {
    train(opt, obj, d.plan, d.eval, quiet(obj));
    FAIL() << "expected slm::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("lr: 0.05 in the run, 0.01 now"), std::string::npos) << e.what();
  }
  opt.lr = 0.05;
  Data other = make_data(40);  // other data: refused too
  EXPECT_THROW(train(opt, obj, other.plan, other.eval, quiet(obj)), Error);
  BatchPlan reseeded(d.plan.batches(), 43);  // the same batches in another epoch order
  EXPECT_THROW(train(opt, obj, reseeded, d.eval, quiet(obj)), Error);
}

TEST(Trainer, RefusesARunThatDoesNotFitInMemory) {
  ::setenv("SLM_MEMORY_AVAILABLE", "1M", 1);
  EXPECT_EQ(memory_available_bytes(), 1 << 20);
  Data d = make_data();
  ToyObjective obj(1);
  auto opt = options(test::fresh_dir("memory"));
  opt.memory_estimate_bytes = int64_t(3) << 30;
  opt.memory_estimate_detail = "weights 2 GiB, activations 1 GiB";
  try {
    train(opt, obj, d.plan, d.eval, quiet(obj));
    FAIL() << "expected slm::Error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("3.00 GiB"), std::string::npos) << m;
    EXPECT_NE(m.find("1.00 MiB"), std::string::npos) << m;
    EXPECT_NE(m.find("weights 2 GiB"), std::string::npos) << m;
  }
  opt.memory_estimate_bytes = 1000;
  EXPECT_NO_THROW(train(opt, obj, d.plan, d.eval, quiet(obj)));
  ::unsetenv("SLM_MEMORY_AVAILABLE");
  std::string source;
  EXPECT_GT(memory_available_bytes(&source), 0);
  EXPECT_EQ(source, "MemAvailable in /proc/meminfo");
}

TEST(Trainer, MetricsSurviveATornLastLine) {
  const std::string dir = test::fresh_dir("torn");
  fs::create_directories(dir);
  MetricsLog log(dir + "/m.jsonl");
  MetricsRow r;
  r.step = 1;
  r.loss = 2.5;
  log.append(r);
  r.step = 2;
  r.eval_loss = 2.25;
  log.append(r);
  { std::ofstream(dir + "/m.jsonl", std::ios::app) << "{\"step\": 3, \"lo"; }
  auto rows = read_metrics(dir + "/m.jsonl");
  ASSERT_EQ(rows.size(), size_t(2));
  EXPECT_EQ(rows[1].eval_loss, 2.25);
  EXPECT_EQ(truncate_metrics(dir + "/m.jsonl", 1).size(), size_t(1));
  EXPECT_EQ(read_metrics(dir + "/m.jsonl").size(), size_t(1));
}

}  // namespace
}  // namespace slm
