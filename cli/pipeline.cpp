// slm pipeline --model BASE_DIR --data F.jsonl --out DIST_DIR [--quant q4f16_1|…|auto] [train options]
// train → merge → export (verified) → the chat page next to the artifacts, each stage run through the same verb
// a user would type (the registry in cli/verbs.cpp), so options, progress and errors are the verbs' own.
// Work goes to DIST_DIR.work/ (run/ with the adapter and checkpoints, merged/); DIST_DIR.work/pipeline.json
// records each finished stage with a hash of its inputs (input files' sizes and mtimes, the options), so a
// re-run skips stages that are up to date and an interrupted training resumes (train --resume).
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/verbs.h"
#include "codegen/conv_template.h"
#include "lora/metrics.h"
#include "tensor/error.h"

namespace fs = std::filesystem;

namespace slm::cli {

namespace {

// Options passed through to `slm train` when given.
const char* kTrainPassThrough[] = {"--eval",     "--eval-split", "--targets",    "--rank",        "--alpha",
                                   "--dropout",  "--lr",         "--epochs",     "--max-steps",   "--max-len",
                                   "--batch-tokens", "--seed",   "--grad-accum", "--compute",     "--eval-every",
                                   "--save-every"};

const char* kTrainFlags[] = {"--rslora", "--grad-checkpoint"};

uint64_t fnv(uint64_t h, const std::string& s) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Identity of files or directories: path, size and modification time of every regular file under them.
uint64_t inputs_hash(const std::vector<std::string>& paths, const std::string& options) {
  uint64_t h = fnv(14695981039346656037ull, options);
  for (const std::string& p : paths) {
    std::vector<fs::path> files;
    if (fs::is_directory(p)) {
      for (const auto& e : fs::recursive_directory_iterator(p))
        if (e.is_regular_file()) files.push_back(e.path());
    } else if (fs::exists(p)) {
      files.push_back(p);
    }
    std::sort(files.begin(), files.end());
    for (const fs::path& f : files) {
      struct stat st {};
      ::stat(f.c_str(), &st);
      h = fnv(h, f.string() + "|" + std::to_string(st.st_size) + "|" + std::to_string(st.st_mtim.tv_sec) + "." +
                     std::to_string(st.st_mtim.tv_nsec));
    }
  }
  return h;
}

int run_verb(const std::string& name, const std::vector<std::string>& argv) {
  for (const Verb& v : all_verbs())
    if (v.name == name) {
      std::string line = "slm " + name;
      for (const auto& a : argv) line += " " + a;
      std::fprintf(stderr, "\n[pipeline] $ %s\n", line.c_str());
      return v.run(parse_args(v, argv));
    }
  throw Error("[pipeline] no verb '" + name + "'");
}

struct State {
  std::string path;
  nlohmann::json j = nlohmann::json::object();
  bool fresh(const std::string& stage, uint64_t h, const std::string& output) const {
    return j.contains(stage) && j[stage].get<std::string>() == std::to_string(h) && fs::exists(output);
  }
  void done(const std::string& stage, uint64_t h) {
    j[stage] = std::to_string(h);
    save();
  }
  void save() const {
    const std::string tmp = path + ".tmp";
    std::ofstream(tmp) << j.dump(1) << "\n";
    fs::rename(tmp, path);
  }
};

double last_eval_loss(const std::string& run_dir) {
  std::ifstream f(run_dir + "/metrics.jsonl");
  double v = std::nan("");
  for (std::string line; std::getline(f, line);) {
    if (line.empty()) continue;
    MetricsRow r = metrics_from_json_line(line, run_dir + "/metrics.jsonl");
    if (r.eval_loss) v = *r.eval_loss;
  }
  return v;
}

uint64_t dir_bytes(const std::string& dir) {
  uint64_t n = 0;
  if (fs::exists(dir))
    for (const auto& e : fs::recursive_directory_iterator(dir))
      if (e.is_regular_file()) n += e.file_size();
  return n;
}

}  // namespace

static int run_pipeline(const Args& a) {
  for (const char* req : {"--model", "--data", "--out"})
    if (!a.has(req)) throw UsageError{std::string(req) + " is required"};
  const std::string base = a.str("--model"), data = a.str("--data"), dist = a.str("--out");
  const std::string work = dist + ".work", run = work + "/run", merged = work + "/merged";
  fs::create_directories(work);
  State st;
  st.path = work + "/pipeline.json";
  if (fs::exists(st.path)) st.j = nlohmann::json::parse(std::ifstream(st.path));

  // 1. train (resumes an interrupted run; skipped when its adapter is up to date)
  std::vector<std::string> targs = {"--model", base, "--data", data};
  std::string topts;
  for (const char* k : kTrainPassThrough)
    if (a.was_given(k)) targs.insert(targs.end(), {k, a.str(k)}), topts += std::string(k) + "=" + a.str(k) + " ";
  for (const char* k : kTrainFlags)
    if (a.was_given(k)) targs.push_back(k), topts += std::string(k) + " ";
  std::vector<std::string> train_inputs = {base, data};
  if (a.was_given("--eval")) train_inputs.push_back(a.str("--eval"));
  const uint64_t h_train = inputs_hash(train_inputs, topts);
  if (st.fresh("train", h_train, run + "/adapter")) {
    std::fprintf(stderr, "[pipeline] train: up to date (%s/adapter)\n", run.c_str());
  } else {
    const bool resumable = st.j.contains("train_started") && st.j["train_started"] == std::to_string(h_train) &&
                           fs::exists(run + "/settings.json");
    if (!resumable) fs::remove_all(run);
    st.j["train_started"] = std::to_string(h_train);
    st.j.erase("train");
    st.save();
    int rc = resumable ? run_verb("train", {"--resume", run}) : [&] {
      std::vector<std::string> v = targs;
      v.insert(v.end(), {"--out", run});
      return run_verb("train", v);
    }();
    if (rc != 0) return rc;
    st.done("train", h_train);
  }
  // 2. merge
  const uint64_t h_merge = inputs_hash({base, run + "/adapter"}, "");
  if (st.fresh("merge", h_merge, merged)) {
    std::fprintf(stderr, "[pipeline] merge: up to date (%s)\n", merged.c_str());
  } else {
    fs::remove_all(merged);
    if (int rc = run_verb("merge", {"--model", base, "--adapter", run + "/adapter", "--out", merged})) return rc;
    st.done("merge", h_merge);
  }
  // 3. export (verification on)
  // Perplexity of the merged model and of its export on the eval file (else the training data).
  const std::string quant = a.str("--quant"), eval_data = a.was_given("--eval") ? a.str("--eval") : data;
  const uint64_t h_export = inputs_hash({merged, eval_data}, quant);
  if (st.fresh("export", h_export, dist + "/quality.json")) {
    std::fprintf(stderr, "[pipeline] export: up to date (%s)\n", dist.c_str());
  } else {
    if (int rc = run_verb("export", {"--model", merged, "--quant", quant, "--out", dist, "--eval-data", eval_data}))
      return rc;
    st.done("export", h_export);
  }
  // 4. the chat page next to the artifacts: the files web/app_files.json lists; the text module's .wasm is a
  // build product (tools/build_wasm -> build/wasm/, beside the slm executable).
  const fs::path web = fs::path(codegen::data_dir()).parent_path() / "web";
  bool page = fs::exists(web / "app_files.json");
  if (page) {
    const fs::path exe_dir = fs::read_symlink("/proc/self/exe").parent_path();
    for (const auto& f : nlohmann::json::parse(std::ifstream(web / "app_files.json"))) {
      const std::string rel = f.get<std::string>();
      fs::path src = web / rel;
      if (!fs::exists(src) && rel == "text/slm_text.wasm") src = exe_dir / "wasm" / "slm_text.wasm";
      if (!fs::exists(src)) {
        std::fprintf(stderr, "[pipeline] page file %s is missing (build it with tools/build); the page is incomplete\n",
                     rel.c_str());
        page = false;
        continue;
      }
      fs::create_directories((fs::path(dist) / rel).parent_path());
      fs::copy_file(src, fs::path(dist) / rel, fs::copy_options::overwrite_existing);
    }
  }

  double before = std::nan("");
  if (fs::exists(run + "/eval_before.json"))
    before = nlohmann::json::parse(std::ifstream(run + "/eval_before.json"))["eval_loss"].get<double>();
  std::printf("\n== slm pipeline summary\n");
  std::printf("eval loss       before tuning %.4f  after %.4f\n", before, last_eval_loss(run));
  std::printf("adapter         %s/adapter\n", run.c_str());
  std::printf("merged model    %s (%.1f MB)\n", merged.c_str(), double(dir_bytes(merged)) / 1e6);
  std::printf("export          %s (%s, %.1f MB)\n", dist.c_str(), quant.c_str(), double(dir_bytes(dist)) / 1e6);
  if (fs::exists(dist + "/quality.json")) {
    const nlohmann::json q = nlohmann::json::parse(std::ifstream(dist + "/quality.json"));
    if (q.contains("eval"))
      std::printf("perplexity      merged %.3f  %s %.3f  on %s (%lld tokens; top-1 agreement %.1f%%)\n",
                  q["eval"]["perplexity_original"].get<double>(), q["quantization"].get<std::string>().c_str(),
                  q["eval"]["perplexity_export"].get<double>(), q["eval"]["file"].get<std::string>().c_str(),
                  (long long)q["eval"]["tokens"].get<int64_t>(), 100.0 * q["eval"]["top1_agreement"].get<double>());
    std::printf("quality report  %s/quality.json\n", dist.c_str());
  }
  if (page)
    std::printf("\nopen the assistant:  slm serve %s\n", dist.c_str());
  else
    std::printf("\nthe chat page could not be written (see above); artifacts are in %s\n", dist.c_str());
  return 0;
}

Verb make_pipeline_verb() {
  std::vector<Option> opts = {{"--model", "BASE_DIR", "base model (HF directory)", ""},
                              {"--data", "F.jsonl", "chat examples of your domain", ""},
                              {"--out", "DIST_DIR", "where the browser artifacts and the page go", ""},
                              {"--quant", "SCHEME", "q4f16_1 | q4f32_1 | q0f16 | q0f32 | auto", "auto"}};
  for (const char* k : kTrainPassThrough) opts.push_back({k, "V", "passed to slm train (see slm train --help)", ""});
  for (const char* k : kTrainFlags) opts.push_back({k, "", "passed to slm train (see slm train --help)", ""});
  return {"pipeline",
          "--model BASE_DIR --data F.jsonl --out DIST_DIR [--quant auto] [train options]",
          "train -> merge -> export -> chat page, skipping stages that are up to date; ends with the serve command.",
          {},
          opts,
          run_pipeline};
}

}  // namespace slm::cli
