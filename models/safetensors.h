// Safetensors files and Hugging Face checkpoints made of them.
//   SafetensorsFile  one .safetensors file, mmap'd and validated completely at open.
//   Checkpoint       a model directory: model.safetensors, or the shards listed by
//                    model.safetensors.index.json (weight_map: tensor name -> shard file).
//   safetensors_write / safetensors_serialize  the writer, byte-identical to the reference.
// Not a converter (dtype conversion is Tensor::to) and not a reader of other formats (.bin, .pt, GGUF).
// Reference: the "Format" section of huggingface/safetensors README.md and the Rust reader/writer
// it describes (safetensors/src/tensor.rs: read_metadata, Metadata::validate, prepare).
//
// What open() checks, before any tensor data is touched (the reference's rules, plus a depth cap):
//   file >= 8 bytes; header length <= 100 MB and within the file; the header is a UTF-8 JSON object
//   (trailing spaces allowed), nested at most 16 deep, no key twice in one object; `__metadata__`
//   optional, a string->string map; every tensor has `dtype` (a safetensors dtype name), `shape`
//   (non-negative integers) and `data_offsets` [begin, end] relative to the data section (byte
//   8 + header length), begin <= end, end - begin == numel * element size (no overflow, also of the
//   strides of empty tensors), end within the file; the tensors tile the data section exactly: no
//   overlap, no gap, no trailing bytes (the spec forbids holes, which would allow polyglot files).
// Unsupported dtypes: any dtype the format defines (I64, U8, BOOL, F64, F8_E4M3, F4, ...) is validated
//   at open and listed by names()/entries(); get() of a tensor whose dtype slm has no DType for
//   throws, naming the tensor and dtype. A dtype name the format does not define fails open().
// Alignment: tensors are borrowed from the mapping (no copy) when their data is aligned for the
//   element size, which holds for every file the reference writes (header padded to 8 bytes, tensors
//   ordered by descending alignment). Data that is not aligned (hand-made files, other writers) is
//   copied into an aligned tensor: reading a misaligned float* is undefined behaviour in C++ even
//   though x86 tolerates it.
// Borrowed tensors are read-only (PROT_READ, MAP_PRIVATE): writing through one faults; clone() first.
//   Each keeps the whole mapping alive. A file truncated by another process while mapped raises
//   SIGBUS on access; that cannot be checked in advance.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace slm {

// One tensor of a safetensors header.
struct SafetensorsEntry {
  std::string name;
  std::string dtype_name;    // as written in the file: "BF16", "I64", "F8_E4M3", ...
  bool supported = false;    // dtype_name has an slm::DType
  DType dtype = DType::F32;  // meaningful only when supported
  Shape shape;
  uint64_t begin = 0, end = 0;  // byte offsets relative to the data section
};

class SafetensorsFile {
 public:
  SafetensorsFile() = default;

  // Maps `path` and validates it; throws slm::Error naming the file (and tensor) otherwise.
  static SafetensorsFile open(const std::string& path);
  // Validates `size` bytes at `bytes` as a whole file; `name` appears in messages. The bytes are
  // borrowed, not copied: `owner` (or the caller, when null) keeps them alive as long as any tensor.
  static SafetensorsFile parse_from_memory(const void* bytes, size_t size, const std::string& name,
                                           std::shared_ptr<void> owner = nullptr);

  const std::string& name() const { return name_; }  // the path given to open()
  size_t file_size() const { return size_; }
  uint64_t data_start() const { return data_start_; }  // 8 + header length
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::vector<SafetensorsEntry>& entries() const { return entries_; }  // by data offset

  const SafetensorsEntry* find(const std::string& name) const;  // nullptr when absent
  bool has(const std::string& name) const { return find(name) != nullptr; }
  std::vector<std::string> names() const;  // sorted
  // The tensor, borrowed from the mapping (see alignment above). Throws when absent or unsupported.
  Tensor get(const std::string& name) const;
  Tensor get(const SafetensorsEntry& entry) const;  // entry from this file's entries()

 private:
  std::string name_;
  std::shared_ptr<void> owner_;
  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  uint64_t data_start_ = 0;
  std::map<std::string, std::string> metadata_;
  std::vector<SafetensorsEntry> entries_;
  std::unordered_map<std::string, size_t> index_;  // name -> entries_ position
};

// A Hugging Face model directory's weights. Lookup order follows transformers' from_pretrained:
// model.safetensors, else model.safetensors.index.json, else a lone *.safetensors file (exactly one).
// A path to a .safetensors file is accepted as a one-file checkpoint.
class Checkpoint {
 public:
  // Opens and validates every file; for an index, also that each listed shard exists, that the
  // shard names stay inside the directory, and that every mapped tensor is in its shard.
  static Checkpoint open(const std::string& model_dir);

  const std::string& dir() const { return dir_; }
  const std::string& source() const { return source_; }  // the file that says where tensors are
  bool has(const std::string& name) const { return where_.count(name) != 0; }
  Tensor get(const std::string& name) const;  // throws naming the tensor and dir, with a hint
  const SafetensorsEntry& entry(const std::string& name) const;
  std::vector<std::string> names() const;  // sorted
  // The checkpoint's floating-point dtype: of the F32/F16/BF16 tensors, the dtype holding the most
  // bytes (a bf16 model with f32 norms is BF16). F32 when there are none.
  DType dtype() const { return dtype_; }
  const std::vector<SafetensorsFile>& files() const { return files_; }

 private:
  void open_index(const std::string& index_path);

  std::string dir_, source_;
  std::vector<SafetensorsFile> files_;
  std::unordered_map<std::string, size_t> where_;  // tensor name -> files_ position
  DType dtype_ = DType::F32;
};

// 'name' for error messages: quoted, control bytes escaped as \xNN, names over 200 bytes shortened.
std::string quote_name(std::string_view name);

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// Writes `tensors` (any strides; copied to contiguous as needed, in their own dtype) and optional
// string metadata as a safetensors file, atomically: PATH.tmp-PID is written, fsync'd, renamed over
// PATH. Layout as the reference writer (so output is byte-identical to safetensors' save_file):
// tensors ordered by descending dtype alignment then name, header JSON compact with `__metadata__`
// first (keys sorted; omitted when empty), header padded with spaces to a multiple of 8.
void safetensors_write(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata = {});
// The same file as bytes in memory (tests, fuzz seeds, small outputs).
std::string safetensors_serialize(const NamedTensors& tensors,
                                  const std::map<std::string, std::string>& metadata = {});

}  // namespace slm
