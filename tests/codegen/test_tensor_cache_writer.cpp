// TensorCacheWriter streams records from the caller's tensors to the shard files on a background thread
// (tensor_cache.h). Its output must be the bytes the buffered writer it replaced produced: that writer is
// transcribed here as the reference — TVM's TensorCacheShardingManager (apache/tvm python/tvm/contrib/tvmjs.py:
// a pending bytearray, a tensor that would reach the cap gets a shard of its own when it is at least half the
// cap, else the pending shard is written first; shards numbered when written) — and both are run on random
// record sequences (sizes 0 .. past the cap, parts, f32-to-bf16, every in-flight limit, 1-3 writer threads).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <random>

#include "codegen/md5.h"
#include "codegen/tensor_cache.h"
#include "tests/codegen/codegen_test_util.h"

using namespace slm;
using namespace slm::codegen;
using slm::testing_codegen::fresh_dir;
using slm::testing_codegen::read_text;
namespace fs = std::filesystem;

namespace {

struct RefShard {
  std::string path;
  std::string bytes;
  std::vector<std::pair<std::string, uint64_t>> records;  // name, byteOffset
};

// The buffered writer, as TVM's manager: every record's stored bytes are known up front.
struct RefWriter {
  uint64_t cap;
  std::string pending;
  std::vector<std::pair<std::string, uint64_t>> pending_records;
  std::vector<RefShard> shards;

  void write_shard(std::string bytes, std::vector<std::pair<std::string, uint64_t>> recs) {
    shards.push_back({"params_shard_" + std::to_string(shards.size()) + ".bin", std::move(bytes), std::move(recs)});
  }
  void commit() {
    if (pending.empty()) return;
    write_shard(std::move(pending), std::move(pending_records));
    pending.clear();
    pending_records.clear();
  }
  void add(const std::string& name, const std::string& data) {
    if (pending.size() + data.size() >= cap) {
      if (data.size() * 2 >= cap) {
        write_shard(data, {{name, 0}});
        return;
      }
      commit();
    }
    pending_records.push_back({name, pending.size()});
    pending += data;
  }
};

std::string md5_of(const std::string& s) {
  Md5 m;
  m.update(s.data(), s.size());
  return m.hex_digest();
}

struct Rec {
  std::string name, dtype;
  Tensor whole;
  std::vector<Tensor> parts;  // rows of `whole`, or just `whole`
};

// A random record: float16 (raw bytes), float32 (stored as bf16 under f32-to-bf16) or uint32, 0..rows rows.
Rec random_record(std::mt19937& rng, int i, uint64_t cap) {
  Rec r;
  r.name = "model.t" + std::to_string(i) + ".weight";
  const int kind = int(rng() % 3);
  const int64_t cols = 1 + int64_t(rng() % 7);
  const uint64_t target = rng() % 8 == 0 ? 0 : uint64_t(rng() % (cap * 3 / 2));  // bytes: 0 .. past the cap
  const int64_t rows = int64_t(target / (uint64_t(cols) * 4)) + (rng() % 2);
  const DType dt = kind == 0 ? DType::F16 : kind == 1 ? DType::F32 : DType::I32;
  r.dtype = kind == 0 ? "float16" : kind == 1 ? "float32" : "uint32";
  r.whole = Tensor::empty({rows, cols}, dt);
  for (size_t b = 0; b < r.whole.nbytes(); ++b) static_cast<uint8_t*>(r.whole.raw())[b] = uint8_t(rng());
  if (dt == DType::F32)  // finite values, some on bf16 ties
    for (int64_t k = 0; k < r.whole.numel(); ++k)
      r.whole.data<float>()[k] = float(int(rng() % 2001) - 1000) * (rng() % 2 ? 1.0f / 256 : 1.00390625f);
  const int64_t cuts = rows >= 3 ? int64_t(rng() % 3) : 0;
  int64_t row = 0;
  for (int64_t c = 0; c < cuts; ++c) {
    const int64_t n = int64_t(rng() % uint64_t(rows - row));
    r.parts.push_back(r.whole.narrow(0, row, n).contiguous());
    row += n;
  }
  r.parts.push_back(r.whole.narrow(0, row, rows - row).contiguous());
  return r;
}

std::string stored_bytes(const Rec& r, CacheEncoding enc) {
  if (enc == CacheEncoding::F32ToBF16 && r.dtype == "float32") {
    std::string s(size_t(r.whole.numel()) * 2, '\0');
    for (int64_t k = 0; k < r.whole.numel(); ++k) {
      const uint16_t b = tvm_f32_to_bf16(r.whole.data<float>()[k]);
      std::memcpy(&s[size_t(k) * 2], &b, 2);
    }
    return s;
  }
  return std::string(static_cast<const char*>(r.whole.raw()), r.whole.nbytes());
}

TEST(TensorCacheWriter, StreamingOutputEqualsTheBufferedReference) {
  std::mt19937 rng(2026);
  int run = 0;
  for (uint64_t cap : {uint64_t(100), uint64_t(4096)})
    for (CacheEncoding enc : {CacheEncoding::F32ToBF16, CacheEncoding::Raw})
      for (uint64_t inflight : {uint64_t(1), uint64_t(1000), uint64_t(1) << 30})
        for (int threads : {1, 2, 3}) {
          SCOPED_TRACE(testing::Message() << "cap " << cap << " " << encoding_name(enc) << " inflight " << inflight
                                          << " threads " << threads);
          const std::string dir = fresh_dir("stream_" + std::to_string(run++));
          RefWriter ref{cap, {}, {}, {}};
          std::vector<CacheShard> got;
          {
            TensorCacheWriter w(dir, enc, cap, inflight, threads);
            for (int i = 0; i < 60; ++i) {
              const Rec r = random_record(rng, i, cap);
              ref.add(r.name, stored_bytes(r, enc));
              w.add(r.name, r.parts, r.whole.shape(), r.dtype);
            }
            ref.commit();
            got = w.finish({{"ParamSize", 60}});
          }
          ASSERT_EQ(got.size(), ref.shards.size());
          std::set<std::string> files = {"tensor-cache.json"};
          for (size_t s = 0; s < got.size(); ++s) {
            const RefShard& want = ref.shards[s];
            EXPECT_EQ(got[s].data_path, want.path);
            EXPECT_EQ(got[s].nbytes, want.bytes.size());
            EXPECT_EQ(got[s].md5sum, md5_of(want.bytes));
            std::vector<std::pair<std::string, uint64_t>> recs;
            for (const auto& rec : got[s].records) recs.push_back({rec.name, rec.byte_offset});
            EXPECT_EQ(recs, want.records) << want.path;
            EXPECT_TRUE(read_text(dir + "/" + want.path) == want.bytes) << want.path << " bytes differ";
            files.insert(want.path);
          }
          std::set<std::string> on_disk;  // no temporary files left behind
          for (const auto& e : fs::directory_iterator(dir)) on_disk.insert(e.path().filename().string());
          EXPECT_EQ(on_disk, files);
          ASSERT_NO_THROW(TensorCache::open(dir));
        }
}

TEST(TensorCacheWriter, WriteErrorsSurfaceAsErrorsNotHangs) {
  const std::string dir = fresh_dir("missing") + "/not/there";
  for (uint64_t inflight : {uint64_t(1), uint64_t(1) << 30}) {
    TensorCacheWriter w(dir, CacheEncoding::Raw, 64, inflight);
    try {
      for (int i = 0; i < 20; ++i) w.add("t" + std::to_string(i), Tensor::zeros({8}), "float32");
      w.finish({});
      ADD_FAILURE() << "writing into a missing directory succeeded";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("cannot create"), std::string::npos) << e.what();
    }
  }
}

