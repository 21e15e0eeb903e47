// The checked CLI contract: slm info / logits / generate, --help, and usage errors.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>
#include <algorithm>
#include <sys/wait.h>

#include "models/safetensors.h"
#include "tests/cli/run_slm.h"

using namespace slm;

namespace {

using CliRun = SlmRun;
CliRun run(const std::string& args) { return run_slm(args); }

std::string fixture(const std::string& c) { return std::string(SLM_FIXTURES) + "/models/" + c; }

TEST(Cli, InfoShowsTheModel) {
  CliRun r = run("info " + fixture("gemma3_text"));
  ASSERT_EQ(r.status, 0) << r.out;
  for (const char* want : {"gemma3_text", "parameters", "layers        6 (4 sliding-window)", "vocab         320",
                           "context       256", "head_dim 32"})
    EXPECT_NE(r.out.find(want), std::string::npos) << want << "\n" << r.out;
}

TEST(Cli, LogitsWritesOneF32TensorMatchingTheForward) {
  std::string out = ::testing::TempDir() + "/slm_cli_logits.safetensors";
  SafetensorsFile ref = SafetensorsFile::open(fixture("qwen3") + "/reference.safetensors");
  Tensor ids = ref.get("input_ids");
  std::string list;
  for (int64_t i = 0; i < ids.numel(); ++i) list += (i ? "," : "") + std::to_string(ids.data<int32_t>()[i]);
  CliRun r = run("logits " + fixture("qwen3") + " --ids " + list + " --out " + out);
  ASSERT_EQ(r.status, 0) << r.out;
  SafetensorsFile f = SafetensorsFile::open(out);
  ASSERT_EQ(f.names(), std::vector<std::string>{"logits"});
  Tensor got = f.get("logits"), want = ref.get("logits");
  EXPECT_EQ(got.dtype(), DType::F32);
  ASSERT_EQ(got.shape(), want.shape());
  double d = 0;
  for (int64_t i = 0; i < got.numel(); ++i)
    d = std::max(d, double(std::abs(got.data<float>()[i] - want.data<float>()[i])));
  EXPECT_LT(d, 1e-3);
}

TEST(Cli, GenerateGreedyPrintsHfTokens) {
  SafetensorsFile ref = SafetensorsFile::open(fixture("gemma2") + "/reference.safetensors");
  Tensor p = ref.get("prompt_ids"), g = ref.get("greedy_ids");
  std::string prompt, want;
  for (int64_t i = 0; i < p.numel(); ++i) prompt += (i ? "," : "") + std::to_string(p.data<int32_t>()[i]);
  for (int64_t i = 0; i < 10; ++i) want += (i ? " " : "") + std::to_string(g.data<int32_t>()[i]);
  CliRun r = run("generate " + fixture("gemma2") + " --ids " + prompt + " --max-tokens 10 --ignore-eos");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out.substr(0, r.out.find('\n')), want) << r.out;
}

TEST(Cli, GenerateStopsAtEosUnlessIgnored) {
  // llama3_scaled's generation_config.json lists eos [2, 5]; force an eos by sampling over a
  // one-token nucleus is not possible, so check the flag plumbing: with --ignore-eos exactly N tokens.
  CliRun r = run("generate " + fixture("llama3_scaled") + " --ids 7,8,9 --max-tokens 5 --ignore-eos");
  ASSERT_EQ(r.status, 0) << r.out;
  std::string line = r.out.substr(0, r.out.find('\n'));
  EXPECT_EQ(std::count(line.begin(), line.end(), ' '), 4) << line;
}

TEST(Cli, SamplingIsSeeded) {
  std::string args = "generate " + fixture("qwen2") + " --ids 5,6,7 --max-tokens 12 --temperature 1.5 --top-k 50 "
                     "--top-p 0.95 --seed ";
  CliRun a = run(args + "1"), b = run(args + "1"), c = run(args + "2");
  ASSERT_EQ(a.status, 0) << a.out;
  auto first_line = [](const std::string& s) { return s.substr(0, s.find('\n')); };
  EXPECT_EQ(first_line(a.out), first_line(b.out));
  EXPECT_NE(first_line(a.out), first_line(c.out));
}

TEST(Cli, EveryVerbHasHelp) {
  for (const char* v : {"info", "logits", "generate"}) {
    CliRun r = run(std::string(v) + " --help");
    EXPECT_EQ(r.status, 0) << v;
    EXPECT_NE(r.out.find(std::string("usage: slm ") + v), std::string::npos) << r.out;
  }
  EXPECT_EQ(run("--help").status, 0);
}

TEST(Cli, WrongArgumentsPrintUsageAndFail) {
  for (const std::string& args : std::vector<std::string>{"generate", "generate " + fixture("qwen2"),
                                  "generate " + fixture("qwen2") + " --ids 1,x", "logits " + fixture("qwen2") + " --ids 1",
                                  "info", "info a b", "generate " + fixture("qwen2") + " --ids 1 --bogus",
                                  "generate " + fixture("qwen2") + " --ids 1 --top-p 0"}) {
    CliRun r = run(args);
    EXPECT_EQ(r.status, 2) << args << "\n" << r.out;
    EXPECT_NE(r.out.find("usage: slm"), std::string::npos) << args << "\n" << r.out;
  }
  CliRun r = run("frobnicate");
  EXPECT_NE(r.status, 0);
}

TEST(Cli, BadInputsGiveErrorsNotCrashes) {
  CliRun r = run("info /nonexistent/dir");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("config.json"), std::string::npos) << r.out;
  r = run("generate " + fixture("qwen2") + " --ids 1,99999");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("99999"), std::string::npos) << r.out;
}

}  // namespace
