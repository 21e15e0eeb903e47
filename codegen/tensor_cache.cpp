// tensor-cache.json + params_shard_N.bin writer and reader (see tensor_cache.h).
#include "codegen/tensor_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "codegen/md5.h"
#include "tensor/error.h"

namespace slm::codegen {
namespace {

using json = nlohmann::json;

struct DTypeInfo {
  const char* name;
  DType dtype;
  uint64_t size;
};
constexpr DTypeInfo kDTypes[] = {{"float32", DType::F32, 4},
                                 {"float16", DType::F16, 2},
                                 {"bfloat16", DType::BF16, 2},
                                 {"uint32", DType::I32, 4},
                                 {"int32", DType::I32, 4}};

const DTypeInfo* dtype_info(const std::string& name) {
  for (const auto& d : kDTypes)
    if (name == d.name) return &d;
  return nullptr;
}

std::string tvm_dtype_of(DType t) {
  switch (t) {
    case DType::F32:
      return "float32";
    case DType::F16:
      return "float16";
    case DType::BF16:
      return "bfloat16";
    case DType::I32:
      return "int32";
  }
  return "?";
}

std::string shape_text(const Shape& s) { return shape_str(s); }

void write_file(const std::string& path, const uint8_t* data, size_t n) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw Error("[tensor-cache] cannot create " + path + ": " + std::strerror(errno));
  // No fsync per file: the export syncs its staging directory once before the rename (sync_to_disk).
  const bool ok = (n == 0 || std::fwrite(data, 1, n, f) == n) && std::fflush(f) == 0;
  const int err = errno;
  std::fclose(f);
  if (!ok) throw Error("[tensor-cache] writing " + path + " failed: " + std::strerror(err) + " — is the disk full?");
}

}  // namespace

const char* encoding_name(CacheEncoding e) { return e == CacheEncoding::F32ToBF16 ? "f32-to-bf16" : "raw"; }

uint16_t tvm_f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const float limit = [] {  // float32 max with its low 16 bits cleared (0x7F7F0000)
    const uint32_t b = 0x7F7F0000u;
    float v;
    std::memcpy(&v, &b, 4);
    return v;
  }();
  const uint32_t bias = (f < limit && f > -limit) ? ((u >> 16) & 1u) + 0x7FFFu : 0u;
  return uint16_t((u + bias) >> 16);
}

uint64_t record_nbytes(const std::string& dtype, const std::string& format, int64_t numel) {
  const DTypeInfo* d = dtype_info(dtype);
  SLM_CHECK(d, "[tensor-cache] unknown dtype '" + dtype + "'");
  if (format == "f32-to-bf16" && dtype == "float32") return uint64_t(numel) * 2;
  return uint64_t(numel) * d->size;
}

void sync_to_disk(const std::string& dir) {
  auto fail = [&](const std::string& path) {
    throw Error("[tensor-cache] syncing " + path + " to disk failed: " + std::strerror(errno));
  };
  auto sync_path = [&](const std::string& path, int flags) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | flags);
    if (fd < 0) fail(path);
    const int rc = ::fsync(fd);
    ::close(fd);
    if (rc != 0) fail(path);
  };
  DIR* d = ::opendir(dir.c_str());
  if (!d) throw Error("[tensor-cache] cannot open " + dir + ": " + std::strerror(errno));
  std::vector<std::string> files;
  while (const dirent* e = ::readdir(d))
    if (e->d_type == DT_REG) files.push_back(dir + "/" + e->d_name);
  ::closedir(d);
  for (const auto& f : files) sync_path(f, 0);
  sync_path(dir, O_DIRECTORY);
}

// ---------------------------------------------------------------------------------------------- writer

// One step for the background thread: append a record's bytes to a shard file, or close a complete shard.
struct ShardJob {
  enum Kind { Append, Close } kind = Append;
  int slot = 0;               // the shard file, by the writer's id
  std::vector<Tensor> parts;  // Append: the record's bytes, in order (kept alive until written)
  bool to_bf16 = false;       // Append: float32 stored as bf16 (f32-to-bf16)
  uint64_t bytes = 0;         // Append: stored bytes
  std::string path;           // Close: the shard's final path
  size_t shard = 0;           // Close: its index in shards_ (where the md5 goes)
};

