// Safetensors reader/writer: round trips, byte-identity with the reference writer (golden bytes from
// huggingface/safetensors safetensors/src/tensor.rs tests), and malformed files, each of which must be
// rejected with a message naming the file and the tensor. Checkpoint tests are in test_checkpoint.cpp.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include "models/safetensors.h"
#include "tensor/error.h"
#include "tests/models/safetensors_test_util.h"

using namespace slm;
using namespace slm::test;

namespace {

NamedTensors sample_tensors() {
  NamedTensors v;
  v.emplace_back("w.f32", Tensor::from_f32({1, -2, 3.5f, 4, 5, 6}, {2, 3}));
  v.emplace_back("w.f16", Tensor::from_f32({0.5f, -1, 65504, 1e-3f}, {4}).to(DType::F16));
  v.emplace_back("w.bf16", Tensor::from_f32({1, 2, 3, 4, 5, 6}, {3, 1, 2}).to(DType::BF16));
  v.emplace_back("ids", Tensor::from_i32({7, -8, 9, 2147483647, -2147483647 - 1}, {5}));
  v.emplace_back("scalar", Tensor::from_f32({42}, {}));
  v.emplace_back("empty", Tensor::zeros({0}, DType::F32));
  v.emplace_back("empty.bf16", Tensor::zeros({2, 0, 3}, DType::BF16));
  v.emplace_back("odd.f16", Tensor::from_f32({1, 2, 3}, {3}).to(DType::F16));
  return v;
}

}  // namespace

TEST(Safetensors, RoundTripAllDtypesAndShapes) {
  const std::string path = temp_dir("roundtrip") + "/model.safetensors";
  const NamedTensors in = sample_tensors();
  safetensors_write(path, in, {{"format", "pt"}, {"note", "é \"quoted\"\n"}});
  const SafetensorsFile f = SafetensorsFile::open(path);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.metadata().at("note"), "é \"quoted\"\n");
  ASSERT_EQ(f.entries().size(), in.size());
  for (const auto& [name, t] : in) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(f.has(name));
    const Tensor r = f.get(name);
    EXPECT_EQ(r.dtype(), t.dtype());
    EXPECT_EQ(r.shape(), t.shape());
    ASSERT_EQ(r.nbytes(), t.nbytes());
    if (t.nbytes()) {
      EXPECT_EQ(std::memcmp(r.raw(), t.raw(), t.nbytes()), 0);
    }
    EXPECT_EQ(reinterpret_cast<uintptr_t>(r.raw()) % dtype_size(r.dtype()), 0u);
  }
  EXPECT_EQ(f.get("scalar").dim(), 0);
  EXPECT_EQ(f.get("scalar").item_f32({}), 42.0f);
  EXPECT_EQ(f.names().front(), "empty");
  EXPECT_FALSE(fs::exists(path + ".tmp-" + std::to_string(getpid())));
}

TEST(Safetensors, WriterOrdersLikeTheReference) {
  // Descending dtype alignment (the reference enum order: F32 > I32 > BF16 > F16), then name.
  const std::string bytes = safetensors_serialize(sample_tensors());
  const SafetensorsFile g = SafetensorsFile::parse_from_memory(bytes.data(), bytes.size(), "mem");
  std::vector<std::string> order;
  for (const SafetensorsEntry& e : g.entries()) order.push_back(e.name);
  // Written: F32 {empty, scalar, w.f32}, I32 {ids}, BF16 {empty.bf16, w.bf16}, F16 {odd.f16, w.f16}.
  EXPECT_EQ(order, (std::vector<std::string>{"empty", "scalar", "w.f32", "ids", "empty.bf16", "w.bf16", "odd.f16",
                                             "w.f16"}));
  EXPECT_EQ(g.data_start() % 8, 0u);
}

TEST(Safetensors, GoldenBytesFromTheReference) {
  // tensor.rs test_serialization: {"attn.0": F32 [1, 2, 3] = 0..5}
  const std::vector<float> v{0, 1, 2, 3, 4, 5};
  std::string out = safetensors_serialize({{"attn.0", Tensor::from_f32(v, {1, 2, 3})}});
  std::string expect = le64(64) + R"({"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})";
  expect += std::string(reinterpret_cast<const char*>(v.data()), 24);
  EXPECT_EQ(out, expect);
  // test_serialization_forced_alignement: a shorter name forces 7 padding spaces.
  out = safetensors_serialize({{"attn0", Tensor::from_f32(v, {1, 1, 2, 3})}});
  expect = le64(72) + R"({"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}})" + "       ";
  expect += std::string(reinterpret_cast<const char*>(v.data()), 24);
  EXPECT_EQ(out, expect);
  // test_empty, without and with metadata.
  EXPECT_EQ(safetensors_serialize({}), le64(8) + "{}      ");
  EXPECT_EQ(safetensors_serialize({}, {{"framework", "pt"}}),
            le64(40) + R"({"__metadata__":{"framework":"pt"}})" + "     ");
}

