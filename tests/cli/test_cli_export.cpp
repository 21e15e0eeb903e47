// The checked CLI contract of `slm export --model DIR --quant {q4f16_1,q4f32_1,q0f16,q0f32,auto} --out DIR
// [--no-verify]`, and `slm logits` / `slm generate` on the export directory it writes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "codegen/export_verify.h"
#include "models/config.h"
#include "models/safetensors.h"
#include "tests/cli/run_slm.h"

using namespace slm;
namespace fs = std::filesystem;

namespace {

std::string fixture(const std::string& c) { return std::string(SLM_FIXTURES) + "/models/" + c; }

std::string temp(const std::string& name) {
  const std::string d = ::testing::TempDir() + "/slm_cli_export_" + name + "_" + std::to_string(::getpid());
  fs::remove_all(d);
  return d;
}

std::string id_list(const Tensor& t) {
  std::string s;
  for (int64_t i = 0; i < t.numel(); ++i) s += (i ? "," : "") + std::to_string(t.data<int32_t>()[i]);
  return s;
}

bool has(const std::string& out, const std::string& needle) { return out.find(needle) != std::string::npos; }

// No DIR.tmp-* / DIR.old-* left next to `dir`.
bool no_leftovers(const std::string& dir) {
  const fs::path p(dir);
  for (const auto& e : fs::directory_iterator(p.parent_path()))
    if (e.path().filename().string().rfind(p.filename().string() + ".", 0) == 0) return false;
  return true;
}

TEST(CliExport, Q0F32ExportThenLogitsOnTheExportMatchTheHfDir) {
  const std::string out = temp("q0f32");
  SlmRun r = run_slm("export --model " + fixture("qwen3") + " --quant q0f32 --out " + out);
  ASSERT_EQ(r.status, 0) << r.out;
  for (const char* want : {"MB/s", "[verify] calibration", "top-1 agreement", "weight error", "exported"})
    EXPECT_TRUE(has(r.out, want)) << want << "\n" << r.out;
  for (const char* f : {"tensor-cache.json", "params_shard_0.bin", "mlc-chat-config.json"})
    EXPECT_TRUE(fs::exists(out + "/" + f)) << f;
  EXPECT_TRUE(no_leftovers(out));

  SafetensorsFile ref = SafetensorsFile::open(fixture("qwen3") + "/reference.safetensors");
  const std::string ids = id_list(ref.get("input_ids"));
  ASSERT_EQ(run_slm("logits " + out + " --ids " + ids + " --out " + out + "/../ex.safetensors").status, 0);
  ASSERT_EQ(run_slm("logits " + fixture("qwen3") + " --ids " + ids + " --out " + out + "/../hf.safetensors").status, 0);
  Tensor a = SafetensorsFile::open(out + "/../ex.safetensors").get("logits");
  Tensor b = SafetensorsFile::open(out + "/../hf.safetensors").get("logits");
  ASSERT_EQ(a.shape(), b.shape());
  double d = 0;
  for (int64_t i = 0; i < a.numel(); ++i) d = std::max(d, double(std::abs(a.data<float>()[i] - b.data<float>()[i])));
  EXPECT_LE(d, 1e-5);
}

TEST(CliExport, GenerateRunsOnAnExportDirectory) {
  const std::string out = temp("gen");
  ASSERT_EQ(run_slm("export --model " + fixture("gemma2") + " --quant q0f32 --out " + out + " --no-verify").status, 0);
  SafetensorsFile ref = SafetensorsFile::open(fixture("gemma2") + "/reference.safetensors");
  Tensor g = ref.get("greedy_ids");
  std::string want;
  for (int64_t i = 0; i < 8; ++i) want += (i ? " " : "") + std::to_string(g.data<int32_t>()[i]);
  SlmRun r = run_slm("generate " + out + " --ids " + id_list(ref.get("prompt_ids")) + " --max-tokens 8 --ignore-eos",
                     /*stdout_only=*/true);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out.substr(0, r.out.find('\n')), want);
}

TEST(CliExport, AutoPicksQ4F16WhenF16IsSafeAndSaysWhy) {
  const std::string out = temp("auto");
  SlmRun r = run_slm("export --model " + fixture("llama") + " --quant auto --out " + out);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(has(r.out, "--quant auto: q4f16_1")) << r.out;
  std::string cfg;
  {
    std::FILE* f = std::fopen((out + "/mlc-chat-config.json").c_str(), "r");
    ASSERT_NE(f, nullptr);
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) cfg.append(buf, n);
    std::fclose(f);
  }
  EXPECT_TRUE(has(cfg, "\"quantization\": \"q4f16_1\"")) << cfg;
}

// A copy of the qwen2 fixture whose final norm weights are 1e5: logits (and the weight) pass f16's 65504.
std::string overflowing_model() {
  const std::string dir = temp("overflow_model");
  fs::create_directories(dir);
  fs::copy_file(fixture("qwen2") + "/config.json", dir + "/config.json");
  SafetensorsFile f = SafetensorsFile::open(fixture("qwen2") + "/model.safetensors");
  NamedTensors ts;
  for (const auto& n : f.names()) {
    Tensor t = f.get(n).clone();
    if (n == "model.norm.weight")
      for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = 1e5f;
    ts.push_back({n, t});
  }
  safetensors_write(dir + "/model.safetensors", ts);
  return dir;
}