// The background thread: owns the open shard files and their running MD5s. Jobs run in order.
class TensorCacheWriter::Worker {
 public:
  Worker(std::string dir, uint64_t max_inflight) : dir_(std::move(dir)), max_(max_inflight) {
    th_ = std::thread([this] { run(); });
  }
  ~Worker() {
    {
      std::lock_guard<std::mutex> l(m_);
      stop_ = true;
    }
    cv_.notify_all();
    th_.join();
    for (auto& [slot, f] : open_) {  // unfinished shards (an error, or no finish()): not part of the export
      ::close(f.fd);
      ::unlink(f.tmp.c_str());
    }
  }

  // Queues a job; blocks while more than max_inflight bytes wait. Rethrows a failed job's error.
  void push(ShardJob j) {
    std::unique_lock<std::mutex> l(m_);
    cv_.wait(l, [&] { return err_ || queued_ == 0 || queued_ + j.bytes <= max_; });
    if (err_) std::rethrow_exception(err_);
    queued_ += j.bytes;
    q_.push_back(std::move(j));
    cv_.notify_all();
  }

  uint64_t queued() {
    std::lock_guard<std::mutex> l(m_);
    return queued_ + (busy_ ? 1 : 0);
  }

  // Waits until every job ran; the md5 of each closed shard by its index. Rethrows a failed job's error.
  std::vector<std::pair<size_t, std::string>> drain() {
    std::unique_lock<std::mutex> l(m_);
    cv_.wait(l, [&] { return err_ || (q_.empty() && !busy_); });
    if (err_) std::rethrow_exception(err_);
    return std::move(done_);
  }

 private:
  struct Open {
    int fd = -1;
    std::string tmp;
    Md5 md5;
  };

  void run() {
    std::unique_lock<std::mutex> l(m_);
    for (;;) {
      cv_.wait(l, [&] { return stop_ || (!q_.empty() && !err_); });
      if (stop_) return;
      ShardJob j = std::move(q_.front());
      q_.pop_front();
      busy_ = true;
      l.unlock();
      std::exception_ptr err;
      try {
        j.kind == ShardJob::Append ? append(j) : close(j);
      } catch (...) {
        err = std::current_exception();
      }
      j.parts.clear();  // release the tensors outside the lock
      l.lock();
      busy_ = false;
      queued_ -= j.bytes;
      if (err && !err_) err_ = err;
      cv_.notify_all();
    }
  }

  void write_all(Open& f, const void* data, size_t n) {
    f.md5.update(data, n);
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      const ssize_t w = ::write(f.fd, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0)
        throw Error("[tensor-cache] writing " + f.tmp + " failed: " + std::strerror(errno) + " — is the disk full?");
      p += w, n -= size_t(w);
    }
  }

  void append(const ShardJob& j) {
    auto it = open_.find(j.slot);
    if (it == open_.end()) {
      Open f;
      f.tmp = dir_ + "/.params_shard.tmp-" + std::to_string(j.slot);
      f.fd = ::open(f.tmp.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
      if (f.fd < 0) throw Error("[tensor-cache] cannot create " + f.tmp + ": " + std::strerror(errno));
      it = open_.emplace(j.slot, std::move(f)).first;
    }
    for (const Tensor& t : j.parts) {
      if (!j.to_bf16) {
        write_all(it->second, t.raw(), t.nbytes());
        continue;
      }
      const float* src = t.data<float>();
      for (int64_t i = 0; i < t.numel(); i += int64_t(bf16_.size())) {
        const int64_t n = std::min<int64_t>(int64_t(bf16_.size()), t.numel() - i);
        for (int64_t k = 0; k < n; ++k) bf16_[size_t(k)] = tvm_f32_to_bf16(src[i + k]);
        write_all(it->second, bf16_.data(), size_t(n) * 2);
      }
    }
  }

  void close(const ShardJob& j) {
    auto it = open_.find(j.slot);
    std::string md5 = Md5().hex_digest();  // an empty shard (only zero-byte records) has no file yet
    if (it == open_.end()) {
      write_file(j.path, nullptr, 0);
    } else {
      Open& f = it->second;
      ::sync_file_range(f.fd, 0, 0, SYNC_FILE_RANGE_WRITE);  // start writeback; sync_to_disk waits for it
      const bool ok = ::close(f.fd) == 0;
      f.fd = -1;
      if (!ok || ::rename(f.tmp.c_str(), j.path.c_str()) != 0)
        throw Error("[tensor-cache] finishing " + j.path + " failed: " + std::strerror(errno));
      md5 = f.md5.hex_digest();
      open_.erase(it);
    }
    std::lock_guard<std::mutex> l(m_);
    done_.push_back({j.shard, md5});
  }

  std::string dir_;
  uint64_t max_;
  std::thread th_;
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<ShardJob> q_;
  uint64_t queued_ = 0;
  bool stop_ = false, busy_ = false;
  std::exception_ptr err_;
  std::map<int, Open> open_;  // touched by the worker thread only
  std::vector<uint16_t> bf16_ = std::vector<uint16_t>(size_t(1) << 19);
  std::vector<std::pair<size_t, std::string>> done_;
};

