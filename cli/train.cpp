// slm train --model DIR --data F.jsonl --out RUN_DIR [options]   (or --resume RUN_DIR)
// LoRA fine-tuning: chat JSONL → rendered with the model's chat template, assistant-only loss masks → packed
// or length-bucketed micro-batches → lora/trainer.h (AdamW, schedule, clipping, accumulation, eval, atomic
// checkpoints, exact resume) over LoraObjective (the model's own forward with adapters). The adapter lands in
// RUN_DIR/adapter/ in PEFT's format. --resume RUN_DIR re-reads the run's saved options (any given again must
// match; the trainer refuses a changed run).
#include <atomic>
#include <csignal>
#include <filesystem>
#include <cstdio>
#include <cstdlib>

#include "cli/common.h"
#include "cli/progress.h"
#include "cli/verbs.h"
#include "lora/adapter.h"
#include "lora/lora_objective.h"
#include "lora/memory_plan.h"
#include "lora/run_state.h"
#include "lora/trainer.h"
#include "models/chat/example.h"
#include "tensor/error.h"

namespace fs = std::filesystem;

namespace slm::cli {

namespace {

std::atomic<bool> g_interrupted{false};
void on_sigint(int) { g_interrupted = true; }

// Options that define the run (saved in settings.json and restored by --resume).
const char* kRunOptions[] = {"--model",  "--data",        "--eval",         "--eval-split",  "--targets",
                             "--rank",   "--alpha",       "--dropout",      "--rslora",      "--lr",
                             "--schedule", "--warmup-ratio", "--warmup-steps", "--weight-decay", "--max-grad-norm",
                             "--grad-accum", "--epochs",   "--max-steps",    "--seed",        "--batch",
                             "--batch-tokens", "--batch-size", "--max-len",  "--eval-every",  "--save-every",
                             "--keep-checkpoints", "--early-stopping", "--load-best", "--grad-checkpoint",
                             "--compute"};

// --resume RUN_DIR: the saved options fill every option not given on this command line.
Args with_saved_options(const Args& given, const std::string& run_dir) {
  nlohmann::json s = read_run_settings(run_dir);
  const nlohmann::json* saved = nullptr;
  if (s.contains("info") && s["info"].contains("cli_args")) saved = &s["info"]["cli_args"];
  if (!saved) throw Error("[train] " + run_dir + "/settings.json has no saved command line; was it made by slm train?");
  Args a = given;
  for (auto it = saved->begin(); it != saved->end(); ++it)
    if (!given.was_given(it.key())) a.values[it.key()] = it.value().get<std::string>();
  return a;
}

std::vector<TrainExample> encode_file(const std::string& path, const Tokenizer& tok, const ChatTemplate& tmpl,
                                      int64_t max_len, PrepareReport* report) {
  ChatDataset ds = read_chat_jsonl(path);
  std::vector<EncodedExample> enc;
  for (const Conversation& c : ds.conversations) enc.push_back(encode_example(tok, tmpl, c));
  return prepare_examples(enc, max_len, report);
}

std::vector<TrainExample> pick(const std::vector<TrainExample>& all, const std::vector<int64_t>& idx) {
  std::vector<TrainExample> out;
  for (int64_t i : idx) out.push_back(all[size_t(i)]);
  return out;
}

}  // namespace

static int run_train(const Args& given) {
  if (given.was_given("--out") == given.was_given("--resume"))
    throw UsageError{"give either --out RUN_DIR (a new run) or --resume RUN_DIR (continue one)"};
  const bool resume = given.was_given("--resume");
  const std::string run_dir = resume ? given.str("--resume") : given.str("--out");
  const Args a = resume ? with_saved_options(given, run_dir) : given;
  for (const char* req : {"--model", "--data"})
    if (!a.has(req)) throw UsageError{std::string(req) + " is required"};
  const std::string model_dir = a.str("--model");
  const int64_t max_len = a.integer("--max-len");
  const uint64_t seed = uint64_t(a.integer("--seed"));

  // Data: render + mask every conversation, then the held-out split (or --eval FILE).
  Tokenizer tok = Tokenizer::load(model_dir);
  ChatTemplate tmpl = ChatTemplate::from_model_dir(model_dir);
  PrepareReport rep, eval_rep;
  std::vector<TrainExample> all = encode_file(a.str("--data"), tok, tmpl, max_len, &rep);
  std::vector<TrainExample> train_ex, eval_ex;
  if (a.has("--eval")) {
    train_ex = all;
    eval_ex = encode_file(a.str("--eval"), tok, tmpl, max_len, &eval_rep);
  } else if (a.number("--eval-split") > 0) {
    EvalSplit split = split_eval(int64_t(all.size()), a.number("--eval-split"), seed);
    train_ex = pick(all, split.train);
    eval_ex = pick(all, split.eval);
  } else {
    train_ex = all;
  }
  std::fprintf(stderr, "[train] data: %s\n", rep.summary().c_str());
  BatchOptions bo;
  bo.mode = parse_batch_mode(a.str("--batch"));
  bo.batch_tokens = a.integer("--batch-tokens");
  bo.batch_size = a.integer("--batch-size");
  bo.seed = seed;
  int64_t longest = 0;
  for (const auto* set : {&train_ex, &eval_ex})
    for (const TrainExample& e : *set) longest = std::max<int64_t>(longest, int64_t(e.ids.size()));
  if (longest > bo.batch_tokens)
    throw UsageError{"--batch-tokens " + std::to_string(bo.batch_tokens) + " is below the longest example (" +
                     std::to_string(longest) + " tokens); raise it or lower --max-len"};
  BatchPlan plan(build_batches(train_ex, bo, true), seed);
  std::vector<Batch> eval_batches = build_batches(eval_ex, bo, false);

  // Adapter and the memory plan, before the weights are loaded.
  const ComputeMode mode = compute_mode(a);
  ModelConfig cfg = load_config(model_dir);
  std::vector<TensorSpec> table = adapter_base_table(cfg);
  LoraConfig lc;
  lc.r = a.integer("--rank");
  lc.lora_alpha = a.number("--alpha");
  lc.lora_dropout = a.number("--dropout");
  lc.use_rslora = a.flag("--rslora");
  lc.target_modules = lora_targets_from_cli(a.str("--targets"));
  lc.base_model_name_or_path = model_dir;
  LoraAdapter adapter = adapter_init(lc, table, seed, cfg.dtype);
  int64_t lora_params = 0;
  for (const auto& [name, m] : adapter.modules) lora_params += m.A.numel() + m.B.numel();
  TrainMemoryPlan mem = plan_training_memory(cfg, mode, bo.batch_tokens, lora_params, lc.r, a.flag("--grad-checkpoint"));

  TrainOptions opt;
  opt.run_dir = run_dir;
  opt.resume = resume;
  opt.lr = a.number("--lr");
  opt.adamw.weight_decay = a.number("--weight-decay");
  opt.schedule = parse_lr_schedule(a.str("--schedule"));
  opt.warmup_steps = a.integer("--warmup-steps");
  opt.warmup_ratio = a.number("--warmup-ratio");
  opt.max_grad_norm = a.number("--max-grad-norm");
  opt.grad_accum = a.integer("--grad-accum");
  opt.epochs = a.integer("--epochs");
  opt.max_steps = a.integer("--max-steps");
  opt.seed = seed;
  opt.eval_every = a.integer("--eval-every");
  opt.save_every = a.integer("--save-every");
  opt.keep_checkpoints = a.integer("--keep-checkpoints");
  opt.early_stopping_patience = a.integer("--early-stopping");
  opt.load_best_at_end = a.flag("--load-best");
  opt.memory_estimate_bytes = int64_t(mem.total());
  opt.memory_estimate_detail = mem.describe();
  opt.extra_settings = {{"model", model_dir},       {"data", a.str("--data")},    {"rank", lc.r},
                        {"alpha", lc.lora_alpha},   {"dropout", lc.lora_dropout}, {"rslora", lc.use_rslora},
                        {"targets", a.str("--targets")}, {"max_len", max_len},    {"batch", a.str("--batch")},
                        {"batch_tokens", bo.batch_tokens}, {"compute", a.str("--compute")},
                        {"grad_checkpoint", a.flag("--grad-checkpoint")}, {"lora_modules", adapter.modules.size()}};
  nlohmann::ordered_json cli_args = nlohmann::ordered_json::object();
  for (const char* k : kRunOptions)
    if (a.has(k)) cli_args[k] = a.str(k);
  opt.extra_info = {{"cli_args", cli_args}, {"memory_plan", mem.describe()}};
  check_memory(opt.memory_estimate_bytes, opt.memory_estimate_detail);

  std::unique_ptr<Model> model = load_model(model_dir, mode);
  LoraObjective objective(*model, adapter, a.flag("--grad-checkpoint"));
  std::fprintf(stderr, "[train] %s: LoRA r=%lld alpha=%g on %zu modules (%lld trainable parameters); %lld train / %lld "
               "eval batches; memory plan %s\n",
               cfg.model_type.c_str(), (long long)lc.r, lc.lora_alpha, adapter.modules.size(), (long long)lora_params,
               (long long)plan.size(), (long long)eval_batches.size(), mem.describe().c_str());
  if (!resume && !eval_batches.empty()) {
    const double before = evaluate_loss(objective, eval_batches);  // B = 0: the base model's own loss
    std::fprintf(stderr, "[train] eval loss before training: %.4f\n", before);
    fs::create_directories(run_dir);
    write_file_atomic(run_dir + "/eval_before.json", nlohmann::json{{"eval_loss", before}}.dump() + "\n");
  }

  CountProgress bar("[train]", total_train_steps(opt, plan.size()), "steps");
  TrainCallbacks cb;
  cb.save_adapter = [&adapter](const std::string& dir) { adapter_save(adapter, dir); };
  cb.log = [&bar](const std::string& line) { bar.print(line); };
  // Test hook: SIGKILL this process right after step N (tests/cli/test_cli_train.cpp checks that resume after
  // a real kill -9 ends with the same adapter bytes as an uninterrupted run).
  const char* kill_env = std::getenv("SLM_TEST_KILL_AFTER_STEP");
  const int64_t kill_after = kill_env ? std::atoll(kill_env) : -1;
  cb.on_step = [&bar, kill_after](const MetricsRow& r, int64_t) {
    if (r.step == kill_after) std::raise(SIGKILL);
    char loss[32], tps[32];
    std::snprintf(loss, sizeof loss, "%.4f", r.loss);
    std::snprintf(tps, sizeof tps, "%.0f", r.tokens_per_s);
    CountProgress::Fields f = {{"loss", loss}, {"tok/s", tps}};
    if (r.eval_loss) {
      char ev[32];
      std::snprintf(ev, sizeof ev, "%.4f", *r.eval_loss);
      f.push_back({"eval", ev});
    }
    bar.update(r.step, f);
  };
  g_interrupted = false;
  std::signal(SIGINT, on_sigint);
  cb.should_stop = [](int64_t) { return g_interrupted.load(); };
  TrainResult res = train(opt, objective, plan, eval_batches, cb);
  std::signal(SIGINT, SIG_DFL);
  bar.finish();
  if (res.stopped) {
    std::printf("interrupted after step %lld of %lld; continue with: slm train --resume %s\n",
                (long long)res.steps_done, (long long)res.total_steps, run_dir.c_str());
    return 130;
  }
  std::printf("trained %lld steps; final loss %.4f", (long long)res.steps_done, res.last_loss);
  if (res.last_eval_loss) std::printf(", eval loss %.4f (best %.4f at step %lld)", *res.last_eval_loss,
                                      *res.best_eval_loss, (long long)res.best_step);
  std::printf("\nadapter: %s\n", res.adapter_dir.c_str());
  return 0;
}

Verb make_train_verb() {
  return {"train",
          "--model DIR --data F.jsonl --out RUN_DIR [options]  |  --resume RUN_DIR",
          "LoRA fine-tuning on chat JSONL; the adapter lands in RUN_DIR/adapter/ (PEFT format).",
          {},
          {{"--model", "DIR", "base model (HF directory)", ""},
           {"--data", "F.jsonl", "training conversations (messages / conversations / prompt+completion)", ""},
           {"--out", "RUN_DIR", "run directory of a new run (must not hold another run)", ""},
           {"--resume", "RUN_DIR", "continue the run in RUN_DIR exactly where it stopped", ""},
           {"--eval", "F.jsonl", "held-out conversations (instead of --eval-split)", ""},
           {"--eval-split", "FRAC", "fraction of --data held out for eval loss; 0 = none", "0.1"},
           {"--targets", "NAMES", "modules to adapt: q_proj,k_proj,… | all-linear | re:REGEX", "all-linear"},
           {"--rank", "R", "LoRA rank", "16"},
           {"--alpha", "A", "LoRA alpha (scaling alpha/r)", "32"},
           {"--dropout", "P", "LoRA dropout", "0.05"},
           {"--rslora", "", "rank-stabilised scaling alpha/sqrt(r)", ""},
           {"--lr", "LR", "peak learning rate", "2e-4"},
           {"--schedule", "NAME", "cosine | linear | constant (after warm-up)", "cosine"},
           {"--warmup-ratio", "FRAC", "warm-up steps as a fraction of all steps", "0.03"},
           {"--warmup-steps", "N", "warm-up steps (wins over --warmup-ratio when > 0)", "0"},
           {"--weight-decay", "WD", "AdamW decoupled weight decay", "0"},
           {"--max-grad-norm", "N", "clip gradients to this global norm; 0 = off", "1.0"},
           {"--grad-accum", "N", "micro-batches per optimizer step", "1"},
           {"--epochs", "N", "passes over the training data", "3"},
           {"--max-steps", "N", "stop after N optimizer steps (overrides --epochs)", "0"},
           {"--seed", "N", "seed of init, data order, eval split and dropout", "42"},
           {"--batch", "MODE", "packed | bucketed", "packed"},
           {"--batch-tokens", "N", "token budget of one micro-batch", "2048"},
           {"--batch-size", "N", "bucketed: most examples per micro-batch; 0 = budget only", "0"},
           {"--max-len", "N", "truncate examples to N tokens; 0 = no limit", "1024"},
           {"--eval-every", "N", "eval loss every N steps (and at the end); 0 = end only", "20"},
           {"--save-every", "N", "checkpoint every N steps (and at the end); 0 = end only", "50"},
           {"--keep-checkpoints", "N", "keep the newest N checkpoints (plus the best); 0 = all", "3"},
           {"--early-stopping", "N", "stop after N evals without improvement; 0 = off", "0"},
           {"--load-best", "", "RUN_DIR/adapter from the best eval instead of the last step", ""},
           {"--grad-checkpoint", "", "recompute each layer in the backward pass (less memory)", ""},
           compute_option()},
          run_train};
}

}  // namespace slm::cli
