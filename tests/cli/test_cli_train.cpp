// slm train / slm grad end to end on the tiny random Qwen2 with the tiny tokenizer (tests/fixtures/chat/):
// a short real training run lowers the eval loss; a run killed with SIGKILL mid-way and resumed ends with the
// same adapter bytes as an uninterrupted run; slm grad writes PEFT-named gradients equal to the fixture's.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "models/safetensors.h"
#include "tests/cli/run_slm.h"

namespace fs = std::filesystem;

namespace {

const std::string kFix = SLM_FIXTURES;
const std::string kData = kFix + "/chat/train_tiny.jsonl";

std::string tiny_model() {
  fs::path dir = fs::path(::testing::TempDir()) / ("slm_train_tiny_model_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  for (const std::string src : {kFix + "/models/qwen2", kFix + "/chat/tiny_tokenizer"})
    for (const auto& e : fs::directory_iterator(src))
      fs::copy_file(e.path(), dir / e.path().filename(), fs::copy_options::overwrite_existing);
  return dir.string();
}

std::string fresh_dir(const std::string& name) {
  fs::path d = fs::path(::testing::TempDir()) / name;
  fs::remove_all(d);
  return d.string();
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The value after `key` in the first line of `text` that contains it, or NaN.
double number_after(const std::string& text, const std::string& key) {
  size_t p = text.find(key);
  return p == std::string::npos ? std::nan("") : std::stod(text.substr(p + key.size()));
}

const std::string kTrainArgs = " --data " + kData + " --max-steps 12 --save-every 4 --eval-every 4 --lr 3e-3"
                               " --batch-tokens 512 --dropout 0.1";

TEST(CliTrain, EvalLossGoesDown) {
  const std::string run = fresh_dir("slm_train_down");
  SlmRun r = run_slm("train --model " + tiny_model() + " --out " + run + kTrainArgs);
  ASSERT_EQ(r.status, 0) << r.out;
  const double before = number_after(r.out, "eval loss before training: ");
  const double after = number_after(r.out, ", eval loss ");
  EXPECT_LT(after, before - 0.3) << r.out;
  EXPECT_TRUE(fs::exists(run + "/adapter/adapter_config.json"));
  EXPECT_TRUE(fs::exists(run + "/adapter/adapter_model.safetensors"));
  EXPECT_TRUE(fs::exists(run + "/metrics.jsonl"));
  EXPECT_TRUE(fs::exists(run + "/loss.svg"));
  EXPECT_TRUE(fs::exists(run + "/settings.json"));
}

TEST(CliTrain, KilledAndResumedEqualsUninterrupted) {
  const std::string model = tiny_model();
  const std::string whole = fresh_dir("slm_train_whole"), killed = fresh_dir("slm_train_killed");
  ASSERT_EQ(run_slm("train --model " + model + " --out " + whole + kTrainArgs).status, 0);
  // The kill: a real SIGKILL after step 10 (two steps past the step-8 checkpoint), via the CLI's test hook.
  std::string cmd = "env SLM_TEST_KILL_AFTER_STEP=10 " + std::string(SLM_EXE) + " train --model " + model +
                    " --out " + killed + kTrainArgs + " >/dev/null 2>&1";
  int st = std::system(cmd.c_str());
  ASSERT_TRUE(WIFSIGNALED(st) || WEXITSTATUS(st) != 0) << "the run was not killed";
  EXPECT_FALSE(fs::exists(killed + "/adapter"));
  SlmRun resumed = run_slm("train --resume " + killed);
  ASSERT_EQ(resumed.status, 0) << resumed.out;
  EXPECT_EQ(slurp(killed + "/adapter/adapter_model.safetensors"), slurp(whole + "/adapter/adapter_model.safetensors"));
  EXPECT_EQ(slurp(killed + "/adapter/adapter_config.json"), slurp(whole + "/adapter/adapter_config.json"));
}

TEST(CliTrain, ResumeRefusesAChangedRunAndNewRunRefusesAnOldDir) {
  const std::string model = tiny_model(), run = fresh_dir("slm_train_refuse");
  ASSERT_EQ(run_slm("train --model " + model + " --out " + run + kTrainArgs).status, 0);
  SlmRun again = run_slm("train --model " + model + " --out " + run + kTrainArgs);
  EXPECT_NE(again.status, 0) << again.out;
  SlmRun changed = run_slm("train --resume " + run + " --rank 4");
  EXPECT_NE(changed.status, 0) << changed.out;
  EXPECT_EQ(run_slm("train --model " + model + " --data " + kData).status, 2);  // no --out / --resume
}

TEST(CliTrain, MemoryPlanThatCannotFitIsRefused) {
  std::string cmd = "env SLM_MEMORY_AVAILABLE=1024 " + std::string(SLM_EXE) + " train --model " + tiny_model() +
                    " --out " + fresh_dir("slm_train_mem2") + kTrainArgs + " 2>&1";
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p.get())) > 0) out.append(buf, n);
  EXPECT_NE(WEXITSTATUS(pclose(p.release())), 0);
  EXPECT_NE(out.find("GiB"), std::string::npos) << out;  // the estimate is in the message
}