TensorCacheWriter::TensorCacheWriter(std::string dir, CacheEncoding enc, uint64_t shard_cap, uint64_t max_inflight,
                                     int threads)
    : dir_(std::move(dir)), enc_(enc), cap_(shard_cap) {
  const int n = std::max(1, threads);
  for (int i = 0; i < n; ++i)
    workers_.push_back(std::make_unique<Worker>(dir_, std::max<uint64_t>(1, max_inflight / uint64_t(n))));
}

TensorCacheWriter::Worker& TensorCacheWriter::worker(int slot) {
  auto it = slot_worker_.find(slot);
  if (it != slot_worker_.end()) return *it->second;
  Worker* best = workers_[0].get();
  for (const auto& w : workers_)
    if (w->queued() < best->queued()) best = w.get();
  slot_worker_[slot] = best;
  return *best;
}

TensorCacheWriter::~TensorCacheWriter() = default;

void TensorCacheWriter::add(const std::string& name, const Tensor& t, const std::string& dtype) {
  add(name, std::vector<Tensor>{t}, t.shape(), dtype);
}

void TensorCacheWriter::add(const std::string& name, const std::vector<Tensor>& parts, const Shape& shape,
                            const std::string& dtype) {
  SLM_CHECK(!finished_, "[tensor-cache] add('" + name + "') after finish()");
  SLM_CHECK(!names_.count(name), "[tensor-cache] duplicate name '" + name + "' in the cache");
  const DTypeInfo* d = dtype_info(dtype);
  ShardJob job;
  int64_t rows = 0;
  for (const Tensor& t : parts) {
    SLM_CHECK(d && d->dtype == t.dtype() && (dtype != "uint32" || t.dtype() == DType::I32),
              "[tensor-cache] '" + name + "': a " + tvm_dtype_of(t.dtype()) + " tensor cannot be written as " + dtype);
    const bool fits = t.dim() == int64_t(shape.size()) && t.dim() > 0 &&
                      std::equal(shape.begin() + 1, shape.end(), t.shape().begin() + 1);
    SLM_CHECK(fits || parts.size() == 1, "[tensor-cache] '" + name + "': part " + shape_text(t.shape()) +
                                             " does not stack into " + shape_text(shape));
    rows += t.dim() ? t.size(0) : 1;
    job.parts.push_back(t.contiguous());
  }
  SLM_CHECK(parts.size() == 1 ? shape_numel(parts[0].shape()) == shape_numel(shape) : rows == shape[0],
            "[tensor-cache] '" + name + "': the parts do not make up " + shape_text(shape));
  names_[name] = 1;
  job.to_bf16 = enc_ == CacheEncoding::F32ToBF16 && dtype == "float32";
  job.bytes = record_nbytes(dtype, encoding_name(enc_), shape_numel(shape));
  CacheRecord rec{name, shape, dtype, encoding_name(enc_), job.bytes, 0};
  bytes_added_ += job.bytes;
  if (pending_bytes_ + job.bytes >= cap_) {
    if (job.bytes * 2 >= cap_) {  // out of band: a shard of its own, the pending shard stays open
      job.slot = next_slot_++;
      shards_.push_back({"params_shard_" + std::to_string(shards_.size()) + ".bin", job.bytes, {rec}, ""});
      const std::string path = dir_ + "/" + shards_.back().data_path;
      Worker& wk = worker(job.slot);
      slot_worker_.erase(job.slot);
      const int slot = job.slot;
      wk.push(std::move(job));
      wk.push({ShardJob::Close, slot, {}, false, 0, path, shards_.size() - 1});
      return;
    }
    commit();
  }
  if (pending_slot_ < 0) pending_slot_ = next_slot_++;
  job.slot = pending_slot_;
  rec.byte_offset = pending_bytes_;
  pending_records_.push_back(rec);
  pending_bytes_ += job.bytes;
  worker(job.slot).push(std::move(job));
}

