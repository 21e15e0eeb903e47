// tensor-cache.json + params_shard_N.bin: TVM's sharding rule, encodings and JSON layout
// (apache/tvm python/tvm/contrib/tvmjs.py dump_tensor_cache), MD5 (RFC 1321 test suite), reading back and
// the reader's errors on damaged caches.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "codegen/md5.h"
#include "codegen/tensor_cache.h"
#include "tests/codegen/codegen_test_util.h"

using namespace slm;
using namespace slm::codegen;
using slm::testing_codegen::fresh_dir;
using slm::testing_codegen::read_text;
using slm::testing_codegen::write_text;

namespace {

std::string md5_of(const std::string& s) {
  Md5 m;
  m.update(s.data(), s.size());
  return m.hex_digest();
}

// RFC 1321 appendix A.5.
TEST(Md5, Rfc1321TestSuite) {
  EXPECT_EQ(md5_of(""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(md5_of("a"), "0cc175b9c0f1b6a831c399e269772661");
  EXPECT_EQ(md5_of("abc"), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(md5_of("message digest"), "f96b697d7cb7938d525a2f31aaf161d0");
  EXPECT_EQ(md5_of("abcdefghijklmnopqrstuvwxyz"), "c3fcd3d76192e4007dfb496cca67e13b");
  EXPECT_EQ(md5_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"),
            "d174ab98d277d9f5a5611c2c9f419d9f");
  const std::string digits = "12345678901234567890123456789012345678901234567890123456789012345678901234567890";
  EXPECT_EQ(md5_of(digits), "57edf4a22be3c955ac49da2e2107b67a");
  Md5 split;  // the same bytes fed in odd pieces
  for (size_t i = 0; i < digits.size(); i += 7) split.update(digits.data() + i, std::min<size_t>(7, digits.size() - i));
  EXPECT_EQ(split.hex_digest(), "57edf4a22be3c955ac49da2e2107b67a");
}

float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// _convert_f32_to_bf16: bits + 0x7FFF + lsb, >> 16 inside (-limit, limit); truncation outside and for NaN.
TEST(TensorCache, TvmBf16RoundingRule) {
  EXPECT_EQ(tvm_f32_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(tvm_f32_to_bf16(from_bits(0x3F808000)), 0x3F80);  // tie, even stays
  EXPECT_EQ(tvm_f32_to_bf16(from_bits(0x3F818000)), 0x3F82);  // tie, odd rounds up
  EXPECT_EQ(tvm_f32_to_bf16(from_bits(0x3F808001)), 0x3F81);  // above the tie
  EXPECT_EQ(tvm_f32_to_bf16(from_bits(0x7F7FFFFF)), 0x7F7F);  // FLT_MAX truncates (no inf)
  EXPECT_EQ(tvm_f32_to_bf16(from_bits(0xFF7FFFFF)), 0xFF7F);
  EXPECT_EQ(tvm_f32_to_bf16(from_bits(0x7F7EFFFF)), 0x7F7F);  // inside the range: rounds up to the limit
  EXPECT_EQ(tvm_f32_to_bf16(from_bits(0x7FC00001)), 0x7FC0);  // NaN truncates
  EXPECT_EQ(tvm_f32_to_bf16(-INFINITY), 0xFF80);
}

Tensor bytes_tensor(int64_t nbytes, uint8_t seed) {  // an F16 tensor of nbytes/2 elements with distinct bytes
  Tensor t = Tensor::empty({nbytes / 2}, DType::F16);
  for (int64_t i = 0; i < nbytes; ++i) static_cast<uint8_t*>(t.raw())[i] = uint8_t(seed + i);
  return t;
}

// TensorCacheShardingManager.append_or_update with cap 100: a(40) b(40) -> pending 80; c(30): 110 >= 100 and
// 60 < 100 -> flush [a, b] as shard 0; d(60): 90 < 100 appended at 30; e(80): 170 >= 100 and 160 >= 100 ->
// shard 1 alone, pending untouched; f(4) appended at 90; finish -> shard 2 [c, d, f].
TEST(TensorCache, ShardsAsTvmDoes) {
  const std::string dir = fresh_dir("shards");
  TensorCacheWriter w(dir, CacheEncoding::Raw, 100);
  const std::vector<std::pair<std::string, int64_t>> adds = {{"a", 40}, {"b", 40}, {"c", 30},
                                                             {"d", 60}, {"e", 80}, {"f", 4}};
  std::map<std::string, Tensor> ts;
  uint8_t seed = 1;
  for (const auto& [n, b] : adds) {
    ts[n] = bytes_tensor(b, seed += 50);
    w.add(n, ts[n], "float16");
  }
  const auto& shards = w.finish({{"ParamSize", 6}});
  ASSERT_EQ(shards.size(), 3u);
  auto names = [](const CacheShard& s) {
    std::vector<std::pair<std::string, uint64_t>> v;
    for (const auto& r : s.records) v.push_back({r.name, r.byte_offset});
    return v;
  };
  using V = std::vector<std::pair<std::string, uint64_t>>;
  EXPECT_EQ(names(shards[0]), (V{{"a", 0}, {"b", 40}}));
  EXPECT_EQ(names(shards[1]), (V{{"e", 0}}));
  EXPECT_EQ(names(shards[2]), (V{{"c", 0}, {"d", 30}, {"f", 90}}));
  EXPECT_EQ(shards[2].data_path, "params_shard_2.bin");
  EXPECT_EQ(shards[2].nbytes, 94u);
  // The shard file is the records' bytes back to back.
  const std::string s2 = read_text(dir + "/params_shard_2.bin");
  ASSERT_EQ(s2.size(), 94u);
  EXPECT_EQ(std::memcmp(s2.data() + 30, ts["d"].raw(), 60), 0);
  EXPECT_EQ(shards[2].md5sum, md5_of(s2));
  // And it reads back.
  TensorCache c = TensorCache::open(dir);
  for (const auto& [n, b] : adds) {
    Tensor t = c.get(n);
    ASSERT_EQ(t.nbytes(), size_t(b));
    EXPECT_EQ(std::memcmp(t.raw(), ts[n].raw(), size_t(b)), 0) << n;
  }
  EXPECT_EQ(c.metadata()["ParamSize"], 6);
}

// The text json.dump(..., indent=4) gives for this cache (made with CPython's json module and hashlib).
TEST(TensorCache, JsonLayoutIsTvms) {
  const std::string dir = fresh_dir("json");
  TensorCacheWriter w(dir, CacheEncoding::F32ToBF16);
  Tensor t = Tensor::empty({2, 2}, DType::F16);
  const uint16_t h[4] = {0x3C00, 0x4000, 0x4200, 0x4400};
  std::memcpy(t.raw(), h, 8);
  w.add("w", t, "float16");
  nlohmann::ordered_json meta;
  meta["ParamSize"] = 1;
  meta["ParamBytes"] = 8.0;
  meta["BitsPerParam"] = 16.0;
  w.finish(meta);
  const std::string want = R"({
    "metadata": {
        "ParamSize": 1,
        "ParamBytes": 8.0,
        "BitsPerParam": 16.0
    },
    "records": [
        {
            "dataPath": "params_shard_0.bin",
            "format": "raw-shard",
            "nbytes": 8,
            "records": [
                {
                    "name": "w",
                    "shape": [
                        2,
                        2
                    ],
                    "dtype": "float16",
                    "format": "f32-to-bf16",
                    "nbytes": 8,
                    "byteOffset": 0
                }
            ],
            "md5sum": "77dfe5cbec66c04ea2a16c2e9d6441b0"
        }
    ]
})";
  EXPECT_EQ(read_text(dir + "/tensor-cache.json"), want);
}

TEST(TensorCache, EncodingsOfFloat32AndUint32) {
  Tensor f = Tensor::from_f32({1.0f, from_bits(0x3F818000), -2.5f}, {3});
  Tensor q = Tensor::from_i32({int32_t(0x89ABCDEFu), 7}, {2});
  for (CacheEncoding enc : {CacheEncoding::F32ToBF16, CacheEncoding::Raw}) {
    const std::string dir = fresh_dir(std::string("enc_") + encoding_name(enc));
    TensorCacheWriter w(dir, enc);
    w.add("f", f, "float32");
    w.add("q", q, "uint32");
    w.finish({});
    TensorCache c = TensorCache::open(dir);
    const CacheRecord* rf = c.find("f");
    ASSERT_NE(rf, nullptr);
    EXPECT_EQ(rf->format, encoding_name(enc));
    EXPECT_EQ(c.find("q")->format, encoding_name(enc));  // MLC writes the same format on every record
    EXPECT_EQ(c.find("q")->dtype, "uint32");
    Tensor gf = c.get("f"), gq = c.get("q");
    EXPECT_EQ(gq.dtype(), DType::I32);
    EXPECT_EQ(uint32_t(gq.data<int32_t>()[0]), 0x89ABCDEFu);
    if (enc == CacheEncoding::F32ToBF16) {
      EXPECT_EQ(rf->nbytes, 6u);  // 2 bytes per float32
      EXPECT_EQ(gf.data<float>()[1], from_bits(0x3F820000));
    } else {
      EXPECT_EQ(rf->nbytes, 12u);
      EXPECT_EQ(gf.data<float>()[1], from_bits(0x3F818000));
    }
    EXPECT_EQ(gf.data<float>()[2], -2.5f);
  }
}

// A small valid cache to damage.
std::string make_cache(const std::string& name) {
  const std::string dir = fresh_dir(name);
  TensorCacheWriter w(dir, CacheEncoding::Raw);
  w.add("model.a.weight", Tensor::from_f32({1, 2, 3, 4, 5, 6}, {2, 3}), "float32");
  w.add("model.b.weight", Tensor::from_f32({7, 8}, {2}), "float32");
  w.finish({});
  return dir;
}

void expect_error(const std::function<void()>& f, const std::vector<std::string>& needles) {
  try {
    f();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    for (const auto& n : needles)
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << "'" << n << "' in: " << e.what();
  }
}

void edit_json(const std::string& dir, const std::function<void(nlohmann::json&)>& f) {
  nlohmann::json j = nlohmann::json::parse(read_text(dir + "/tensor-cache.json"));
  f(j);
  write_text(dir + "/tensor-cache.json", j.dump(4));
}

TEST(TensorCacheErrors, TruncatedShard) {
  const std::string dir = make_cache("trunc");
  std::filesystem::resize_file(dir + "/params_shard_0.bin", 20);
  expect_error([&] { TensorCache::open(dir); }, {"params_shard_0.bin", "truncated", "20 bytes", "32"});
}

TEST(TensorCacheErrors, WrongNbytes) {
  const std::string dir = make_cache("nbytes");
  edit_json(dir, [](auto& j) { j["records"][0]["records"][1]["nbytes"] = 4; });
  expect_error([&] { TensorCache::open(dir); }, {"tensor-cache.json", "model.b.weight", "nbytes is 4", "needs 8"});
}

TEST(TensorCacheErrors, MissingRecord) {
  const std::string dir = make_cache("missing");
  TensorCache c = TensorCache::open(dir);
  expect_error([&] { c.get("model.c.weight"); }, {"tensor-cache.json", "no record 'model.c.weight'"});
}

TEST(TensorCacheErrors, BadJson) {
  const std::string dir = make_cache("badjson");
  std::string t = read_text(dir + "/tensor-cache.json");
  write_text(dir + "/tensor-cache.json", t.substr(0, t.size() / 2));
  expect_error([&] { TensorCache::open(dir); }, {"tensor-cache.json", "not valid JSON"});
}

TEST(TensorCacheErrors, ShapeOrDtypeMismatchNamesTheRecord) {
  const std::string dir = make_cache("mismatch");
  TensorCache c = TensorCache::open(dir);
  expect_error(
      [&] {
        c.get("model.a.weight", {3, 2}, "float32");
      },
      {"model.a.weight", "[2, 3] float32", "[3, 2] float32"});
  expect_error([&] { c.get("model.a.weight", {2, 3}, "float16"); }, {"model.a.weight", "float16"});
}

TEST(TensorCacheErrors, RecordPastShardMissingShardUnknownDtypeDuplicate) {
  std::string dir = make_cache("past");
  edit_json(dir, [](auto& j) { j["records"][0]["records"][1]["byteOffset"] = 28; });
  expect_error([&] { TensorCache::open(dir); }, {"model.b.weight", "past the shard"});
  dir = make_cache("noshard");
  std::filesystem::remove(dir + "/params_shard_0.bin");
  expect_error([&] { TensorCache::open(dir); }, {"params_shard_0.bin", "missing"});
  dir = make_cache("dtype");
  edit_json(dir, [](auto& j) { j["records"][0]["records"][1]["dtype"] = "float8"; });
  expect_error([&] { TensorCache::open(dir); }, {"model.b.weight", "float8"});
  dir = make_cache("dup");
  edit_json(dir, [](auto& j) {
    j["records"][0]["records"][1]["name"] = "model.a.weight";
    j["records"][0]["records"][1]["shape"] = {2};
  });
  expect_error([&] { TensorCache::open(dir); }, {"model.a.weight", "twice"});
  dir = make_cache("escape");
  edit_json(dir, [](auto& j) { j["records"][0]["dataPath"] = "../params_shard_0.bin"; });
  expect_error([&] { TensorCache::open(dir); }, {"dataPath"});
  expect_error([&] { TensorCache::open(fresh_dir("empty")); }, {"no tensor-cache.json"});
}

}  // namespace
