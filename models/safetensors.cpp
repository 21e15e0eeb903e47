// Safetensors reader, writer and Checkpoint (see safetensors.h for the rules and the reference).
#include "models/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <unordered_set>

#include "tensor/error.h"

namespace slm {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

constexpr uint64_t kMaxHeader = 100'000'000;  // the reference's MAX_HEADER_SIZE
constexpr int kMaxDepth = 16;                 // a valid header nests 3 deep
const char* const kCorrupt = " — the header is malformed; download the file again or re-export it";

// Every dtype the format defines, in the reference's enum order. That order is also the alignment
// order its writer sorts tensors by (descending), which keeps every tensor aligned.
struct DtypeDef {
  std::string_view name;
  uint64_t bits;
};
constexpr DtypeDef kDtypes[] = {
    {"BOOL", 8},        {"F4", 4},           {"F6_E2M3", 6},     {"F6_E3M2", 6}, {"U8", 8},
    {"I8", 8},          {"F8_E5M2", 8},      {"F8_E4M3", 8},     {"F8_E8M0", 8}, {"F8_E4M3FNUZ", 8},
    {"F8_E5M2FNUZ", 8}, {"I16", 16},         {"U16", 16},        {"F16", 16},    {"BF16", 16},
    {"I32", 32},        {"U32", 32},         {"F32", 32},        {"C64", 64},    {"F64", 64},
    {"I64", 64},        {"U64", 64}};

const DtypeDef* find_dtype(std::string_view name) {
  for (const DtypeDef& d : kDtypes)
    if (d.name == name) return &d;
  return nullptr;
}

size_t dtype_rank(DType t) { return size_t(find_dtype(dtype_name(t)) - kDtypes); }

std::string u(uint64_t v) { return std::to_string(v); }
std::string q(std::string_view s) { return quote_name(s); }

[[noreturn]] void fail(const std::string& file, const std::string& msg) {
  throw Error("[safetensors] " + file + ": " + msg);
}

// Things people download by mistake, recognised by their first bytes. None can be a valid file (read as
// a length, their first 8 bytes exceed the 100 MB limit): this only makes the message useful.
void check_not_impostor(const std::string& file, const uint8_t* p, size_t size) {
  const std::string_view head(reinterpret_cast<const char*>(p), std::min<size_t>(size, 64));
  auto starts = [&](std::string_view prefix, bool nocase) {
    if (head.size() < prefix.size()) return false;
    for (size_t i = 0; i < prefix.size(); ++i) {
      const char a = nocase ? char(std::tolower(static_cast<unsigned char>(head[i]))) : head[i];
      if (a != prefix[i]) return false;
    }
    return true;
  };
  if (starts("version https://git-lfs", false))
    fail(file, "is a Git LFS pointer, not the weights — run `git lfs pull` in the model directory "
               "or download with `hf download`");
  if (starts("<!doctype html", true) || starts("<html", true))
    fail(file, "is an HTML page, not a safetensors file — the download returned an error page");
  if (starts("{\"error\"", false))
    fail(file, "is a JSON error response, not a safetensors file — the download failed (gated model or bad "
               "token?)");
}

// Deepest {} / [] nesting outside strings; stops counting once past `limit`.
int max_depth(const char* p, size_t n, int limit) {
  int depth = 0, deepest = 0;
  bool in_str = false, esc = false;
  for (size_t i = 0; i < n && deepest <= limit; ++i) {
    const char c = p[i];
    if (in_str) {
      if (esc) esc = false;
      else if (c == '\\') esc = true;
      else if (c == '"') in_str = false;
    } else if (c == '"') {
      in_str = true;
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return deepest;
}

// Parses the header, rejecting a key repeated within one object (the spec disallows duplicates;
// nlohmann would silently keep the last).
json parse_header(const std::string& file, const char* p, size_t n) {
  std::vector<std::unordered_set<std::string>> open_objects;
  std::string dup;
  size_t dup_level = 0;
  auto on_event = [&](int, json::parse_event_t ev, json& v) {
    if (ev == json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (ev == json::parse_event_t::object_end && !open_objects.empty()) {
      open_objects.pop_back();
    } else if (ev == json::parse_event_t::key && !open_objects.empty() && dup.empty()) {
      const std::string& k = v.get_ref<const std::string&>();
      if (!open_objects.back().insert(k).second) dup = k, dup_level = open_objects.size();
    }
    return true;
  };
  json h;
  try {
    h = json::parse(p, p + n, on_event);
  } catch (const json::exception& e) {
    fail(file, std::string("the header is not valid JSON (") + e.what() + ")" + kCorrupt);
  }
  if (!dup.empty()) {
    if (dup_level == 1) fail(file, "tensor " + q(dup) + " appears twice in the header" + kCorrupt);
    fail(file, "key " + q(dup) + " appears twice in one object of the header" + kCorrupt);
  }
  return h;
}

// A JSON non-negative integer, as serde's usize accepts: no sign, fraction or exponent.
bool get_u64(const json& v, uint64_t* out) {
  if (!v.is_number_unsigned()) return false;
  *out = v.get<uint64_t>();
  return true;
}

SafetensorsEntry parse_entry(const std::string& file, const std::string& name, const json& v,
                             uint64_t data_start, uint64_t data_size) {
  const std::string t = "tensor " + q(name);
  if (!v.is_object())
    fail(file, t + " is a JSON " + v.type_name() + ", expected an object with dtype, shape and data_offsets" +
                   kCorrupt);
  auto field = [&](const char* key) -> const json& {
    auto it = v.find(key);
    if (it == v.end()) fail(file, t + " has no '" + key + "'" + kCorrupt);
    return *it;
  };
  const json& jd = field("dtype");
  const json& js = field("shape");
  const json& jo = field("data_offsets");

  SafetensorsEntry e;
  e.name = name;
  if (!jd.is_string()) fail(file, t + ": dtype is a JSON " + jd.type_name() + ", expected a string like \"BF16\"" + kCorrupt);
  e.dtype_name = jd.get<std::string>();
  const DtypeDef* def = find_dtype(e.dtype_name);
  if (!def)
    fail(file, t + " has dtype " + q(e.dtype_name) + ", which is not a safetensors dtype (F32, F16, BF16, I32, "
                   "I64, U8, BOOL, F64, F8_E4M3, ...)" + kCorrupt);
  e.supported = dtype_from_name(e.dtype_name, &e.dtype);

  if (!js.is_array()) fail(file, t + ": shape is a JSON " + js.type_name() + ", expected an array of sizes" + kCorrupt);
  // `span` (the product of the extents, zeros counted as 1) bounds every stride Tensor computes; it must
  // fit int64 even when a zero extent makes the tensor empty.
  uint64_t numel = 1, span = 1;
  bool overflow = false;
  for (const json& d : js) {
    uint64_t x = 0;
    if (!get_u64(d, &x))
      fail(file, t + ": shape " + js.dump() + " holds " + d.dump() + ", expected non-negative integers" + kCorrupt);
    overflow |= __builtin_mul_overflow(span, std::max<uint64_t>(x, 1), &span);
    numel *= x;  // <= span: meaningful when !overflow
    e.shape.push_back(int64_t(std::min<uint64_t>(x, INT64_MAX)));
  }
  uint64_t bits = 0;
  if (overflow || span > uint64_t(INT64_MAX) || __builtin_mul_overflow(numel, def->bits, &bits))
    fail(file, t + ": shape " + js.dump() + " has extents whose product does not fit in 64 bits" + kCorrupt);
  if (bits % 8 != 0)
    fail(file, t + ": " + u(numel) + " elements of " + u(def->bits) + "-bit " + e.dtype_name +
                   " do not fill whole bytes" + kCorrupt);

  if (!jo.is_array() || jo.size() != 2 || !get_u64(jo[0], &e.begin) || !get_u64(jo[1], &e.end))
    fail(file, t + ": data_offsets is " + jo.dump() + ", expected [begin, end] with non-negative integers" + kCorrupt);
  if (e.begin > e.end)
    fail(file, t + ": data_offsets [" + u(e.begin) + ", " + u(e.end) + "] end before they begin" + kCorrupt);
  if (e.end - e.begin != bits / 8)
    fail(file, t + ": data_offsets [" + u(e.begin) + ", " + u(e.end) + "] span " + u(e.end - e.begin) +
                   " bytes but shape " + shape_str(e.shape) + " of " + e.dtype_name + " needs " + u(bits / 8) +
                   kCorrupt);
  if (e.end > data_size) {
    uint64_t at = 0;
    const std::string where = __builtin_add_overflow(e.end, data_start, &at) ? "data offset " + u(e.end)
                                                                              : "byte " + u(at);
    fail(file, t + " ends at " + where + " past the file's " + u(data_start + data_size) +
                   " bytes — the file is truncated; download it again");
  }
  return e;
}

// The tensors must tile the data section exactly (the reference's Metadata::validate).
void check_tiling(const std::string& file, std::vector<SafetensorsEntry>& entries, uint64_t data_size) {
  std::sort(entries.begin(), entries.end(), [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  uint64_t pos = 0;
  const SafetensorsEntry* prev = nullptr;
  for (const SafetensorsEntry& e : entries) {
    if (e.begin < pos)
      fail(file, "tensor " + q(e.name) + " (data bytes " + u(e.begin) + ".." + u(e.end) + ") overlaps tensor " +
                     q(prev->name) + " (data bytes " + u(prev->begin) + ".." + u(prev->end) + ")" + kCorrupt);
    if (e.begin > pos)
      fail(file, u(e.begin - pos) + " unused bytes lie " +
                     (prev ? "between tensor " + q(prev->name) + " and tensor " + q(e.name)
                           : "before the first tensor " + q(e.name)) +
                     "; the format forbids holes in the data section" + kCorrupt);
    pos = e.end;
    prev = &e;
  }
  if (pos != data_size)
    fail(file, u(data_size - pos) + " bytes follow the last tensor's data — the format forbids trailing "
                   "bytes; the file is corrupted or not a plain safetensors file");
}

}  // namespace

std::string quote_name(std::string_view s) {
  std::string out = "'";
  const size_t n = std::min<size_t>(s.size(), 200);
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += char(c);
    }
  }
  return out + (s.size() > n ? "...'" : "'");
}


// ---- SafetensorsFile -----------------------------------------------------------------------------

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, std::string("cannot open (") + std::strerror(errno) + ") — check the path and permissions");
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path, S_ISDIR(st.st_mode) ? "is a directory, not a safetensors file" : "is not a regular file");
  }
  const size_t size = size_t(st.st_size);
  if (size == 0) {
    ::close(fd);
    return parse_from_memory(nullptr, 0, path);
  }
  void* m = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int err = errno;
  ::close(fd);
  if (m == MAP_FAILED) fail(path, std::string("cannot map the file into memory (") + std::strerror(err) + ")");
  std::shared_ptr<void> owner(m, [size](void* p) { ::munmap(p, size); });
  return parse_from_memory(m, size, path, std::move(owner));
}