void TensorCacheWriter::commit() {
  if (pending_bytes_ == 0) return;
  shards_.push_back({"params_shard_" + std::to_string(shards_.size()) + ".bin", pending_bytes_,
                     std::move(pending_records_), ""});
  Worker& wk = worker(pending_slot_);
  slot_worker_.erase(pending_slot_);
  wk.push({ShardJob::Close, pending_slot_, {}, false, 0, dir_ + "/" + shards_.back().data_path, shards_.size() - 1});
  pending_slot_ = -1;
  pending_bytes_ = 0;
  pending_records_.clear();
}

const std::vector<CacheShard>& TensorCacheWriter::finish(const nlohmann::ordered_json& metadata) {
  SLM_CHECK(!finished_, "[tensor-cache] finish() called twice");
  commit();
  for (auto& w : workers_)
    for (auto& [index, md5] : w->drain()) shards_[index].md5sum = md5;
  finished_ = true;
  nlohmann::ordered_json records = nlohmann::ordered_json::array();
  for (const auto& s : shards_) {
    nlohmann::ordered_json js;
    js["dataPath"] = s.data_path;
    js["format"] = "raw-shard";
    js["nbytes"] = s.nbytes;
    js["records"] = nlohmann::ordered_json::array();
    for (const auto& r : s.records) {
      nlohmann::ordered_json jr;
      jr["name"] = r.name;
      jr["shape"] = r.shape;
      jr["dtype"] = r.dtype;
      jr["format"] = r.format;
      jr["nbytes"] = r.nbytes;
      jr["byteOffset"] = r.byte_offset;
      js["records"].push_back(std::move(jr));
    }
    js["md5sum"] = s.md5sum;
    records.push_back(std::move(js));
  }
  nlohmann::ordered_json top;
  top["metadata"] = metadata;
  top["records"] = std::move(records);
  const std::string text = top.dump(4);  // json.dump(..., indent=4)
  write_file(dir_ + "/tensor-cache.json", reinterpret_cast<const uint8_t*>(text.data()), text.size());
  return shards_;
}

// ---------------------------------------------------------------------------------------------- reader

namespace {

struct Where {
  std::string file;
  [[noreturn]] void fail(const std::string& what) const { throw Error("[tensor-cache] " + file + ": " + what); }
};

const json& field(const json& o, const char* key, const Where& w, const std::string& ctx) {
  if (!o.is_object() || !o.contains(key)) w.fail(ctx + " has no '" + key + "'");
  return o[key];
}

uint64_t uint_field(const json& o, const char* key, const Where& w, const std::string& ctx) {
  const json& v = field(o, key, w, ctx);
  if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0))
    w.fail(ctx + ": '" + key + "' must be a non-negative integer, got " + v.dump());
  return v.get<uint64_t>();
}

std::string str_field(const json& o, const char* key, const Where& w, const std::string& ctx) {
  const json& v = field(o, key, w, ctx);
  if (!v.is_string()) w.fail(ctx + ": '" + key + "' must be a string, got " + v.dump());
  return v.get<std::string>();
}

