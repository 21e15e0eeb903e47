// WebLLM's weight format: tensor-cache.json + params_shard_N.bin, written and read back.
// Writer: the byte layout, sharding rule, record fields and key order of TVM's dump_tensor_cache
// (apache/tvm @ 5d4dc87 python/tvm/contrib/tvmjs.py: TensorCacheShardingManager, _convert_f32_to_bf16),
// which MLC's convert_weight calls with encode_format="f32-to-bf16" and the default 32 MiB shard cap.
// Reader: what WebLLM's runtime accepts (web/src/artifact_cache.ts getTensorCacheRecordBytes,
// web/emcc/wasm_runtime.cc ArrayDecodeStorage), validated up front with errors naming file and record.
// Not here: which tensors an export holds (mlc_layout.h) or the directory's atomic rename (export verb).
// Facts and sources: ../shared/docs/webllm-format.md §3.
#pragma once
#include <cstdint>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "tensor/tensor.h"

namespace slm::codegen {

// The record "format". F32ToBF16 is MLC's: the string is written on every record, and float32 tensors are
// stored as bf16 (2 bytes each). Raw stores every tensor as is (float32 keeps its 4 bytes).
enum class CacheEncoding { F32ToBF16, Raw };
const char* encoding_name(CacheEncoding e);

constexpr uint64_t kShardCapBytes = uint64_t(32) << 20;  // dump_tensor_cache(shard_cap_mb=32)

struct CacheRecord {
  std::string name;
  Shape shape;
  std::string dtype;         // TVM dtype string: float32, float16, bfloat16, uint32, int32
  std::string format;        // "f32-to-bf16" | "raw"
  uint64_t nbytes = 0;       // as stored
  uint64_t byte_offset = 0;  // inside the shard
};

struct CacheShard {
  std::string data_path;  // "params_shard_0.bin", relative to the directory of tensor-cache.json
  uint64_t nbytes = 0;
  std::vector<CacheRecord> records;
  std::string md5sum;
};

// TVM's f32 -> bf16 for the cache: round to nearest even inside bf16's finite range, truncation outside
// (and for NaN). Not slm's f32_to_bf16 (which keeps NaN quiet and rounds overflow to inf).
uint16_t tvm_f32_to_bf16(float f);
// Flushes every file of `dir` and the directory itself to disk (fsync each): the export calls it once before
// renaming its staging directory. TensorCacheWriter starts each shard's writeback when the shard is complete,
// so this mostly waits for writes already under way. Not syncfs: that would also wait for every other
// process's dirty data on the same filesystem.
void sync_to_disk(const std::string& dir);
// Bytes a record of `dtype`/`format` with `numel` elements occupies.
uint64_t record_nbytes(const std::string& dtype, const std::string& format, int64_t numel);

// Writes shards into `dir` (an existing directory; the export writes into a staging directory it renames),
// sharding as TensorCacheShardingManager: a tensor that would fill the pending shard to the cap goes to a
// shard of its own when it is at least half the cap (without flushing the pending one), else flushes the
// pending shard first; shard numbers are assigned when a shard is written.
// The bytes go straight from the given tensors to the shard files on background threads (f32-to-bf16
// encoding, MD5 and write() in one pass per record, no shard-sized buffer), so the caller quantises the next
// tensors meanwhile. Each shard belongs to one of `threads` writers (the least busy when its first record
// comes), so the MD5s of consecutive shards — the serial part of the export — run side by side; at most
// `max_inflight` bytes of records wait. A shard is built under a temporary name and renamed to
// params_shard_N.bin once numbered; its writeback to disk is started when it is complete.
class TensorCacheWriter {
 public:
  TensorCacheWriter(std::string dir, CacheEncoding enc, uint64_t shard_cap = kShardCapBytes,
                    uint64_t max_inflight = uint64_t(256) << 20, int threads = 2);
  ~TensorCacheWriter();  // stops the background thread; without finish() the shard files are incomplete
  TensorCacheWriter(const TensorCacheWriter&) = delete;
  TensorCacheWriter& operator=(const TensorCacheWriter&) = delete;

  // `dtype` is the TVM dtype string; an I32 tensor may be written as "uint32" (MLC's q_weight words).
  void add(const std::string& name, const Tensor& t, const std::string& dtype);
  // One record of shape `shape` whose data is `parts` stacked along dim 0 (MLC's fused qkv / gate_up
  // written from its parts without concatenating them first). Every part has the record's dtype and
  // shape[1:]; their rows sum to shape[0].
  void add(const std::string& name, const std::vector<Tensor>& parts, const Shape& shape, const std::string& dtype);
  // Flushes the pending shard, waits for the background thread and writes tensor-cache.json =
  // {"metadata": metadata, "records": shards}. Rethrows the first write error.
  const std::vector<CacheShard>& finish(const nlohmann::ordered_json& metadata);

  uint64_t bytes_added() const { return bytes_added_; }  // stored bytes of every record so far
  const std::vector<CacheShard>& shards() const { return shards_; }

 private:
  class Worker;
  void commit();             // numbers the pending shard; its worker renames its file into place
  Worker& worker(int slot);  // the writer of a shard file, assigned at its first record

  std::string dir_;
  CacheEncoding enc_;
  uint64_t cap_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unordered_map<int, Worker*> slot_worker_;
  uint64_t pending_bytes_ = 0;
  int pending_slot_ = -1;  // the worker's id of the pending shard's file, -1 before its first record
  int next_slot_ = 0;
  std::vector<CacheRecord> pending_records_;
  std::vector<CacheShard> shards_;
  std::unordered_map<std::string, int> names_;
  uint64_t bytes_added_ = 0;
  bool finished_ = false;
};

// An export's tensor-cache.json and shards. open() validates everything that can be checked without
// reading tensor data: JSON shape, known dtypes/formats, each record's nbytes against shape and dtype,
// record ranges inside their shard, shard files present with exactly the listed size, unique names.
class TensorCache {
 public:
  static TensorCache open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  const nlohmann::json& metadata() const { return metadata_; }
  const std::vector<CacheShard>& shards() const { return shards_; }
  const CacheRecord* find(const std::string& name) const;
  std::vector<std::string> names() const;  // in file order
  const std::string& shard_of(const std::string& name) const;

  // The decoded tensor: float32 F32 (bf16-encoded records widened), float16 F16, bfloat16 BF16,
  // uint32/int32 I32. Throws when the record is absent, or (second form) when its shape or dtype differ.
  Tensor get(const std::string& name) const;
  Tensor get(const std::string& name, const Shape& shape, const std::string& dtype) const;

 private:
  std::string dir_;
  nlohmann::json metadata_;
  std::vector<CacheShard> shards_;
  std::unordered_map<std::string, std::pair<size_t, size_t>> index_;  // name -> (shard, record)
};

}  // namespace slm::codegen
