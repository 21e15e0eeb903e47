// Shared decoder blocks (see layers.h).
#include "models/layers.h"

#include <algorithm>
#include <cstring>

#include "tensor/error.h"

namespace slm {

void RopeTables::build(const ModelConfig& c, const std::vector<int64_t>& pos) {
  const int64_t seq_len = pos.empty() ? 0 : *std::max_element(pos.begin(), pos.end()) + 1;
  full = rope_table(rope_freqs(c.rope_full, seq_len), pos);
  bool any_sliding = false;
  for (auto t : c.layer_types) any_sliding |= t == LayerType::SlidingAttention;
  sliding = any_sliding ? rope_table(rope_freqs(c.rope_sliding, seq_len), pos) : full;
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

namespace {

Tensor cached_attention(Tensor q, Tensor k, const Tensor& v, const RopeTable& rope, const AttnSpec& s,
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
  p.bf16 = s.bf16;
  Tensor out = attention(q3, kc.narrow(0, 0, pos0 + T), vc.narrow(0, 0, pos0 + T), p);
  return out.reshape({T, s.H * s.D});
}

}  // namespace

ag::Var self_attention(const ag::Var& q, const ag::Var& k, const ag::Var& v, const RopeTable& rope,
                       const AttnSpec& s, const ForwardPass& pass, int64_t l) {
  const int64_t T = q.value().size(0);
  if (pass.cache) {
    // rope_apply works in place: q and k are this layer's fresh projections unless a tape could need them.
    Tensor qv = ag::Tape::inplace_ok() ? q.value() : q.value().clone();
    Tensor kv = ag::Tape::inplace_ok() ? k.value() : k.value().clone();
    return ag::Var(cached_attention(qv, kv, v.value(), rope, s, *pass.cache, l, pass.pos0));
  }
  ag::Var q3 = ag::rope(ag::reshape(q, {T, s.H, s.D}), rope);
  ag::Var k3 = ag::rope(ag::reshape(k, {T, s.Hkv, s.D}), rope);
  TrainAttnParams p;
  p.scale = s.scale;
  p.window = s.window;
  p.softcap = s.softcap;
  p.segments = pass.segments;
  p.bf16 = s.bf16;
  ag::Var out = ag::attention(q3, k3, ag::reshape(v, {T, s.Hkv, s.D}), p);
  return ag::reshape(out, {T, s.H * s.D});
}

ag::Var head_rmsnorm(const ag::Var& x, const ag::Var& w, int64_t H, float eps, bool unit_offset) {
  const int64_t T = x.value().size(0), D = x.value().size(1) / H;
  ag::Var flat = ag::reshape(x, {T * H, D});
  return ag::reshape(ag::rmsnorm(flat, w, eps, unit_offset), {T, H * D});
}

}  // namespace slm