CacheRecord parse_record(const json& jr, const CacheShard& s, const Where& w) {
  const std::string ctx = "record in " + s.data_path;
  CacheRecord r;
  r.name = str_field(jr, "name", w, ctx);
  const std::string rctx = "record '" + r.name + "' (" + s.data_path + ")";
  const json& shape = field(jr, "shape", w, rctx);
  if (!shape.is_array()) w.fail(rctx + ": 'shape' must be an array");
  for (const auto& d : shape) {
    if (!d.is_number_integer() || d.get<int64_t>() < 0 || d.get<int64_t>() > (int64_t(1) << 40))
      w.fail(rctx + ": 'shape' must hold non-negative integers, got " + shape.dump());
    r.shape.push_back(d.get<int64_t>());
  }
  r.dtype = str_field(jr, "dtype", w, rctx);
  if (!dtype_info(r.dtype))
    w.fail(rctx + ": dtype '" + r.dtype + "' is not supported (float32, float16, bfloat16, uint32, int32)");
  r.format = str_field(jr, "format", w, rctx);
  if (r.format != "raw" && r.format != "f32-to-bf16")
    w.fail(rctx + ": format '" + r.format + "' is neither raw nor f32-to-bf16");
  r.nbytes = uint_field(jr, "nbytes", w, rctx);
  r.byte_offset = uint_field(jr, "byteOffset", w, rctx);
  const uint64_t want = record_nbytes(r.dtype, r.format, shape_numel(r.shape));
  if (r.nbytes != want)
    w.fail(rctx + ": nbytes is " + std::to_string(r.nbytes) + " but shape " + shape_text(r.shape) + " " + r.dtype +
           " (" + r.format + ") needs " + std::to_string(want) +
           " — tensor-cache.json does not describe this tensor; export again");
  if (r.byte_offset > s.nbytes || r.nbytes > s.nbytes - r.byte_offset)
    w.fail(rctx + ": bytes [" + std::to_string(r.byte_offset) + ", " + std::to_string(r.byte_offset + r.nbytes) +
           ") lie past the shard's " + std::to_string(s.nbytes) + " bytes");
  return r;
}

std::string read_text(const std::string& path, bool* found) {
  std::ifstream f(path, std::ios::binary);
  *found = bool(f);
  std::stringstream ss;
  if (f) ss << f.rdbuf();
  return ss.str();
}

}  // namespace

TensorCache TensorCache::open(const std::string& dir) {
  TensorCache c;
  c.dir_ = dir;
  const Where w{dir + "/tensor-cache.json"};
  bool found = false;
  const std::string text = read_text(w.file, &found);
  if (!found) {
    struct stat st;
    const bool old = ::stat((dir + "/ndarray-cache.json").c_str(), &st) == 0;
    throw Error("[tensor-cache] " + dir + ": no tensor-cache.json" +
                (old ? " (there is an ndarray-cache.json from MLC <= v0.19: rename it to tensor-cache.json)"
                     : " — is this a WebLLM/MLC export directory?"));
  }
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    w.fail(std::string("not valid JSON (") + e.what() + ") — the file is damaged; export again");
  }
  if (!j.is_object()) w.fail("must be a JSON object with 'metadata' and 'records'");
  c.metadata_ = j.contains("metadata") ? j["metadata"] : json::object();
  const json& shards = field(j, "records", w, "the file");
  if (!shards.is_array()) w.fail("'records' must be an array of shards");
  for (const auto& js : shards) {
    CacheShard s;
    s.data_path = str_field(js, "dataPath", w, "a shard");
    if (s.data_path.empty() || s.data_path.find('/') != std::string::npos ||
        s.data_path.find("..") != std::string::npos)
      w.fail("shard dataPath '" + s.data_path + "' must be a file name inside the export directory");
    const std::string fmt = str_field(js, "format", w, "shard " + s.data_path);
    if (fmt != "raw-shard") w.fail("shard " + s.data_path + ": format '" + fmt + "' is not raw-shard");
    s.nbytes = uint_field(js, "nbytes", w, "shard " + s.data_path);
    if (js.contains("md5sum") && js["md5sum"].is_string()) s.md5sum = js["md5sum"].get<std::string>();
    struct stat st;
    if (::stat((dir + "/" + s.data_path).c_str(), &st) != 0)
      throw Error("[tensor-cache] " + dir + "/" + s.data_path +
                  ": missing (listed in tensor-cache.json) — the export is incomplete");
    if (uint64_t(st.st_size) != s.nbytes)
      throw Error("[tensor-cache] " + dir + "/" + s.data_path + ": has " + std::to_string(st.st_size) +
                  " bytes but tensor-cache.json says " + std::to_string(s.nbytes) +
                  (uint64_t(st.st_size) < s.nbytes
                       ? " — the shard is truncated (interrupted copy or download); export or download it again"
                       : " — the shard does not belong to this tensor-cache.json"));
    const json& recs = field(js, "records", w, "shard " + s.data_path);
    if (!recs.is_array()) w.fail("shard " + s.data_path + ": 'records' must be an array");
    for (const auto& jr : recs) {
      CacheRecord r = parse_record(jr, s, w);
      if (c.index_.count(r.name)) w.fail("record '" + r.name + "' appears twice");
      c.index_[r.name] = {c.shards_.size(), s.records.size()};
      s.records.push_back(std::move(r));
    }
    c.shards_.push_back(std::move(s));
  }
  return c;
}

