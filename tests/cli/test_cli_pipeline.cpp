// slm pipeline end to end on the tiny random Qwen2 + tiny tokenizer: train -> merge -> export in one command,
// a re-run skips every stage, and a run killed during training resumes it and ends with the same adapter.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/cli/run_slm.h"

namespace fs = std::filesystem;

namespace {

const std::string kFix = SLM_FIXTURES;

std::string tiny_model() {
  // Copied once per process: the pipeline hashes its inputs by size and mtime, so re-copying would change them.
  static const fs::path dir = [] {
    fs::path d = fs::path(::testing::TempDir()) / ("slm_pipeline_tiny_model_" + std::to_string(::getpid()));
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
  }();
  if (fs::exists(dir / "config.json")) return dir.string();
  for (const std::string src : {kFix + "/models/qwen2", kFix + "/chat/tiny_tokenizer"})
    for (const auto& e : fs::directory_iterator(src))
      fs::copy_file(e.path(), dir / e.path().filename(), fs::copy_options::overwrite_existing);
  return dir.string();
}

std::string fresh(const std::string& name) {
  fs::path d = fs::path(::testing::TempDir()) / name;
  fs::remove_all(d);
  fs::remove_all(d.string() + ".work");
  return d.string();
}

std::string slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

const std::string kOpts = " --data " + kFix + "/chat/train_tiny.jsonl --max-steps 8 --save-every 4 --batch-tokens 512 "
                          "--quant q4f32_1";

TEST(CliPipeline, RunsEveryStageThenSkipsThemWhenUpToDate) {
  const std::string dist = fresh("slm_pipeline_dist");
  SlmRun r = run_slm("pipeline --model " + tiny_model() + " --out " + dist + kOpts);
  ASSERT_EQ(r.status, 0) << r.out;
  for (const char* f : {"/mlc-chat-config.json", "/tensor-cache.json", "/tokenizer.json", "/quality.json",
                        "/kernels/kernels.json", "/index.html"})
    EXPECT_TRUE(fs::exists(dist + f)) << f;
  EXPECT_TRUE(fs::exists(dist + ".work/run/adapter/adapter_model.safetensors"));
  EXPECT_NE(r.out.find("eval loss       before tuning"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("perplexity      merged"), std::string::npos) << r.out;  // fp vs int4 on the data
  SlmRun again = run_slm("pipeline --model " + tiny_model() + " --out " + dist + kOpts);
  ASSERT_EQ(again.status, 0) << again.out;
  for (const char* stage : {"train: up to date", "merge: up to date", "export: up to date"})
    EXPECT_NE(again.out.find(stage), std::string::npos) << stage << "\n" << again.out;
}

TEST(CliPipeline, AKilledTrainingResumesOnTheNextRun) {
  const std::string whole = fresh("slm_pipeline_whole"), killed = fresh("slm_pipeline_killed");
  ASSERT_EQ(run_slm("pipeline --model " + tiny_model() + " --out " + whole + kOpts).status, 0);
  std::string cmd = "env SLM_TEST_KILL_AFTER_STEP=6 " + std::string(SLM_EXE) + " pipeline --model " + tiny_model() +
                    " --out " + killed + kOpts + " >/dev/null 2>&1";
  int st = std::system(cmd.c_str());
  ASSERT_TRUE(WIFSIGNALED(st) || WEXITSTATUS(st) != 0);
  SlmRun r = run_slm("pipeline --model " + tiny_model() + " --out " + killed + kOpts);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("train --resume"), std::string::npos) << r.out;
  EXPECT_EQ(slurp(killed + ".work/run/adapter/adapter_model.safetensors"),
            slurp(whole + ".work/run/adapter/adapter_model.safetensors"));
}

}  // namespace
