// MD5 after RFC 1321 §3 (see md5.h).
#include "codegen/md5.h"

#include <algorithm>
#include <cstring>

namespace slm::codegen {
namespace {

constexpr uint32_t kK[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391};
inline uint32_t rotl(uint32_t x, int c) { return (x << c) | (x >> (32 - c)); }

}  // namespace

Md5::Md5() : h_{0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476} {}

// RFC 1321 §3.4, the 64 steps unrolled (a loop with a per-step branch and modulo runs at half the speed).
#define SLM_MD5_STEP(f, a, b, c, d, x, t, s) \
  a += f(b, c, d) + x + t;                   \
  a = rotl(a, s) + b;
#define SLM_MD5_F(x, y, z) ((x & y) | (~x & z))
#define SLM_MD5_G(x, y, z) ((x & z) | (y & ~z))
#define SLM_MD5_H(x, y, z) (x ^ y ^ z)
#define SLM_MD5_I(x, y, z) (y ^ (x | ~z))

void Md5::block(const uint8_t* p) {
  uint32_t m[16];
  std::memcpy(m, p, 64);  // little-endian words (x86)
  uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3];
  for (int r = 0; r < 16; r += 4) {
    SLM_MD5_STEP(SLM_MD5_F, a, b, c, d, m[r], kK[r], 7)
    SLM_MD5_STEP(SLM_MD5_F, d, a, b, c, m[r + 1], kK[r + 1], 12)
    SLM_MD5_STEP(SLM_MD5_F, c, d, a, b, m[r + 2], kK[r + 2], 17)
    SLM_MD5_STEP(SLM_MD5_F, b, c, d, a, m[r + 3], kK[r + 3], 22)
  }
  for (int r = 16; r < 32; r += 4) {
    SLM_MD5_STEP(SLM_MD5_G, a, b, c, d, m[(5 * r + 1) % 16], kK[r], 5)
    SLM_MD5_STEP(SLM_MD5_G, d, a, b, c, m[(5 * r + 6) % 16], kK[r + 1], 9)
    SLM_MD5_STEP(SLM_MD5_G, c, d, a, b, m[(5 * r + 11) % 16], kK[r + 2], 14)
    SLM_MD5_STEP(SLM_MD5_G, b, c, d, a, m[(5 * r + 16) % 16], kK[r + 3], 20)
  }
  for (int r = 32; r < 48; r += 4) {
    SLM_MD5_STEP(SLM_MD5_H, a, b, c, d, m[(3 * r + 5) % 16], kK[r], 4)
    SLM_MD5_STEP(SLM_MD5_H, d, a, b, c, m[(3 * r + 8) % 16], kK[r + 1], 11)
    SLM_MD5_STEP(SLM_MD5_H, c, d, a, b, m[(3 * r + 11) % 16], kK[r + 2], 16)
    SLM_MD5_STEP(SLM_MD5_H, b, c, d, a, m[(3 * r + 14) % 16], kK[r + 3], 23)
  }
  for (int r = 48; r < 64; r += 4) {
    SLM_MD5_STEP(SLM_MD5_I, a, b, c, d, m[(7 * r) % 16], kK[r], 6)
    SLM_MD5_STEP(SLM_MD5_I, d, a, b, c, m[(7 * r + 7) % 16], kK[r + 1], 10)
    SLM_MD5_STEP(SLM_MD5_I, c, d, a, b, m[(7 * r + 14) % 16], kK[r + 2], 15)
    SLM_MD5_STEP(SLM_MD5_I, b, c, d, a, m[(7 * r + 21) % 16], kK[r + 3], 21)
  }
  h_[0] += a, h_[1] += b, h_[2] += c, h_[3] += d;
}

#undef SLM_MD5_STEP
#undef SLM_MD5_F
#undef SLM_MD5_G
#undef SLM_MD5_H
#undef SLM_MD5_I

void Md5::update(const void* data, size_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  total_ += n;
  if (buf_len_) {
    size_t take = std::min(n, 64 - buf_len_);
    std::memcpy(buf_ + buf_len_, p, take);
    buf_len_ += take, p += take, n -= take;
    if (buf_len_ < 64) return;
    block(buf_);
    buf_len_ = 0;
  }
  for (; n >= 64; p += 64, n -= 64) block(p);
  std::memcpy(buf_, p, n);
  buf_len_ = n;
}

std::string Md5::hex_digest() {
  const uint64_t bits = total_ * 8;
  const uint8_t pad = 0x80, zero = 0;
  update(&pad, 1);
  while (buf_len_ != 56) update(&zero, 1);
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = uint8_t(bits >> (8 * i));
  update(len, 8);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (uint32_t h : h_)
    for (int i = 0; i < 4; ++i) {
      const uint8_t byte = uint8_t(h >> (8 * i));
      out += hex[byte >> 4];
      out += hex[byte & 15];
    }
  return out;
}

}  // namespace slm::codegen
