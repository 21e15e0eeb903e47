// attention_train and its backward on AMX tiles (tensor/grad_attention_amx.cpp): the products q·kᵀ, P·v, dO·vᵀ,
// dS·k, dSᵀ·q and Pᵀ·dO in bf16 with f32 accumulation (16 × 16 f32 tiles, tdpbf16ps); the softmax, its
// backward and every sum outside the tiles stay f32 (tensor/grad_attention_rows.h). Rounded to bf16: q, k, v,
// dO, the probabilities P before P·v and Pᵀ·dO, and d(q·k) before dS·k and dSᵀ·q — where flash attention
// rounds on GPUs. Internal to the tensor core: tensor/grad_attention.cpp takes it for TrainAttnParams::bf16 and
// tensor/attention.cpp for a bf16 prefill (AttnParams::bf16, T > 1).
#pragma once
#include <cstdint>
#include <vector>

namespace slm::detail {

struct AmxAttnShape {
  int64_t T, H, Hkv, D;
  float scale, cap;
  int64_t window;
  const std::vector<int64_t>* runs;  // segment boundaries: segment s is [runs[s], runs[s + 1])
  // Inference prefill over a KV cache (forward only): S keys, query i at position q0 + i, one segment from key 0.
  // Training: S = T, q0 = 0.
  int64_t S = 0, q0 = 0;
};

// Built with AMX-BF16 (a native build on such a CPU), the process may use the tiles, and head_dim ≤ 256 (the
// kernels' per-block buffers; every supported family's head dim is).
bool amx_attention_available(int64_t head_dim);

// out (T, H, D), lse (T, H), as attention_train; also the prefill of attention() (q0 > 0, S keys).
void attention_train_amx(const AmxAttnShape& c, const float* q, const float* k, const float* v, float* out,
                         float* lse);
// dq (T, H, D), dk / dv (T, Hkv, D) written (=); di (T, H) = Σ_d dout · out per row. Training shapes only.
void attention_train_backward_amx(const AmxAttnShape& c, const float* dout, const float* q, const float* k,
                                  const float* v, const float* lse, const float* di, float* dq, float* dk, float* dv);

}  // namespace slm::detail