TEST(Safetensors, NonContiguousTensorsAreCopied) {
  const Tensor t = Tensor::from_f32({0, 1, 2, 3, 4, 5}, {2, 3});
  const std::string bytes = safetensors_serialize({{"t", t.transpose(0, 1)}, {"col", t.narrow(1, 1, 1)}});
  const SafetensorsFile f = SafetensorsFile::parse_from_memory(bytes.data(), bytes.size(), "mem");
  EXPECT_EQ(f.get("t").to_f32_vector(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(f.get("t").shape(), (Shape{3, 2}));
  EXPECT_EQ(f.get("col").to_f32_vector(), (std::vector<float>{1, 4}));
}

TEST(Safetensors, TensorsKeepTheMappingAlive) {
  const std::string path = temp_dir("alive") + "/a.safetensors";
  safetensors_write(path, {{"x", Tensor::from_f32({1, 2, 3}, {3})}});
  Tensor x;
  {
    const SafetensorsFile f = SafetensorsFile::open(path);
    x = f.get("x");
    EXPECT_EQ(f.get("x").raw(), x.raw());  // borrowed from the mapping, not copied
  }
  fs::remove(path);
  EXPECT_EQ(x.to_f32_vector(), (std::vector<float>{1, 2, 3}));
}

TEST(Safetensors, MisalignedDataIsCopiedToAlignedMemory) {
  // Header of 13 bytes: data starts at byte 21, misaligned for F32.
  const std::string header = R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const float v[2] = {1.5f, -2.0f};
  const std::string h = header + std::string(1, ' ');  // odd length
  std::string bytes = le64(h.size()) + h + std::string(reinterpret_cast<const char*>(v), 8);
  ASSERT_NE((8 + h.size()) % 4, 0u);
  std::string buf(bytes);  // std::string data is 16-aligned, so the offset decides alignment
  const SafetensorsFile f = SafetensorsFile::parse_from_memory(buf.data(), buf.size(), "odd.safetensors");
  const Tensor x = f.get("x");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(x.raw()) % 4, 0u);
  EXPECT_EQ(x.to_f32_vector(), (std::vector<float>{1.5f, -2.0f}));
}

TEST(Safetensors, UnsupportedDtypeFailsOnlyWhenRead) {
  const std::string header = R"({"pos":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},)"
                             R"("w":{"dtype":"F32","shape":[1],"data_offsets":[16,20]}})";
  const std::string path = write_file(temp_dir("i64") + "/m.safetensors", raw_file(header, 20));
  const SafetensorsFile f = SafetensorsFile::open(path);
  EXPECT_EQ(f.names(), (std::vector<std::string>{"pos", "w"}));
  EXPECT_FALSE(f.find("pos")->supported);
  EXPECT_EQ(f.find("pos")->dtype_name, "I64");
  EXPECT_EQ(f.get("w").numel(), 1);
  expect_error([&] { f.get("pos"); }, {"m.safetensors", "'pos'", "I64", "does not read"});
  expect_error([&] { f.get("nope"); }, {"m.safetensors", "'nope'"});
}

TEST(Safetensors, WriterRejectsBadInput) {
  const std::string dir = temp_dir("writer");
  const Tensor t = Tensor::from_f32({1}, {1});
  expect_error([&] { safetensors_write(dir + "/a.safetensors", {{"x", t}, {"x", t}}); }, {"a.safetensors", "'x'", "twice"});
  expect_error([&] { safetensors_write(dir + "/a.safetensors", {{"__metadata__", t}}); }, {"__metadata__"});
  expect_error([&] { safetensors_write(dir + "/a.safetensors", {{"u", Tensor()}}); }, {"'u'", "undefined"});
  expect_error([&] { safetensors_write(dir + "/a.safetensors", {{"bad\xff", t}}); }, {"UTF-8"});
  expect_error([&] { safetensors_write(dir + "/no/such/dir/a.safetensors", {{"x", t}}); }, {"cannot create"});
  EXPECT_FALSE(fs::exists(dir + "/a.safetensors"));
}

TEST(Safetensors, WriterReplacesAtomically) {
  const std::string path = temp_dir("replace") + "/a.safetensors";
  safetensors_write(path, {{"x", Tensor::from_f32({1}, {1})}});
  const SafetensorsFile before = SafetensorsFile::open(path);
  safetensors_write(path, {{"y", Tensor::from_f32({2, 3}, {2})}});
  EXPECT_TRUE(before.has("x"));  // the old mapping still reads the old (unlinked) file
  EXPECT_EQ(before.get("x").to_f32_vector(), (std::vector<float>{1}));
  EXPECT_EQ(SafetensorsFile::open(path).names(), (std::vector<std::string>{"y"}));
}

TEST(Safetensors, OpenRejectsNonFiles) {
  const std::string dir = temp_dir("nonfile");
  expect_error([&] { SafetensorsFile::open(dir); }, {dir, "is a directory"});
  expect_error([&] { SafetensorsFile::open(dir + "/missing.safetensors"); }, {"missing.safetensors", "cannot open"});
}

// ---- malformed files ------------------------------------------------------------------------------

struct BadCase {
  const char* label;
  std::function<std::string()> bytes;
  std::vector<std::string> expect;  // besides the file name
};

std::ostream& operator<<(std::ostream& o, const BadCase& c) { return o << c.label; }

static std::string tensor(const std::string& dtype, const std::string& shape, const std::string& offsets) {
  return R"({"dtype":")" + dtype + R"(","shape":)" + shape + R"(,"data_offsets":)" + offsets + "}";
}
static std::function<std::string()> header(std::string h, size_t data) {
  return [h, data] { return raw_file(h, data); };
}
static std::function<std::string()> bytes(std::string b) {
  return [b] { return b; };
}

const BadCase kBadCases[] = {
    {"empty_file", bytes(""), {"empty"}},
    {"five_bytes", bytes("abcde"), {"only 5 bytes"}},
    {"lfs_pointer", bytes("version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 12\n"), {"Git LFS pointer"}},
    {"html_page", bytes("<!DOCTYPE html><html>rate limited</html>"), {"HTML page"}},
    {"header_past_file", bytes(le64(1000) + "{}"), {"1000 bytes", "past the file's 10 bytes", "truncated"}},
    {"header_too_large", bytes(le64(uint64_t(1) << 40) + "{}"), {"100 MB limit"}},
    {"header_empty", bytes(le64(0)), {"not valid JSON"}},
    {"invalid_json", header(R"({"w":{"dtype":"F32",)", 0), {"not valid JSON"}},
    {"invalid_utf8", header("{\"w\xff\":1}", 0), {"not valid JSON"}},
    {"json_array", header("[1, 2]", 0), {"JSON array, not an object"}},
    {"json_string", header(R"("hello")", 0), {"JSON string, not an object"}},
    {"nested_too_deep", header(R"({"w":)" + std::string(40, '[') + std::string(40, ']') + "}", 0), {"deeper than 16"}},
    {"duplicate_tensor", header(R"({"w":)" + tensor("F32", "[1]", "[0,4]") + R"(,"w":)" + tensor("F32", "[1]", "[4,8]") + "}", 8),
     {"'w'", "appears twice"}},
    {"duplicate_key", header(R"({"w":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}})", 4),
     {"'dtype'", "appears twice"}},
    {"entry_not_object", header(R"({"w":3})", 0), {"tensor 'w' is a JSON number"}},
    {"missing_dtype", header(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", 4), {"tensor 'w' has no 'dtype'"}},
    {"missing_shape", header(R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", 4), {"tensor 'w' has no 'shape'"}},
    {"missing_offsets", header(R"({"w":{"dtype":"F32","shape":[1]}})", 4), {"tensor 'w' has no 'data_offsets'"}},
    {"dtype_number", header(R"({"w":{"dtype":32,"shape":[1],"data_offsets":[0,4]}})", 4), {"'w'", "dtype is a JSON number"}},
    {"unknown_dtype", header(R"({"w":)" + tensor("Q4_K", "[1]", "[0,4]") + "}", 4), {"'w'", "'Q4_K'", "not a safetensors dtype"}},
    {"shape_string", header(R"({"w":)" + tensor("F32", "\"2x3\"", "[0,24]") + "}", 24), {"'w'", "shape is a JSON string"}},
    {"shape_float", header(R"({"w":)" + tensor("F32", "[2.5]", "[0,8]") + "}", 8), {"'w'", "non-negative integers"}},
    {"shape_negative", header(R"({"w":)" + tensor("F32", "[-1,4]", "[0,16]") + "}", 16), {"'w'", "non-negative integers"}},
    {"shape_extent_huge", header(R"({"w":)" + tensor("U8", "[18446744073709551615]", "[0,1]") + "}", 1),
     {"'w'", "does not fit in 64 bits"}},
    {"shape_overflow", header(R"({"w":)" + tensor("F32", "[4611686018427387904,4]", "[0,4]") + "}", 4),
     {"'w'", "does not fit in 64 bits"}},
    // Empty, but its strides would overflow int64.
    {"shape_empty_overflow", header(R"({"w":)" + tensor("F32", "[0,4611686018427387904,4]", "[0,0]") + "}", 0),
     {"'w'", "does not fit in 64 bits"}},
    {"f4_half_byte", header(R"({"w":)" + tensor("F4", "[3]", "[0,2]") + "}", 2), {"'w'", "do not fill whole bytes"}},
    {"offsets_three", header(R"({"w":)" + tensor("F32", "[1]", "[0,4,8]") + "}", 4), {"'w'", "data_offsets is [0,4,8]"}},
    {"offsets_negative", header(R"({"w":)" + tensor("F32", "[1]", "[-4,0]") + "}", 4), {"'w'", "data_offsets"}},
    {"offsets_object", header(R"({"w":)" + tensor("F32", "[1]", "{}") + "}", 4), {"'w'", "data_offsets"}},
    {"offsets_reversed", header(R"({"w":)" + tensor("F32", "[0]", "[4,0]") + "}", 4), {"'w'", "end before they begin"}},
    {"offsets_wrong_size", header(R"({"w":)" + tensor("F32", "[2,3]", "[0,20]") + "}", 20), {"'w'", "span 20 bytes", "needs 24"}},
    {"offsets_past_end", header(R"({"w":)" + tensor("F32", "[2,3]", "[0,24]") + "}", 16),
     {"tensor 'w' ends at byte 96 past the file's 88 bytes", "truncated"}},
    {"overlap", header(R"({"a":)" + tensor("F32", "[4]", "[0,16]") + R"(,"b":)" + tensor("F32", "[4]", "[8,24]") + "}", 24),
     {"'b'", "overlaps tensor 'a'"}},
    {"gap", header(R"({"a":)" + tensor("F32", "[2]", "[0,8]") + R"(,"b":)" + tensor("F32", "[2]", "[16,24]") + "}", 24),
     {"8 unused bytes", "between tensor 'a' and tensor 'b'"}},
    {"hole_at_start", header(R"({"a":)" + tensor("F32", "[2]", "[8,16]") + "}", 16), {"before the first tensor 'a'"}},
    {"trailing_bytes", header(R"({"a":)" + tensor("F32", "[2]", "[0,8]") + "}", 12), {"4 bytes follow the last tensor"}},
    {"metadata_array", header(R"({"__metadata__":[1]})", 0), {"__metadata__ is a JSON array"}},
    {"metadata_number", header(R"({"__metadata__":{"k":1}})", 0), {"__metadata__ entry 'k' is a JSON number"}},
};

class SafetensorsBad : public testing::TestWithParam<BadCase> {};

TEST_P(SafetensorsBad, RejectedWithFileAndTensorNamed) {
  const BadCase& c = GetParam();
  const std::string name = std::string("bad-") + c.label + ".safetensors";
  const std::string path = write_file(temp_dir("bad") + "/" + name, c.bytes());
  std::vector<std::string> expect = c.expect;
  expect.push_back(name);
  expect_error([&] { SafetensorsFile::open(path); }, expect);
  // The in-memory parser (what the fuzzer drives) gives the same verdict.
  const std::string b = c.bytes();
  expect_error([&] { SafetensorsFile::parse_from_memory(b.data(), b.size(), name); }, expect);
}

INSTANTIATE_TEST_SUITE_P(Malformed, SafetensorsBad, testing::ValuesIn(kBadCases),
                         [](const testing::TestParamInfo<BadCase>& i) { return std::string(i.param.label); });

TEST(Safetensors, AcceptsWhatTheReferenceAccepts) {
  // null metadata (serde's None), unknown extra keys in an entry, tensors listed out of offset order,
  // padding spaces, and empty tensors sharing an offset.
  const std::string h = R"({"__metadata__":null,"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8],"x":1},)"
                        R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                        R"("e1":{"dtype":"BF16","shape":[0],"data_offsets":[4,4]},)"
                        R"("e2":{"dtype":"BF16","shape":[3,0],"data_offsets":[4,4]}}   )";
  const std::string b = raw_file(h, 8);
  const SafetensorsFile f = SafetensorsFile::parse_from_memory(b.data(), b.size(), "ok.safetensors");
  EXPECT_TRUE(f.metadata().empty());
  EXPECT_EQ(f.names(), (std::vector<std::string>{"a", "b", "e1", "e2"}));
  EXPECT_EQ(f.get("e2").shape(), (Shape{3, 0}));
}