const CacheRecord* TensorCache::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &shards_[it->second.first].records[it->second.second];
}

std::vector<std::string> TensorCache::names() const {
  std::vector<std::string> out;
  for (const auto& s : shards_)
    for (const auto& r : s.records) out.push_back(r.name);
  return out;
}

const std::string& TensorCache::shard_of(const std::string& name) const {
  auto it = index_.find(name);
  SLM_CHECK(it != index_.end(), "[tensor-cache] " + dir_ + "/tensor-cache.json: no record '" + name + "'");
  return shards_[it->second.first].data_path;
}

Tensor TensorCache::get(const std::string& name) const {
  const CacheRecord* r = find(name);
  if (!r)
    throw Error("[tensor-cache] " + dir_ + "/tensor-cache.json: no record '" + name +
                "' — the export is incomplete or was made for another model or quantisation; export again");
  const std::string path = dir_ + "/" + shard_of(name);
  std::ifstream f(path, std::ios::binary);
  std::vector<uint8_t> buf(r->nbytes);
  f.seekg(std::streamoff(r->byte_offset));
  if (!f || !f.read(reinterpret_cast<char*>(buf.data()), std::streamsize(r->nbytes)))
    throw Error("[tensor-cache] " + path + ": cannot read record '" + name + "' (bytes " +
                std::to_string(r->byte_offset) + ".." + std::to_string(r->byte_offset + r->nbytes) +
                ") — the shard changed since it was opened?");
  const DTypeInfo* d = dtype_info(r->dtype);
  Tensor t = Tensor::empty(r->shape, d->dtype);
  if (r->format == "f32-to-bf16" && r->dtype == "float32") {
    const uint16_t* src = reinterpret_cast<const uint16_t*>(buf.data());
    float* dst = t.data<float>();
    for (int64_t i = 0; i < t.numel(); ++i) dst[i] = bf16_to_f32(src[i]);
  } else if (!buf.empty()) {
    std::memcpy(t.raw(), buf.data(), buf.size());
  }
  return t;
}

Tensor TensorCache::get(const std::string& name, const Shape& shape, const std::string& dtype) const {
  const CacheRecord* r = find(name);
  if (r && (r->shape != shape || r->dtype != dtype))
    throw Error("[tensor-cache] " + dir_ + "/tensor-cache.json: record '" + name + "' (" + shard_of(name) + ") is " +
                shape_text(r->shape) + " " + r->dtype + " but the model config implies " + shape_text(shape) + " " +
                dtype + " — mlc-chat-config.json and the shards do not belong together");
  return get(name);
}

}  // namespace slm::codegen
