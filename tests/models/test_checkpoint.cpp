// Checkpoint: model.safetensors, sharded checkpoints with model.safetensors.index.json, a lone
// *.safetensors file, and broken directories/indexes, whose errors must name the index, tensor and shard.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "models/safetensors.h"
#include "tensor/error.h"
#include "tests/models/safetensors_test_util.h"

using namespace slm;
using namespace slm::test;

namespace {

const char* const kIndex = "model.safetensors.index.json";

// Two shards: a, b in shard 1 (bf16), c (bf16) and norm (f32) in shard 2.
std::string make_sharded(const std::string& tag) {
  const std::string dir = temp_dir(tag);
  safetensors_write(dir + "/model-00001-of-00002.safetensors",
                    {{"a", Tensor::from_f32({1, 2, 3, 4}, {2, 2}).to(DType::BF16)},
                     {"b", Tensor::from_f32({5, 6}, {2}).to(DType::BF16)}});
  safetensors_write(dir + "/model-00002-of-00002.safetensors",
                    {{"c", Tensor::from_f32({7, 8, 9}, {3}).to(DType::BF16)}, {"norm", Tensor::from_f32({1}, {1})}});
  write_file(dir + "/" + kIndex, R"({"metadata":{"total_size":24},"weight_map":{)"
                                 R"("a":"model-00001-of-00002.safetensors","b":"model-00001-of-00002.safetensors",)"
                                 R"("c":"model-00002-of-00002.safetensors","norm":"model-00002-of-00002.safetensors"}})");
  return dir;
}

}  // namespace

