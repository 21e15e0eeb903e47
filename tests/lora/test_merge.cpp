// Merge: W' = W + scaling · B A against a plain double-precision reference written here (f32, bf16, f16),
// and adapter_merge's directory contract — every tensor kept in its dtype and file, shards and index kept,
// side files copied, other weight formats skipped, atomic output, mismatch errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "lora/merge.h"
#include "models/model.h"
#include "models/safetensors.h"
#include "tests/lora/test_adapter_util.h"

using namespace slm;
using namespace slm::test;

namespace {

// delta[n][k] = scaling · Σ_j B[n][j] A[j][k] in double.
std::vector<double> reference_delta(const LoraModule& m, int64_t N, int64_t K) {
  const std::vector<float> a = m.A.to_f32_vector(), b = m.B.to_f32_vector();
  std::vector<double> d(size_t(N * K), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) {
      double s = 0;
      for (int64_t j = 0; j < m.r; ++j) s += double(b[size_t(n * m.r + j)]) * double(a[size_t(j * K + k)]);
      d[size_t(n * K + k)] = m.scaling * s;
    }
  return d;
}

LoraModule random_module(int64_t N, int64_t K, int64_t r, double scaling, uint32_t seed) {
  LoraModule m;
  m.r = r;
  m.scaling = scaling;
  m.A = random_tensor({r, K}, seed, 0.1f);
  m.B = random_tensor({N, r}, seed + 1, 0.05f);
  return m;
}

// A copy of the llama fixture's files (+ extra side files) in a temp dir, and a trained-looking adapter for it.
std::string llama_base_with_side_files(const std::string& tag) {
  const std::string dir = temp_dir(tag);
  for (const char* f : {"config.json", "generation_config.json", "model.safetensors"})
    fs::copy_file(model_fixture("llama") + "/" + f, dir + "/" + f);
  write_file(dir + "/tokenizer.json", R"({"version": "1.0"})");
  write_file(dir + "/tokenizer_config.json", R"({"chat_template": "{{ messages }}"})");
  write_file(dir + "/chat_template.jinja", "{{ messages }}");
  write_file(dir + "/pytorch_model.bin", "stale weights in another format");
  fs::create_directories(dir + "/original");
  write_file(dir + "/original/consolidated.pth", "x");
  return dir;
}

std::string trained_adapter(const std::string& model_dir, const std::string& tag, const std::string& targets = "") {
  LoraConfig c;
  c.r = 4;
  c.lora_alpha = 8;
  c.target_modules = lora_targets_from_cli(targets);
  LoraAdapter a = adapter_init(c, table_of(model_dir), 11);
  uint32_t seed = 500;
  for (auto& [module, m] : a.modules) m.B = random_tensor(m.B.shape(), seed++, 0.05f);
  const std::string dir = temp_dir(tag) + "/adapter";
  adapter_save(a, dir);
  return dir;
}

std::vector<std::string> listing(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST(MergeWeight, F32MatchesTheDoubleReference) {
  const int64_t N = 48, K = 80;
  const LoraModule m = random_module(N, K, 8, 2.5, 1);
  const Tensor w = random_tensor({N, K}, 3, 0.02f);
  float max_delta = 0;
  const Tensor out = adapter_merge_weight(w, m, &max_delta);
  ASSERT_EQ(out.dtype(), DType::F32);
  const std::vector<double> d = reference_delta(m, N, K);
  const std::vector<float> wv = w.to_f32_vector(), ov = out.to_f32_vector();
  double err = 0, ref_max = 0, dmax = 0;
  for (size_t i = 0; i < d.size(); ++i) {
    const double ref = double(wv[i]) + d[i];
    err = std::max(err, std::fabs(ov[i] - ref));
    ref_max = std::max(ref_max, std::fabs(ref));
    dmax = std::max(dmax, std::fabs(d[i]));
  }
  std::printf("f32 merge: max |W' - ref| = %.3g (max |W'| %.3g)\n", err, ref_max);
  EXPECT_LE(err, 1e-6 * ref_max);
  EXPECT_NEAR(max_delta, dmax, 1e-6 * dmax);
}

TEST(MergeWeight, HalfPrecisionRoundsOnceFromF32) {
  const int64_t N = 32, K = 64;
  const LoraModule m = random_module(N, K, 4, 2.0, 7);
  for (DType dt : {DType::BF16, DType::F16}) {
    const Tensor w = random_tensor({N, K}, 9, 0.05f).to(dt);
    const Tensor out = adapter_merge_weight(w, m);
    ASSERT_EQ(out.dtype(), dt);
    const std::vector<double> d = reference_delta(m, N, K);
    const std::vector<float> wv = w.to_f32_vector(), ov = out.to_f32_vector();
    int64_t exact = 0, changed = 0;
    for (size_t i = 0; i < d.size(); ++i) {
      // torch: bf16(float(W) + delta_f32), one rounding of the f32 sum to the base dtype.
      const float sum = float(double(wv[i]) + d[i]);
      const float ref = dt == DType::BF16 ? round_bf16(sum) : f16_to_f32(f32_to_f16(sum));
      const float ulp = std::fabs(ref) * (dt == DType::BF16 ? 0x1p-7f : 0x1p-10f);
      ASSERT_LE(std::fabs(ov[i] - ref), ulp) << i;
      exact += ov[i] == ref;
      changed += ov[i] != wv[i];
    }
    EXPECT_GE(exact, int64_t(d.size()) * 99 / 100) << dtype_name(dt);  // the f32 delta differs from double by an ulp
    EXPECT_GT(changed, int64_t(d.size()) / 2) << dtype_name(dt);
  }
}

TEST(MergeWeight, ShapeChecks) {
  const LoraModule m = random_module(8, 16, 2, 1.0, 1);
  expect_error([&] { adapter_merge_weight(Tensor::zeros({8, 15}), m); }, {"lora_A"});
  expect_error([&] { adapter_merge_weight(Tensor::zeros({8}), m); }, {"2-D"});
}

TEST(Merge, WritesACompleteCheckpointDirectory) {
  const std::string base = llama_base_with_side_files("merge_base");
  const std::string adapter_dir = trained_adapter(base, "merge_adapter", "q_proj,down_proj");
  const std::string out = temp_dir("merge_out") + "/merged";
  const MergeSummary s = adapter_merge(base, adapter_dir, out);
  EXPECT_EQ(s.modules_merged, 4);
  EXPECT_GT(s.max_abs_delta, 0);
  EXPECT_EQ(s.dtype, DType::F32);
  EXPECT_EQ(s.weight_files, (std::vector<std::string>{"model.safetensors"}));
  EXPECT_EQ(listing(out), (std::vector<std::string>{"chat_template.jinja", "config.json", "generation_config.json",
                                                    "model.safetensors", "tokenizer.json", "tokenizer_config.json"}));
  for (const char* f : {"config.json", "generation_config.json", "tokenizer.json", "chat_template.jinja"})
    EXPECT_EQ(read_text(out + "/" + f), read_text(base + "/" + f)) << f;
  EXPECT_EQ(listing(fs::path(out).parent_path().string()), (std::vector<std::string>{"merged"}));  // no temp left

  const SafetensorsFile b = SafetensorsFile::open(base + "/model.safetensors");
  const SafetensorsFile o = SafetensorsFile::open(out + "/model.safetensors");
  EXPECT_EQ(o.names(), b.names());
  EXPECT_EQ(o.metadata(), b.metadata());
  const LoraAdapter a = adapter_load(adapter_dir, table_of(base));
  for (const std::string& name : b.names()) {
    const Tensor bt = b.get(name), ot = o.get(name);
    ASSERT_EQ(ot.dtype(), bt.dtype()) << name;
    const std::string module = name.substr(0, name.size() - std::string(".weight").size());
    const Tensor want = a.find(module) ? adapter_merge_weight(bt, *a.find(module)) : bt;
    EXPECT_EQ(std::memcmp(ot.raw(), want.contiguous().raw(), ot.nbytes()), 0) << name;
    if (a.find(module)) {
      EXPECT_NE(std::memcmp(ot.raw(), bt.raw(), ot.nbytes()), 0) << name;
    }
  }
  EXPECT_NO_THROW(load_model(out));  // a valid checkpoint for this config
}

TEST(Merge, ShardedBaseKeepsItsShardsAndIndex) {
  const std::string base = model_fixture("qwen2_bf16_sharded");
  const std::string out = temp_dir("merge_sharded") + "/merged";
  const MergeSummary s = adapter_merge(base, trained_adapter(base, "merge_sharded_adapter"), out);
  EXPECT_EQ(s.modules_merged, 14);
  EXPECT_EQ(s.dtype, DType::BF16);
  EXPECT_EQ(s.weight_files.size(), 7u);
  const std::string index = "model.safetensors.index.json";
  EXPECT_EQ(read_text(out + "/" + index), read_text(base + "/" + index));
  const Checkpoint cb = Checkpoint::open(base), co = Checkpoint::open(out);
  EXPECT_EQ(co.names(), cb.names());
  for (size_t i = 0; i < cb.files().size(); ++i) {
    const SafetensorsFile &fb = cb.files()[i], &fo = co.files()[i];
    EXPECT_EQ(fs::path(fo.name()).filename(), fs::path(fb.name()).filename());
    EXPECT_EQ(fo.names(), fb.names()) << fb.name();
    for (const auto& e : fb.entries()) EXPECT_EQ(fo.find(e.name)->dtype, e.dtype) << e.name;
  }
}

TEST(Merge, OutputIsNewAndInputsMustMatch) {
  const std::string base = model_fixture("llama");
  const std::string adapter_dir = trained_adapter(base, "merge_err_adapter");
  const std::string root = temp_dir("merge_err");
  fs::create_directories(root + "/full");
  write_file(root + "/full/x", "");
  expect_error([&] { adapter_merge(base, adapter_dir, root + "/full"); }, {"--out", "not an empty directory"});
  expect_error([&] { adapter_merge(base, adapter_dir, base); }, {"--out", "same directory"});
  // An adapter for Phi-3 (fused qkv_proj) onto llama, and a llama adapter onto gemma (head_dim 32: o_proj is
  // (64, 128) there, (64, 64) in llama).
  expect_error([&] { adapter_merge(base, lora_fixture("phi3") + "/adapter", root + "/a"); },
               {"gate_up_proj", "not a linear layer"});
  expect_error([&] { adapter_merge(model_fixture("gemma"), adapter_dir, root + "/b"); },
               {"base_model.model.model.layers.0.self_attn.o_proj.lora_A.weight", "[r, 128]", "different base model"});
  expect_error([&] { adapter_merge(base, root + "/none", root + "/c"); }, {"adapter_config.json"});
  EXPECT_EQ(listing(root), (std::vector<std::string>{"full"}));  // failures leave nothing behind
  fs::create_directories(root + "/empty");
  EXPECT_EQ(adapter_merge(base, adapter_dir, root + "/empty").modules_merged, 14);  // an empty dir is replaced
  EXPECT_TRUE(fs::exists(root + "/empty/model.safetensors"));
}
