// Host memory for tensors: 64-byte aligned blocks, with large freed blocks kept for reuse by size.
// Why: a training step allocates and frees the same large buffers (logits (T, V), MLP activations) every step;
// glibc returns blocks above its mmap threshold (at most 32 MiB) to the kernel on free, so each step paid page
// faults and zeroing again for hundreds of MB (~20 % of a LoRA step at seq 512 on Qwen2.5-0.5B shapes).
// Blocks of at least 1 MiB are cached by exact size up to a cap (SLM_TENSOR_CACHE_MB, default 2048; 0 = off),
// oldest dropped first when the cap would be exceeded. Not a general allocator: no splitting or coalescing.
#pragma once
#include <cstddef>
#include <cstdint>

namespace slm {

void* tensor_alloc(size_t bytes);  // nullptr when the system is out of memory
void tensor_free(void* p);         // p from tensor_alloc (the block remembers its size)
// Bytes currently held for reuse (tests, benches).
uint64_t tensor_cache_bytes();
// Returns every cached block to the system.
void tensor_cache_release();

}  // namespace slm