TEST(Checkpoint, SingleFile) {
  const std::string dir = temp_dir("single");
  safetensors_write(dir + "/model.safetensors",
                    {{"model.embed_tokens.weight", Tensor::from_f32({1, 2, 3, 4}, {2, 2})},
                     {"model.norm.weight", Tensor::from_f32({1, 1}, {2})}});
  const Checkpoint c = Checkpoint::open(dir);
  EXPECT_EQ(c.names(), (std::vector<std::string>{"model.embed_tokens.weight", "model.norm.weight"}));
  EXPECT_TRUE(c.has("model.norm.weight"));
  EXPECT_FALSE(c.has("lm_head.weight"));
  EXPECT_EQ(c.get("model.embed_tokens.weight").to_f32_vector(), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(c.dtype(), DType::F32);
  EXPECT_EQ(c.source(), dir + "/model.safetensors");
  // A path to the file itself works too.
  EXPECT_EQ(Checkpoint::open(dir + "/model.safetensors").names().size(), 2u);
}

TEST(Checkpoint, MissingTensorNamesTensorDirAndClosestName) {
  const std::string dir = temp_dir("missing_tensor");
  safetensors_write(dir + "/model.safetensors", {{"model.layers.0.self_attn.q_proj.weight", Tensor::zeros({1})}});
  const Checkpoint c = Checkpoint::open(dir);
  for (auto f : {std::function<void()>([&] { c.get("model.layers.0.self_attn.q_proj.weights"); }),
                 std::function<void()>([&] { c.entry("model.layers.0.self_attn.q_proj.weights"); })})
    expect_error(f, {dir, "'model.layers.0.self_attn.q_proj.weights'",
                     "closest: 'model.layers.0.self_attn.q_proj.weight'", "model_type"});
}

TEST(Checkpoint, ShardedWithIndex) {
  const std::string dir = make_sharded("sharded");
  const Checkpoint c = Checkpoint::open(dir);
  EXPECT_EQ(c.names(), (std::vector<std::string>{"a", "b", "c", "norm"}));
  EXPECT_EQ(c.files().size(), 2u);
  EXPECT_EQ(c.get("c").to_f32_vector(), (std::vector<float>{7, 8, 9}));
  EXPECT_EQ(c.get("a").shape(), (Shape{2, 2}));
  EXPECT_EQ(c.entry("norm").dtype_name, "F32");
  EXPECT_EQ(c.dtype(), DType::BF16);  // 18 bytes of bf16 against 4 of f32
  EXPECT_EQ(c.source(), dir + "/" + kIndex);
}

TEST(Checkpoint, ModelSafetensorsWinsOverIndex) {  // transformers' lookup order
  const std::string dir = make_sharded("both");
  safetensors_write(dir + "/model.safetensors", {{"only", Tensor::zeros({1})}});
  EXPECT_EQ(Checkpoint::open(dir).names(), (std::vector<std::string>{"only"}));
}

TEST(Checkpoint, LoneSafetensorsFile) {
  const std::string dir = temp_dir("lone");
  safetensors_write(dir + "/weights.safetensors", {{"w", Tensor::zeros({2}, DType::F16)}});
  const Checkpoint c = Checkpoint::open(dir);
  EXPECT_EQ(c.names(), (std::vector<std::string>{"w"}));
  EXPECT_EQ(c.dtype(), DType::F16);
  safetensors_write(dir + "/other.safetensors", {{"v", Tensor::zeros({2})}});
  expect_error([&] { Checkpoint::open(dir); }, {dir, "2 .safetensors files", "other.safetensors", kIndex});
}

TEST(Checkpoint, EmptyOrMissingDirectory) {
  const std::string dir = temp_dir("empty_dir");
  expect_error([&] { Checkpoint::open(dir); }, {"no model.safetensors or model.safetensors.index.json in " + dir});
  expect_error([&] { Checkpoint::open(dir + "/nope"); }, {dir + "/nope", "no such directory"});
}

TEST(Checkpoint, IndexPointsToMissingShard) {
  const std::string dir = make_sharded("missing_shard");
  fs::remove(dir + "/model-00002-of-00002.safetensors");
  expect_error([&] { Checkpoint::open(dir); }, {kIndex, "'c'", "'model-00002-of-00002.safetensors'", "missing"});
}

TEST(Checkpoint, IndexMapsTensorAbsentFromShard) {
  const std::string dir = make_sharded("absent_tensor");
  safetensors_write(dir + "/model-00002-of-00002.safetensors", {{"norm", Tensor::from_f32({1}, {1})}});
  expect_error([&] { Checkpoint::open(dir); },
               {kIndex, "tensor 'c'", "'model-00002-of-00002.safetensors'", "has no such tensor"});
}

TEST(Checkpoint, BrokenShardIsNamed) {
  const std::string dir = make_sharded("broken_shard");
  write_file(dir + "/model-00002-of-00002.safetensors", le64(400) + "{}");
  expect_error([&] { Checkpoint::open(dir); }, {"[safetensors]", "model-00002-of-00002.safetensors", "truncated"});
}

TEST(Checkpoint, MalformedIndexes) {
  struct Case {
    const char* text;
    std::vector<std::string> expect;
  };
  const Case cases[] = {
      {R"({"weight_map":)", {"not valid JSON"}},
      {R"([1])", {"JSON array"}},
      {R"({"metadata":{}})", {"no weight_map"}},
      {R"({"weight_map":[]})", {"weight_map is a JSON array"}},
      {R"({"weight_map":{}})", {"weight_map is empty"}},
      {R"({"weight_map":{"a":7}})", {"tensor 'a'", "JSON number"}},
      {R"({"weight_map":{"a":"../model.safetensors"}})", {"tensor 'a'", "'../model.safetensors'", "not a file inside"}},
      {R"({"weight_map":{"a":"/etc/passwd"}})", {"tensor 'a'", "'/etc/passwd'", "not a file inside"}},
      {R"({"weight_map":{"a":""}})", {"tensor 'a'", "not a file inside"}},
      {R"({"weight_map":{"a":"nope.safetensors"}})", {"tensor 'a'", "'nope.safetensors'", "missing"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    const std::string dir = temp_dir("bad_index");
    write_file(dir + "/" + kIndex, c.text);
    std::vector<std::string> expect = c.expect;
    expect.push_back(dir + "/" + kIndex);
    expect_error([&] { Checkpoint::open(dir); }, expect);
  }
}