SafetensorsFile SafetensorsFile::parse_from_memory(const void* bytes, size_t size, const std::string& name,
                                                   std::shared_ptr<void> owner) {
  SafetensorsFile f;
  f.name_ = name;
  f.owner_ = std::move(owner);
  f.base_ = static_cast<const uint8_t*>(bytes);
  f.size_ = size;
  const uint8_t* p = f.base_;
  check_not_impostor(name, p, size);
  if (size == 0) fail(name, "the file is empty — the download failed; download it again");
  if (size < 8)
    fail(name, "the file is only " + u(size) + " bytes, shorter than the 8-byte header length — it is truncated "
               "or not a safetensors file");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = n << 8 | p[i];  // little-endian
  if (n > kMaxHeader)
    fail(name, "the header length field says " + u(n) + " bytes, over the format's 100 MB limit — this is not a "
               "safetensors file, or its first bytes are corrupted");
  if (n > size - 8)
    fail(name, "the header length field says " + u(n) + " bytes, past the file's " + u(size) +
                   " bytes — the file is truncated; download it again");
  const char* h = reinterpret_cast<const char*>(p + 8);
  if (max_depth(h, n, kMaxDepth) > kMaxDepth)
    fail(name, "the header nests deeper than " + std::to_string(kMaxDepth) + " levels" + kCorrupt);
  const json j = parse_header(name, h, n);
  if (!j.is_object()) fail(name, std::string("the header is a JSON ") + j.type_name() + ", not an object" + kCorrupt);

  f.data_start_ = 8 + n;
  const uint64_t data_size = size - f.data_start_;
  for (const auto& [key, v] : j.items()) {
    if (key != "__metadata__") {
      f.entries_.push_back(parse_entry(name, key, v, f.data_start_, data_size));
      continue;
    }
    if (v.is_null()) continue;  // serde reads null as "no metadata"
    if (!v.is_object())
      fail(name, std::string("__metadata__ is a JSON ") + v.type_name() + ", expected an object of strings" + kCorrupt);
    for (const auto& [mk, mv] : v.items()) {
      if (!mv.is_string())
        fail(name, "__metadata__ entry " + q(mk) + " is a JSON " + mv.type_name() +
                       "; the format allows only string values" + kCorrupt);
      f.metadata_[mk] = mv.get<std::string>();
    }
  }
  check_tiling(name, f.entries_, data_size);
  for (size_t i = 0; i < f.entries_.size(); ++i) f.index_[f.entries_[i].name] = i;
  return f;
}

