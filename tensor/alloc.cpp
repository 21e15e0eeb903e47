// Tensor memory with a cache of large blocks (see alloc.h).
#include "tensor/alloc.h"

#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <utility>

namespace slm {

namespace {

constexpr size_t kHeader = 64;         // block size stored in front, keeps the 64-byte alignment
constexpr size_t kMinCached = 1 << 20;  // smaller blocks are cheap for malloc to recycle

struct Cache {
  std::mutex mu;
  std::map<size_t, std::deque<void*>> free_by_size;  // block size -> raw blocks
  std::deque<std::pair<size_t, void*>> order;         // insertion order, for dropping the oldest
  uint64_t bytes = 0;
  uint64_t cap = 0;
  Cache() {
    const char* env = std::getenv("SLM_TENSOR_CACHE_MB");
    cap = uint64_t(env ? std::strtoull(env, nullptr, 10) : 2048) << 20;
  }
};

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: tensors may be freed during static destruction
  return *c;
}

void drop_oldest_locked(Cache& c) {
  auto [size, raw] = c.order.front();
  c.order.pop_front();
  auto& q = c.free_by_size[size];
  for (auto it = q.begin(); it != q.end(); ++it)
    if (*it == raw) {
      q.erase(it);
      break;
    }
  c.bytes -= size;
  std::free(raw);
}

}  // namespace

void* tensor_alloc(size_t bytes) {
  const size_t size = (bytes + 63) / 64 * 64 + kHeader;
  void* raw = nullptr;
  if (size >= kMinCached) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.free_by_size.find(size);
    if (it != c.free_by_size.end() && !it->second.empty()) {
      raw = it->second.back();
      it->second.pop_back();
      c.bytes -= size;
      for (auto o = c.order.begin(); o != c.order.end(); ++o)
        if (o->second == raw) {
          c.order.erase(o);
          break;
        }
    }
  }
  if (!raw) raw = std::aligned_alloc(64, size);
  if (!raw) return nullptr;
  *static_cast<size_t*>(raw) = size;
  return static_cast<char*>(raw) + kHeader;
}

void tensor_free(void* p) {
  if (!p) return;
  void* raw = static_cast<char*>(p) - kHeader;
  const size_t size = *static_cast<size_t*>(raw);
  Cache& c = cache();
  if (size >= kMinCached && size <= c.cap) {
    std::lock_guard<std::mutex> lock(c.mu);
    while (c.bytes + size > c.cap && !c.order.empty()) drop_oldest_locked(c);
    c.free_by_size[size].push_back(raw);
    c.order.emplace_back(size, raw);
    c.bytes += size;
    return;
  }
  std::free(raw);
}

uint64_t tensor_cache_bytes() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.bytes;
}

void tensor_cache_release() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  while (!c.order.empty()) drop_oldest_locked(c);
}

}  // namespace slm