TEST(CliGrad, WritesPeftNamedGradientsEqualToTheFixture) {
  const std::string c = kFix + "/lora/phi3";
  const std::string out = fresh_dir("slm_grad_phi3.safetensors");
  slm::SafetensorsFile ref = slm::SafetensorsFile::open(c + "/reference.safetensors");
  slm::Tensor ids = ref.get("input_ids").contiguous();
  std::string list;
  for (int64_t i = 0; i < ids.numel(); ++i) list += (i ? "," : "") + std::to_string(ids.data<int32_t>()[i]);
  const int mask_before = ref.get("mask_before").contiguous().data<int32_t>()[0];
  SlmRun r = run_slm("grad --model " + kFix + "/models/phi3 --adapter " + c + "/adapter --ids " + list +
                     " --mask-before " + std::to_string(mask_before) + " --out " + out);
  ASSERT_EQ(r.status, 0) << r.out;
  slm::SafetensorsFile got = slm::SafetensorsFile::open(out);
  EXPECT_NEAR(got.get("loss").item_f32({0}), ref.get("loss").item_f32({0}), 1e-4);
  size_t n = 0;
  for (const std::string& name : got.names()) {
    if (name == "loss") continue;
    ASSERT_TRUE(ref.has("grad." + name)) << name;
    std::vector<float> a = got.get(name).to_f32_vector(), b = ref.get("grad." + name).to_f32_vector();
    double d = 0, m = 1e-12;
    for (size_t i = 0; i < a.size(); ++i) d = std::max(d, double(std::abs(a[i] - b[i]))), m = std::max(m, double(std::abs(b[i])));
    EXPECT_LE(d / m, 2e-3) << name;
    ++n;
  }
  EXPECT_EQ(n, 16u);
  EXPECT_EQ(run_slm("grad --model " + kFix + "/models/phi3 --adapter " + c + "/adapter --ids 1,2 --out " + out).status,
            2);  // --mask-before missing
}

}  // namespace

namespace {

TEST(CliLogits, AdapterOptionGivesPeftsLogits) {
  const std::string c = kFix + "/lora/slm_trained/qwen2";
  slm::Tensor ids = slm::SafetensorsFile::open(c + "/slm_logits.safetensors").get("input_ids").contiguous();
  std::string list;
  for (int64_t i = 0; i < ids.numel(); ++i) list += (i ? "," : "") + std::to_string(ids.data<int32_t>()[i]);
  const std::string out = fresh_dir("slm_logits_adapter.safetensors");
  SlmRun r = run_slm("logits " + kFix + "/models/qwen2 --ids " + list + " --adapter " + c + "/adapter --out " + out);
  ASSERT_EQ(r.status, 0) << r.out;
  std::vector<float> a = slm::SafetensorsFile::open(out).get("logits").to_f32_vector();
  std::vector<float> b = slm::SafetensorsFile::open(c + "/peft_logits.safetensors").get("logits").to_f32_vector();
  ASSERT_EQ(a.size(), b.size());
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, double(std::abs(a[i] - b[i])));
  EXPECT_LE(d, 1e-5);
}

}  // namespace
