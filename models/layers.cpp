// Shared decoder blocks (see layers.h).
#include "models/layers.h"

#include <cstring>

#include "tensor/error.h"

namespace slm {

void RopeTables::build(const ModelConfig& c, int64_t pos0, int64_t T) {
  std::vector<int64_t> pos(static_cast<size_t>(T));
  for (int64_t i = 0; i < T; ++i) pos[size_t(i)] = pos0 + i;
  full = rope_table(rope_freqs(c.rope_full, pos0 + T), pos);
  bool any_sliding = false;
  for (auto t : c.layer_types) any_sliding |= t == LayerType::SlidingAttention;
  sliding = any_sliding ? rope_table(rope_freqs(c.rope_sliding, pos0 + T), pos) : full;
}

void kv_reserve(KVCache& cache, int64_t needed) {
  if (needed <= cache.capacity) return;
  int64_t cap = std::max<int64_t>(needed, cache.capacity * 2);
  for (size_t l = 0; l < cache.k.size(); ++l) {
    for (Tensor* t : {&cache.k[l], &cache.v[l]}) {
      Tensor bigger = Tensor::zeros({cap, t->size(1), t->size(2)}, DType::F32);
      if (cache.length > 0) bigger.narrow(0, 0, cache.length).copy_from(t->narrow(0, 0, cache.length));
      *t = bigger;
    }
  }
  cache.capacity = cap;
}

Tensor self_attention(Tensor q, Tensor k, const Tensor& v, const RopeTable& rope, const AttnSpec& s,
                      KVCache& cache, int64_t l, int64_t pos0) {
  const int64_t T = q.size(0);
  SLM_CHECK(pos0 + T <= cache.capacity, "[layers] KV cache too small (reserve before the layers)");
  Tensor q3 = q.reshape({T, s.H, s.D});
  Tensor k3 = k.reshape({T, s.Hkv, s.D});
  rope_apply(q3, rope);
  rope_apply(k3, rope);
  Tensor& kc = cache.k[size_t(l)];
  Tensor& vc = cache.v[size_t(l)];
  kc.narrow(0, pos0, T).copy_from(k3);
  vc.narrow(0, pos0, T).copy_from(v.reshape({T, s.Hkv, s.D}));
  AttnParams p;
  p.scale = s.scale;
  p.pos0 = pos0;
  p.window = s.window;
  p.softcap = s.softcap;
  Tensor out = attention(q3, kc.narrow(0, 0, pos0 + T), vc.narrow(0, 0, pos0 + T), p);
  return out.reshape({T, s.H * s.D});
}

Tensor head_rmsnorm(const Tensor& x, const Tensor& w, int64_t H, float eps, bool unit_offset) {
  const int64_t T = x.size(0), D = x.size(1) / H;
  Tensor flat = x.contiguous().reshape({T * H, D});
  return rmsnorm(flat, w, eps, unit_offset).reshape({T, H * D});
}

}  // namespace slm
