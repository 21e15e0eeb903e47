// The checked CLI contract `slm perplexity MODEL_OR_EXPORT --data F`: text and chat JSONL on an HF
// directory, the same numbers on a q0f32 export of it, and usage errors. Expected values are computed here
// from the model's logits (exp of the mean cross-entropy), not by models/evaluate.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include "models/chat/example.h"
#include "models/model.h"
#include "tests/cli/run_slm.h"

using namespace slm;
namespace fs = std::filesystem;

namespace {

// Per-process scratch paths: ctest runs this file's tests as parallel processes, and one test's
// remove_all must not pull the model from under another's `slm perplexity`.
std::string scratch(const std::string& name) {
  return ::testing::TempDir() + "/" + name + "_" + std::to_string(::getpid());
}

// The qwen2 fixture (vocab 320) with the tiny ChatML tokenizer (267 ids) beside it.
std::string model_dir() {
  static const std::string d = [] {
    const std::string dir = scratch("slm_cli_ppl_model");
    fs::remove_all(dir);
    fs::create_directories(dir);
    const std::string m = std::string(SLM_FIXTURES) + "/models/qwen2/", t = std::string(SLM_FIXTURES) + "/chat/tiny_tokenizer/";
    for (const char* f : {"config.json", "model.safetensors", "generation_config.json"}) fs::copy_file(m + f, dir + "/" + f);
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) fs::copy_file(t + f, dir + "/" + f);
    return dir;
  }();
  return d;
}

std::string text_file() {
  const std::string p = scratch("slm_cli_ppl") + ".txt";
  std::ofstream(p) << "Does my policy cover water damage? Only sudden and accidental water damage is covered.\n";
  return p;
}

double value_after(const std::string& out, const std::string& label) {
  const size_t p = out.find(label);
  EXPECT_NE(p, std::string::npos) << label << " missing in:\n" << out;
  return p == std::string::npos ? NAN : std::stod(out.substr(p + label.size()));
}

// exp(mean CE) over the targets (mask[t] = 1, or all t >= 1 when the mask is empty), from full forwards.
std::pair<double, int64_t> reference(const std::vector<std::pair<std::vector<int32_t>, std::vector<uint8_t>>>& seqs) {
  auto m = load_model(model_dir());
  const int64_t V = m->config().vocab_size;
  double nll = 0;
  int64_t n = 0;
  for (const auto& [ids, mask] : seqs) {
    KVCache c = m->make_cache(int64_t(ids.size()));
    Tensor l = m->forward(ids, c).contiguous();
    for (size_t t = 1; t < ids.size(); ++t) {
      if (!mask.empty() && !mask[t]) continue;
      const float* row = l.data<float>() + (t - 1) * V;
      double mx = row[0], s = 0;
      for (int64_t i = 0; i < V; ++i) mx = std::max(mx, double(row[i]));
      for (int64_t i = 0; i < V; ++i) s += std::exp(double(row[i]) - mx);
      nll += mx + std::log(s) - row[ids[t]];
      ++n;
    }
  }
  return {std::exp(nll / double(n)), n};
}

}  // namespace

TEST(CliPerplexity, TextScoresEveryTokenAfterTheFirst) {
  SlmRun r = run_slm("perplexity " + model_dir() + " --data " + text_file(), /*stdout_only=*/true);
  ASSERT_EQ(r.status, 0) << r.out;
  Tokenizer tok = Tokenizer::load(model_dir());
  std::ifstream f(text_file());
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto [ppl, n] = reference({{tok.encode(text, true), {}}});
  EXPECT_NEAR(value_after(r.out, "perplexity"), ppl, 1e-5 * ppl);
  EXPECT_EQ(int64_t(value_after(r.out, "tokens")), n);
  EXPECT_NEAR(value_after(r.out, "mean NLL"), std::log(ppl), 1e-5);
}

TEST(CliPerplexity, ChatJsonlScoresOnlyAssistantTokens) {
  const std::string data = std::string(SLM_FIXTURES) + "/chat/sample.jsonl";
  SlmRun r = run_slm("perplexity " + model_dir() + " --data " + data + " --max-len 256 --stride 100", true);
  ASSERT_EQ(r.status, 0) << r.out;
  Tokenizer tok = Tokenizer::load(model_dir());
  ChatTemplate tmpl = ChatTemplate::from_model_dir(model_dir());
  std::vector<std::pair<std::vector<int32_t>, std::vector<uint8_t>>> seqs;
  int64_t all = 0;
  for (const auto& c : read_chat_jsonl(data).conversations) {
    EncodedExample ex = encode_example(tok, tmpl, c);
    ASSERT_LE(ex.ids.size(), 256u);  // one window each, so the full-forward reference applies
    all += int64_t(ex.ids.size()) - 1;
    seqs.push_back({ex.ids, ex.mask});
  }
  auto [ppl, n] = reference(seqs);
  EXPECT_NEAR(value_after(r.out, "perplexity"), ppl, 1e-5 * ppl);
  EXPECT_EQ(int64_t(value_after(r.out, "tokens")), n);
  EXPECT_LT(n, all);
  EXPECT_NE(r.out.find("assistant"), std::string::npos) << r.out;
}

TEST(CliPerplexity, WorksOnAnExportDirectory) {
  const std::string out = scratch("slm_cli_ppl_export");
  fs::remove_all(out);
  SlmRun e = run_slm("export --model " + model_dir() + " --quant q0f32 --out " + out + " --no-verify");
  ASSERT_EQ(e.status, 0) << e.out;
  SlmRun hf = run_slm("perplexity " + model_dir() + " --data " + text_file(), true);
  SlmRun ex = run_slm("perplexity " + out + " --data " + text_file(), true);
  ASSERT_EQ(hf.status, 0) << hf.out;
  ASSERT_EQ(ex.status, 0) << ex.out;
  const double a = value_after(hf.out, "perplexity"), b = value_after(ex.out, "perplexity");
  EXPECT_NEAR(a, b, 1e-5 * a);  // q0f32 keeps every weight
  EXPECT_EQ(value_after(hf.out, "tokens"), value_after(ex.out, "tokens"));
}

TEST(CliPerplexity, UsageErrors) {
  EXPECT_EQ(run_slm("perplexity " + model_dir()).status, 2);                                   // no --data
  EXPECT_EQ(run_slm("perplexity " + model_dir() + " --data " + text_file() + " --max-len 1").status, 2);
  EXPECT_EQ(run_slm("perplexity " + model_dir() + " --data " + text_file() + " --max-len 8 --stride 8").status, 2);
  SlmRun missing = run_slm("perplexity " + model_dir() + " --data /nonexistent.txt");
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.out.find("/nonexistent.txt"), std::string::npos) << missing.out;
  SlmRun help = run_slm("perplexity --help");
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("MODEL_OR_EXPORT --data F"), std::string::npos);
}
