// tensor-cache.json + params_shard_N.bin writer and reader (see tensor_cache.h).
#include "codegen/tensor_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

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
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) throw Error("[tensor-cache] cannot open " + dir + ": " + std::strerror(errno));
  const int rc = ::syncfs(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) throw Error("[tensor-cache] syncing " + dir + " to disk failed: " + std::strerror(err));
}

// ---------------------------------------------------------------------------------------------- writer

TensorCacheWriter::TensorCacheWriter(std::string dir, CacheEncoding enc, uint64_t shard_cap)
    : dir_(std::move(dir)), enc_(enc), cap_(shard_cap) {}

TensorCacheWriter::~TensorCacheWriter() {
  if (inflight_.valid()) inflight_.wait();  // an error there was reported (or is moot: we are unwinding)
}

void TensorCacheWriter::add(const std::string& name, const Tensor& t, const std::string& dtype) {
  SLM_CHECK(!finished_, "[tensor-cache] add('" + name + "') after finish()");
  SLM_CHECK(!names_.count(name), "[tensor-cache] duplicate name '" + name + "' in the cache");
  const DTypeInfo* d = dtype_info(dtype);
  SLM_CHECK(d && d->dtype == t.dtype() && (dtype != "uint32" || t.dtype() == DType::I32),
            "[tensor-cache] '" + name + "': a " + tvm_dtype_of(t.dtype()) + " tensor cannot be written as " + dtype);
  names_[name] = 1;
  auto bytes = std::make_shared<ShardBytes>();
  bytes->keep = t.contiguous();
  bytes->data = static_cast<const uint8_t*>(bytes->keep.raw());
  bytes->n = bytes->keep.nbytes();
  if (enc_ == CacheEncoding::F32ToBF16 && dtype == "float32") {
    const Tensor& c = bytes->keep;
    bytes->owned.resize(size_t(c.numel()) * 2);
    uint16_t* dst = reinterpret_cast<uint16_t*>(bytes->owned.data());
    for (int64_t i = 0; i < c.numel(); ++i) dst[i] = tvm_f32_to_bf16(c.data<float>()[i]);
    bytes->keep = Tensor();
    bytes->data = bytes->owned.data();
    bytes->n = bytes->owned.size();
  }
  const size_t n = bytes->n;
  CacheRecord rec{name, t.shape(), dtype, encoding_name(enc_), n, 0};
  bytes_added_ += n;
  if (pending_.size() + n >= cap_) {
    if (n * 2 >= cap_) {  // out of band: a shard of its own, the pending shard stays open
      write_shard(bytes, {rec});
      return;
    }
    commit();
  }
  rec.byte_offset = pending_.size();
  pending_records_.push_back(rec);
  pending_.insert(pending_.end(), bytes->data, bytes->data + n);
}

void TensorCacheWriter::commit() {
  if (pending_.empty()) return;
  auto bytes = std::make_shared<ShardBytes>();
  bytes->owned = std::move(pending_);
  bytes->data = bytes->owned.data();
  bytes->n = bytes->owned.size();
  write_shard(bytes, std::move(pending_records_));
  pending_ = {};
  pending_records_.clear();
}

void TensorCacheWriter::join() {
  if (!inflight_.valid()) return;
  shards_[inflight_index_].md5sum = inflight_.get();  // rethrows a write error
}

void TensorCacheWriter::write_shard(std::shared_ptr<ShardBytes> bytes, std::vector<CacheRecord> records) {
  join();
  CacheShard s;
  s.data_path = "params_shard_" + std::to_string(shards_.size()) + ".bin";
  s.nbytes = bytes->n;
  s.records = std::move(records);
  const std::string path = dir_ + "/" + s.data_path;
  shards_.push_back(std::move(s));
  inflight_index_ = shards_.size() - 1;
  inflight_ = std::async(std::launch::async, [bytes, path] {
    write_file(path, bytes->data, bytes->n);
    Md5 md5;
    md5.update(bytes->data, bytes->n);
    return md5.hex_digest();
  });
}

const std::vector<CacheShard>& TensorCacheWriter::finish(const nlohmann::ordered_json& metadata) {
  SLM_CHECK(!finished_, "[tensor-cache] finish() called twice");
  commit();
  join();
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