const SafetensorsEntry* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  for (const SafetensorsEntry& e : entries_) out.push_back(e.name);
  std::sort(out.begin(), out.end());
  return out;
}

Tensor SafetensorsFile::get(const std::string& name) const {
  const SafetensorsEntry* e = find(name);
  if (!e) fail(name_, "no tensor " + q(name) + " among its " + u(entries_.size()) + " tensors");
  return get(*e);
}

Tensor SafetensorsFile::get(const SafetensorsEntry& e) const {
  if (!e.supported)
    fail(name_, "tensor " + q(e.name) + " has dtype " + e.dtype_name +
                    ", which slm does not read (it reads F32, F16, BF16, I32) — convert it or leave it out");
  const uint8_t* p = base_ + data_start_ + e.begin;
  if (reinterpret_cast<uintptr_t>(p) % dtype_size(e.dtype) != 0) {  // see "Alignment" in the header
    Tensor t = Tensor::empty(e.shape, e.dtype);
    if (e.end > e.begin) std::memcpy(t.raw(), p, size_t(e.end - e.begin));
    return t;
  }
  return Tensor::borrow(const_cast<uint8_t*>(p), e.shape, e.dtype, owner_);
}

// ---- writer --------------------------------------------------------------------------------------

namespace {

struct Prepared {
  std::string head;                   // length prefix + padded header JSON
  std::vector<const Tensor*> order;   // tensors in data order
};

Prepared prepare(const NamedTensors& tensors, const std::map<std::string, std::string>& metadata,
                 const std::string& where) {
  std::set<std::string_view> seen;
  for (const auto& [name, t] : tensors) {
    if (!t.defined()) fail(where, "tensor " + q(name) + " is undefined — nothing to write");
    if (name == "__metadata__") fail(where, "a tensor may not be named '__metadata__' (the format reserves it)");
    if (!seen.insert(name).second) fail(where, "tensor " + q(name) + " is given twice");
  }
  std::vector<size_t> idx(tensors.size());
  std::iota(idx.begin(), idx.end(), size_t(0));
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {  // the reference's prepare()
    const size_t ra = dtype_rank(tensors[a].second.dtype()), rb = dtype_rank(tensors[b].second.dtype());
    return ra != rb ? ra > rb : tensors[a].first < tensors[b].first;
  });
  auto str = [&](const std::string& s) {
    try {
      return json(s).dump();  // escapes as serde_json does: \" \\ \b \f \n \r \t, other controls \u00xx
    } catch (const json::exception&) {
      fail(where, q(s) + " is not valid UTF-8, which a JSON header needs");
    }
  };
  std::string h = "{";
  if (!metadata.empty()) {
    h += "\"__metadata__\":{";
    for (const auto& [k, v] : metadata) h += (h.back() == '{' ? "" : ",") + str(k) + ":" + str(v);
    h += "}";
  }
  Prepared out;
  uint64_t offset = 0;
  for (size_t i : idx) {
    const auto& [name, t] = tensors[i];
    h += (h.size() == 1 ? "" : ",") + str(name) + ":{\"dtype\":\"" + std::string(dtype_name(t.dtype())) + "\",\"shape\":[";
    for (int64_t d = 0; d < t.dim(); ++d) h += (d ? "," : "") + std::to_string(t.shape()[size_t(d)]);
    h += "],\"data_offsets\":[" + u(offset) + "," + u(offset + t.nbytes()) + "]}";
    offset += t.nbytes();
    out.order.push_back(&t);
  }
  h += "}";
  h.append((8 - h.size() % 8) % 8, ' ');
  if (h.size() > kMaxHeader) fail(where, "the header would be " + u(h.size()) + " bytes, over the format's 100 MB limit");
  out.head.resize(8);
  for (int b = 0; b < 8; ++b) out.head[size_t(b)] = char((uint64_t(h.size()) >> (8 * b)) & 0xff);
  out.head += h;
  return out;
}

}  // namespace