TEST(CliExport, Q4F16StopsWhenActivationsOverflowF16AndAutoSwitchesToQ4F32) {
  const std::string model = overflowing_model();
  const std::string out = temp("overflow");
  SlmRun r = run_slm("export --model " + model + " --quant q4f16_1 --out " + out);
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_TRUE(has(r.out, "q4f32_1")) << r.out;
  EXPECT_TRUE(has(r.out, "65504")) << r.out;
  EXPECT_FALSE(fs::exists(out));
  EXPECT_TRUE(no_leftovers(out));
  r = run_slm("export --model " + model + " --quant auto --out " + out);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(has(r.out, "--quant auto: q4f32_1")) << r.out;
}

// SLM_MEMORY_AVAILABLE stands in for MemAvailable: between the bf16 and the f32 needs verification runs in
// bf16 and says so; below the bf16 need it refuses before writing anything, naming --no-verify.
TEST(CliExport, VerificationUsesBf16WhenF32DoesNotFitAndRefusesBelowThat) {
  const std::string model = fixture("qwen2");
  const ModelConfig cfg = load_config(model);
  int64_t longest = 0;
  for (const auto& p : codegen::verify_prompts(model, cfg.vocab_size)) longest = std::max<int64_t>(longest, p.size());
  const codegen::VerifyPlan plan = codegen::plan_verification(cfg, quant::Scheme::Q4F32_1, longest, 0);
  auto limit = [](uint64_t bytes) { return std::to_string(bytes); };
  const std::string out = temp("memplan");
  ::setenv("SLM_MEMORY_AVAILABLE", limit((plan.need_f32 + plan.need_bf16) / 2).c_str(), 1);
  SlmRun r = run_slm("export --model " + model + " --quant q4f32_1 --out " + out);
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(has(r.out, "[verify] compute mode: bf16")) << r.out;
  EXPECT_TRUE(has(r.out, "(bf16 compute)")) << r.out;
  const std::string out2 = temp("memplan_refused");
  ::setenv("SLM_MEMORY_AVAILABLE", limit(plan.need_bf16 - 4096).c_str(), 1);
  r = run_slm("export --model " + model + " --quant q4f32_1 --out " + out2);
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_TRUE(has(r.out, "cannot verify")) << r.out;
  EXPECT_TRUE(has(r.out, "--no-verify")) << r.out;
  EXPECT_FALSE(fs::exists(out2));
  EXPECT_TRUE(no_leftovers(out2));
  r = run_slm("export --model " + model + " --quant q4f32_1 --out " + out2 + " --no-verify");
  EXPECT_EQ(r.status, 0) << r.out;
  ::unsetenv("SLM_MEMORY_AVAILABLE");
  r = run_slm("export --model " + model + " --quant q4f32_1 --out " + out);
  EXPECT_TRUE(has(r.out, "[verify] compute mode: f32")) << r.out;
}

// `slm info EXPORT_DIR`: the HF directory's family and parameter count, the quantisation, and the shard files
// as they are on disk.
TEST(CliExport, InfoDescribesAnExportDirectory) {
  const std::string out = temp("info");
  ASSERT_EQ(run_slm("export --model " + fixture("qwen2") + " --quant q4f16_1 --out " + out + " --no-verify").status, 0);
  SlmRun hf = run_slm("info " + fixture("qwen2"), true), ex = run_slm("info " + out, true);
  ASSERT_EQ(ex.status, 0) << ex.out;
  auto line = [](const std::string& text, const std::string& key) {
    const size_t at = text.find("\n" + key);
    return at == std::string::npos ? std::string("<no " + key + ">")
                                   : text.substr(at + 1, text.find('\n', at + 1) - at - 1);
  };
  for (const char* key : {"family", "parameters", "layers", "heads", "vocab"})
    EXPECT_EQ(line(ex.out, key), line(hf.out, key));
  EXPECT_TRUE(has(ex.out, "quantization  q4f16_1 (int4, groups of 32")) << ex.out;
  uint64_t files = 0, bytes = 0;
  for (const auto& e : fs::directory_iterator(out))
    if (e.path().filename().string().rfind("params_shard_", 0) == 0) ++files, bytes += fs::file_size(e.path());
  EXPECT_TRUE(has(ex.out, "shards        " + std::to_string(files) + ", " + std::to_string(bytes) + " bytes"))
      << ex.out;
  fs::remove(out + "/params_shard_0.bin");  // a damaged export is an error naming the file, not a crash
  SlmRun bad = run_slm("info " + out);
  EXPECT_EQ(bad.status, 1) << bad.out;
  EXPECT_TRUE(has(bad.out, "params_shard_0.bin")) << bad.out;
}

