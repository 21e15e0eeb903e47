// slm pretrain --config CONFIG.json --tokenizer DIR --data F[,F…] --out MODEL_DIR [options]
// Full-parameter training of a small model from scratch (the README's embedded default: a tiny Qwen2 trained
// briefly on text the repository carries). Data: .jsonl chat files are rendered with the tokenizer's chat
// template (every token trained), other files are plain text; all of it is cut into --seq-len chunks and
// packed. Training is lora/trainer.h (AdamW, schedule, eval, atomic checkpoints in MODEL_DIR.run/, which a
// re-run with the same options resumes). The result is a complete HF checkpoint directory: config.json,
// model.safetensors (f32), generation_config.json and the tokenizer files.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/progress.h"
#include "cli/verbs.h"
#include "lora/full_objective.h"
#include "lora/trainer.h"
#include "models/chat/dataset.h"
#include "models/chat/template.h"
#include "models/safetensors.h"
#include "models/tokenizer/tokenizer.h"
#include "tensor/error.h"

namespace fs = std::filesystem;

namespace slm::cli {

namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("[pretrain] cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

// Every file as token chunks of at most seq_len, all tokens trained.
std::vector<TrainExample> load_corpus(const std::vector<std::string>& files, const Tokenizer& tok,
                                      const ChatTemplate* tmpl, int64_t seq_len) {
  std::vector<TrainExample> out;
  auto add = [&](const std::vector<int32_t>& ids) {
    for (size_t i = 0; i + 1 < ids.size(); i += size_t(seq_len)) {
      TrainExample e;
      e.ids.assign(ids.begin() + long(i), ids.begin() + long(std::min(ids.size(), i + size_t(seq_len))));
      e.mask.assign(e.ids.size(), 1);
      e.source = int64_t(out.size());
      if (e.ids.size() >= 2) out.push_back(std::move(e));
    }
  };
  for (const std::string& f : files) {
    if (f.size() > 6 && f.substr(f.size() - 6) == ".jsonl") {
      if (!tmpl) throw Error("[pretrain] " + f + " is chat JSONL but the tokenizer has no chat template");
      for (const Conversation& c : read_chat_jsonl(f).conversations) add(tok.encode(tmpl->render(c.messages, false), false));
    } else {
      add(tok.encode(slurp(f), false));
    }
  }
  return out;
}

void write_model_dir(const std::string& dir, const std::string& config_json, const std::string& tokenizer_dir,
                     const WeightMap& weights, const Tokenizer& tok) {
  fs::create_directories(dir);
  NamedTensors tensors(weights.begin(), weights.end());
  safetensors_write(dir + "/model.safetensors", tensors, {{"format", "pt"}});
  std::ofstream(dir + "/config.json") << config_json;
  nlohmann::json gen = {{"_from_model_config", true}};
  const SpecialTokens& sp = tok.special_tokens();
  if (sp.bos_id) gen["bos_token_id"] = *sp.bos_id;
  if (sp.eos_id) gen["eos_token_id"] = *sp.eos_id;
  if (sp.pad_id) gen["pad_token_id"] = *sp.pad_id;
  std::ofstream(dir + "/generation_config.json") << gen.dump(2) << "\n";
  for (const char* f : {"tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json"})
    if (fs::exists(tokenizer_dir + "/" + f))
      fs::copy_file(tokenizer_dir + "/" + f, dir + "/" + f, fs::copy_options::overwrite_existing);
}

}  // namespace

static int run_pretrain(const Args& a) {
  for (const char* req : {"--config", "--tokenizer", "--data", "--out"})
    if (!a.has(req)) throw UsageError{std::string(req) + " is required"};
  const std::string out = a.str("--out"), tok_dir = a.str("--tokenizer");
  const std::string run_dir = a.has("--run-dir") ? a.str("--run-dir") : out + ".run";
  const std::string config_json = slurp(a.str("--config"));
  ModelConfig cfg = parse_config(config_json, a.str("--config"));
  Tokenizer tok = Tokenizer::load(tok_dir);
  std::unique_ptr<ChatTemplate> tmpl;
  try {
    tmpl = std::make_unique<ChatTemplate>(ChatTemplate::from_model_dir(tok_dir));
  } catch (const Error&) {  // plain-text corpora need no template
  }
  const uint64_t seed = uint64_t(a.integer("--seed"));
  const int64_t seq_len = a.integer("--seq-len");
  std::vector<TrainExample> all = load_corpus(split_list(a.str("--data")), tok, tmpl.get(), seq_len);
  if (all.empty()) throw Error("[pretrain] the data holds no text");
  EvalSplit split = split_eval(int64_t(all.size()), a.number("--eval-split"), seed);
  std::vector<TrainExample> train_ex, eval_ex;
  for (int64_t i : split.train) train_ex.push_back(all[size_t(i)]);
  for (int64_t i : split.eval) eval_ex.push_back(all[size_t(i)]);
  BatchOptions bo;
  bo.batch_tokens = a.integer("--batch-tokens");
  bo.seed = seed;
  BatchPlan plan(build_batches(train_ex, bo, true), seed);
  std::vector<Batch> eval_batches = build_batches(eval_ex, bo, false);

  WeightMap weights = init_weights(cfg, seed);
  std::unique_ptr<Model> model = make_model(cfg, ComputeMode::F32, weights);
  FullObjective objective(*model, weights);
  int64_t n_params = 0;
  for (const auto& [name, t] : weights) n_params += t.numel();
  std::fprintf(stderr, "[pretrain] %s, %lld parameters; %zu chunks of <= %lld tokens (%zu held out)\n",
               cfg.model_type.c_str(), (long long)n_params, all.size(), (long long)seq_len, eval_ex.size());

  TrainOptions opt;
  opt.run_dir = run_dir;
  opt.resume = fs::exists(run_dir + "/checkpoints/latest");
  opt.lr = a.number("--lr");
  opt.schedule = LrSchedule::Cosine;
  opt.warmup_ratio = 0.05;
  opt.max_steps = a.integer("--max-steps");
  opt.seed = seed;
  opt.eval_every = a.integer("--eval-every");
  opt.save_every = a.integer("--save-every");
  opt.keep_checkpoints = 2;
  opt.adamw.weight_decay = 0.01;
  uint64_t config_hash = 14695981039346656037ull;  // FNV-1a: settings.json names the config, not its text
  for (unsigned char ch : config_json) config_hash = (config_hash ^ ch) * 1099511628211ull;
  opt.extra_settings = {{"config", a.str("--config")}, {"config_fnv1a", std::to_string(config_hash)},
                        {"data", a.str("--data")}, {"seq_len", seq_len}, {"batch_tokens", bo.batch_tokens}};
  CountProgress bar("[pretrain]", total_train_steps(opt, plan.size()), "steps");
  TrainCallbacks cb;
  cb.save_adapter = [&](const std::string& dir) { write_model_dir(dir, config_json, tok_dir, weights, tok); };
  cb.log = [&bar](const std::string& line) { bar.print(line); };
  cb.on_step = [&bar](const MetricsRow& r, int64_t) {
    char loss[32];
    std::snprintf(loss, sizeof loss, "%.4f", r.loss);
    bar.update(r.step, {{"loss", loss}, {"tok/s", std::to_string(int64_t(r.tokens_per_s))}});
  };
  TrainResult res;
  try {
    res = train(opt, objective, plan, eval_batches, cb);
  } catch (const Error& e) {
    // A leftover run of other options or data cannot be resumed: this verb makes a model from scratch, so
    // start over rather than stop (train refuses before touching any weight).
    if (!opt.resume || std::string(e.what()).find("cannot resume") == std::string::npos) throw;
    std::fprintf(stderr, "[pretrain] %s holds a run of other settings (%s); starting a fresh run\n", run_dir.c_str(),
                 e.what());
    fs::remove_all(run_dir);
    opt.resume = false;
    res = train(opt, objective, plan, eval_batches, cb);
  }
  bar.finish();
  // The final checkpoint the trainer wrote becomes MODEL_DIR (replaced atomically).
  const std::string tmp = out + ".tmp-new";
  fs::remove_all(tmp);
  fs::copy(res.adapter_dir, tmp, fs::copy_options::recursive);
  fs::remove_all(out);
  fs::rename(tmp, out);
  std::printf("pretrained %lld steps; loss %.4f", (long long)res.steps_done, res.last_loss);
  if (res.last_eval_loss) std::printf(", eval loss %.4f", *res.last_eval_loss);
  std::printf("\nmodel: %s\n", out.c_str());
  return 0;
}

Verb make_pretrain_verb() {
  return {"pretrain",
          "--config CONFIG.json --tokenizer DIR --data F[,F…] --out MODEL_DIR [options]",
          "Train a small model from scratch on text / chat JSONL (every weight trained); writes an HF model dir.",
          {},
          {{"--config", "FILE", "config.json of the model to create (any supported family)", ""},
           {"--tokenizer", "DIR", "directory with tokenizer.json (+ tokenizer_config.json for chat JSONL)", ""},
           {"--data", "FILES", "comma-separated .jsonl (chat) or text files", ""},
           {"--out", "DIR", "output model directory (replaced atomically)", ""},
           {"--run-dir", "DIR", "checkpoints, metrics and loss curve (default OUT.run; a re-run resumes)", ""},
           {"--seq-len", "N", "tokens per training chunk", "256"},
           {"--batch-tokens", "N", "token budget of one micro-batch", "2048"},
           {"--max-steps", "N", "optimizer steps", "300"},
           {"--lr", "LR", "peak learning rate (cosine decay after 5 % warm-up)", "3e-3"},
           {"--eval-split", "FRAC", "held-out fraction for eval loss", "0.05"},
           {"--eval-every", "N", "eval loss every N steps", "50"},
           {"--save-every", "N", "checkpoint every N steps", "100"},
           {"--seed", "N", "init, data order and split", "7"}},
          run_pretrain};
}

}  // namespace slm::cli