// Without finish() (an error elsewhere in the export) the writer stops at once; whatever it had started is
// not left under a temporary name (the export's staging directory is removed anyway).
TEST(TensorCacheWriter, AbandonedWriterLeavesNoTemporaryFiles) {
  const std::string dir = fresh_dir("abandon");
  {
    TensorCacheWriter w(dir, CacheEncoding::Raw, 100);
    w.add("a", Tensor::zeros({10}), "float32");  // pending, never finished
    w.add("b", Tensor::zeros({30}), "float32");  // 120 bytes: a shard of its own
    w.add("c", Tensor::zeros({5}), "float32");
  }
  for (const auto& e : fs::directory_iterator(dir))
    EXPECT_EQ(e.path().filename().string().rfind("params_shard_", 0), 0u) << e.path();
}

TEST(TensorCacheWriter, PartsMustStackIntoTheRecordShape) {
  const std::string dir = fresh_dir("parts");
  TensorCacheWriter w(dir, CacheEncoding::Raw);
  EXPECT_THROW(w.add("x", {Tensor::zeros({2, 3}), Tensor::zeros({2, 4})}, {4, 3}, "float32"), Error);
  EXPECT_THROW(w.add("y", {Tensor::zeros({2, 3}), Tensor::zeros({2, 3})}, {5, 3}, "float32"), Error);
  EXPECT_THROW(w.add("z", {Tensor::zeros({2, 3}, DType::F16)}, {2, 3}, "float32"), Error);
}

}  // namespace