TEST(CliExport, UsageAndOutputDirectoryErrors) {
  SlmRun r = run_slm("export --model " + fixture("llama") + " --quant q8 --out " + temp("bad"));
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_TRUE(has(r.out, "--quant")) << r.out;
  r = run_slm("export --model " + fixture("llama") + " --out " + temp("bad"));
  EXPECT_EQ(r.status, 2) << r.out;
  // An existing directory that is not an export is never replaced.
  const std::string keep = temp("keep");
  fs::create_directories(keep);
  {
    std::FILE* f = std::fopen((keep + "/notes.txt").c_str(), "w");
    std::fputs("mine", f);
    std::fclose(f);
  }
  r = run_slm("export --model " + fixture("llama") + " --quant q0f16 --out " + keep);
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_TRUE(has(r.out, "refusing")) << r.out;
  EXPECT_TRUE(fs::exists(keep + "/notes.txt"));
  // A previous export is replaced.
  const std::string out = temp("replace");
  ASSERT_EQ(run_slm("export --model " + fixture("llama") + " --quant q0f16 --out " + out + " --no-verify").status, 0);
  r = run_slm("export --model " + fixture("llama") + " --quant q4f32_1 --out " + out + " --no-verify");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_FALSE(has(r.out, "[verify]")) << r.out;
  EXPECT_TRUE(no_leftovers(out));
}

// q4 exports carry the browser kernels with their dispatch program; q0 exports say why they have none;
// `slm kernels` writes the same kernels/ from config.json alone.
TEST(CliExport, Q4ExportsCarryBrowserKernelsAndSlmKernelsWritesTheSame) {
  const std::string q4 = temp("kernels_q4"), q0 = temp("kernels_q0"), only = temp("kernels_only");
  ASSERT_EQ(run_slm("export --model " + fixture("qwen2") + " --quant q4f32_1 --out " + q4 + " --no-verify").status, 0);
  ASSERT_TRUE(fs::exists(q4 + "/kernels/kernels.json"));
  SlmRun r = run_slm("export --model " + fixture("qwen2") + " --quant q0f32 --out " + q0 + " --no-verify");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(has(r.out, "no browser kernels for q0f32")) << r.out;
  EXPECT_FALSE(fs::exists(q0 + "/kernels"));
  r = run_slm("kernels " + fixture("qwen2") + " --quant q4f32_1 --out " + only);
  ASSERT_EQ(r.status, 0) << r.out;
  auto read = [](const std::string& f) {
    std::FILE* h = std::fopen(f.c_str(), "rb");
    std::string s;
    for (int c; h && (c = std::fgetc(h)) != EOF;) s.push_back(char(c));
    if (h) std::fclose(h);
    return s;
  };
  const std::string a = read(q4 + "/kernels/kernels.json"), b = read(only + "/kernels/kernels.json");
  EXPECT_FALSE(a.empty());
  EXPECT_EQ(a, b) << "slm kernels and slm export disagree";
  EXPECT_TRUE(has(a, "\"program\""));
  r = run_slm("kernels " + fixture("qwen2") + " --quant q0f32 --out " + only);
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_TRUE(has(r.out, "q4 schemes")) << r.out;
}

// --eval-data: quality.json's perplexities of the original and the export on a chat file are what
// `slm perplexity` computes on each directory independently.
TEST(CliExport, EvalDataPerplexityInQualityJsonMatchesSlmPerplexity) {
  const std::string hf = temp("eval_hf"), out = temp("eval_out");
  fs::create_directories(hf);
  for (const char* f : {"config.json", "generation_config.json", "model.safetensors"})
    fs::copy_file(fixture("qwen2") + "/" + f, hf + "/" + f);
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
    fs::copy_file(std::string(SLM_FIXTURES) + "/chat/tiny_tokenizer/" + f, hf + "/" + f);
  const std::string data = std::string(SLM_FIXTURES) + "/chat/train_tiny.jsonl";
  SlmRun r = run_slm("export --model " + hf + " --quant q4f32_1 --out " + out + " --eval-data " + data);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(has(r.out, "train_tiny.jsonl (chat): perplexity")) << r.out;
  std::ifstream qf(out + "/quality.json");
  ASSERT_TRUE(qf.good());
  const nlohmann::json q = nlohmann::json::parse(qf);
  auto ppl = [&](const std::string& dir) {
    SlmRun p = run_slm("perplexity " + dir + " --data " + data);
    EXPECT_EQ(p.status, 0) << p.out;
    const size_t at = p.out.rfind("\nperplexity ") + 1;  // the result line, after the settings on stderr
    return std::stod(p.out.substr(p.out.find_first_of("0123456789", at)));
  };
  EXPECT_NEAR(q["eval"]["perplexity_original"].get<double>(), ppl(hf), 1e-5 * ppl(hf));
  EXPECT_NEAR(q["eval"]["perplexity_export"].get<double>(), ppl(out), 1e-5 * ppl(out));
  EXPECT_EQ(q["quantization"], "q4f32_1");
  r = run_slm("export --model " + hf + " --quant q4f32_1 --out " + temp("eval_out2") + " --no-verify --eval-data " + data);
  EXPECT_EQ(r.status, 2) << r.out;
}

}  // namespace
