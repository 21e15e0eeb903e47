// MD5 (RFC 1321) of a byte stream: the `md5sum` TVM's tensor-cache writer records per shard
// (apache/tvm python/tvm/contrib/tvmjs.py _calculate_md5). Integrity metadata only — WebLLM never checks it,
// and MD5 is no security property. Not a general hashing library.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace slm::codegen {

class Md5 {
 public:
  Md5();
  void update(const void* data, size_t n);
  std::string hex_digest();  // 32 lower-case hex digits; finishes the hash

 private:
  void block(const uint8_t* p);
  uint32_t h_[4];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

}  // namespace slm::codegen
