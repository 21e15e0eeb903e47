// The tensor block cache (tensor/alloc.h): large blocks are reused by exact size, small ones are not cached,
// alignment holds, and the cache can be emptied.
#include <gtest/gtest.h>

#include <cstdint>

#include "tensor/alloc.h"
#include "tensor/tensor.h"

using namespace slm;

TEST(TensorAlloc, LargeBlocksAreReusedBySize) {
  tensor_cache_release();
  void* a = tensor_alloc(3 << 20);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % 64, 0u);
  tensor_free(a);
  EXPECT_GE(tensor_cache_bytes(), uint64_t(3) << 20);
  void* b = tensor_alloc(3 << 20);
  EXPECT_EQ(a, b);  // the cached block came back
  EXPECT_EQ(tensor_cache_bytes(), 0u);
  void* c = tensor_alloc(5 << 20);  // another size: a fresh block
  EXPECT_NE(c, b);
  tensor_free(b);
  tensor_free(c);
  tensor_cache_release();
  EXPECT_EQ(tensor_cache_bytes(), 0u);
}

TEST(TensorAlloc, SmallBlocksAreNotCached) {
  tensor_cache_release();
  void* a = tensor_alloc(1000);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % 64, 0u);
  tensor_free(a);
  EXPECT_EQ(tensor_cache_bytes(), 0u);
}

TEST(TensorAlloc, TensorsUseIt) {
  tensor_cache_release();
  { Tensor t = Tensor::zeros({1024, 1024}); }  // 4 MiB, freed at scope end
  EXPECT_GE(tensor_cache_bytes(), uint64_t(4) << 20);
  Tensor z = Tensor::zeros({1024, 1024});  // reuses the block and must still be zeros
  for (float v : z.to_f32_vector()) ASSERT_EQ(v, 0.0f);
  tensor_cache_release();
}