std::string safetensors_serialize(const NamedTensors& tensors, const std::map<std::string, std::string>& metadata) {
  Prepared p = prepare(tensors, metadata, "(in memory)");
  std::string out = std::move(p.head);
  for (const Tensor* t : p.order) {
    const Tensor c = t->contiguous();
    if (c.nbytes()) out.append(static_cast<const char*>(c.raw()), c.nbytes());
  }
  return out;
}

void safetensors_write(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata) {
  const Prepared p = prepare(tensors, metadata, path);
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    fail(path, "cannot create " + tmp + " (" + std::strerror(errno) + ") — does the directory exist and is it writable?");
  auto io_fail = [&](const char* what) {
    const std::string err = std::strerror(errno);
    ::close(fd);
    ::unlink(tmp.c_str());
    fail(path, std::string("cannot ") + what + " " + tmp + " (" + err + ") — check free disk space and permissions");
  };
  auto write_all = [&](const void* data, size_t n) {
    const char* q = static_cast<const char*>(data);
    while (n > 0) {
      const ssize_t w = ::write(fd, q, std::min<size_t>(n, size_t(1) << 30));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) io_fail("write");
      q += w;
      n -= size_t(w);
    }
  };
  write_all(p.head.data(), p.head.size());
  for (const Tensor* t : p.order) {
    const Tensor c = t->contiguous();
    if (c.nbytes()) write_all(c.raw(), c.nbytes());
  }
  if (::fsync(fd) != 0) io_fail("fsync");
  if (::close(fd) != 0) {
    const std::string err = std::strerror(errno);
    ::unlink(tmp.c_str());
    fail(path, "cannot close " + tmp + " (" + err + ") — check free disk space");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string err = std::strerror(errno);
    ::unlink(tmp.c_str());
    fail(path, "cannot rename " + tmp + " over it (" + err + ")");
  }
  const std::string dir = fs::path(path).has_parent_path() ? fs::path(path).parent_path().string() : ".";
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);  // makes the rename durable; best effort
    ::close(dfd);
  }
}

}  // namespace slm
