// Scalar reference of rope_apply (see ops.h): transformers' apply_rotary_pos_emb with partial rotary
//   x_rot = x[..., :rot]; out = cat((x_rot * cos) + (rotate_half(x_rot) * sin), x[..., rot:])
// where rotate_half(v) = cat(-v[half:], v[:half]); every product and sum is one f32 rounding (no FMA).
// The inv_freq derivations are not here: they live in tensor/rope.cpp and are tested against hand-derived values.
#include "tensor/kernel_util.h"
#include "tensor/ops.h"

namespace slm {

void rope_check(const Tensor& x, const RopeTable& t);  // rope.cpp

void rope_apply_ref(Tensor& x, const RopeTable& t) {
  rope_check(x, t);
  const int64_t T = x.size(0), H = x.size(1), D = x.size(2), rot = t.rotary_dim, half = rot / 2;
  std::vector<float> rotated(static_cast<size_t>(rot));
  for (int64_t i = 0; i < T; ++i) {
    const float* c = t.cos.data<float>() + i * rot;
    const float* s = t.sin.data<float>() + i * rot;
    for (int64_t h = 0; h < H; ++h) {
      float* v = x.data<float>() + (i * H + h) * D;
      for (int64_t d = 0; d < rot; ++d) {
        float rh = d < half ? -v[d + half] : v[d - half];  // rotate_half
        rotated[size_t(d)] = (v[d] * c[d]) + (rh * s[d]);
      }
      for (int64_t d = 0; d < rot; ++d) v[d] = rotated[size_t(d)];
    }
  }
}

}  // namespace slm
