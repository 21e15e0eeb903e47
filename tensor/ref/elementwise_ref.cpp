// Scalar references of the elementwise kernels (see ops.h): gated activation, soft-capping and a row softmax,
// one element at a time in f32, in torch's order of operations:
//   gated_act: act(gate) * up                 (HF LlamaMLP / GemmaMLP: down(act(gate(x)) * up(x)))
//   softcap:   tanh(x / cap) * cap           (Gemma-2 attention and final logits)
//   softmax:   e = exp(x - max); e * (1 / sum(e))   (torch's _vec_softmax_lastdim; sum kept in double)
// The fast paths (tensor/elementwise.cpp) are tested against these.
#include <cmath>

#include "tensor/kernel_util.h"
#include "tensor/ops.h"
#include "tensor/ref/activation.h"

namespace slm {

void gated_act_check(const Tensor& gate, const Tensor& up);  // elementwise.cpp
void softcap_check(const Tensor& x, float cap);              // elementwise.cpp
void softmax_check(const Tensor& x);                         // elementwise.cpp

Tensor gated_act_ref(const Tensor& gate, const Tensor& up, Activation act) {
  gated_act_check(gate, up);
  Tensor out = Tensor::empty(gate.shape());
  for (int64_t i = 0; i < gate.numel(); ++i) {
    float g = gate.data<float>()[i];
    float a = act == Activation::SiLU       ? detail::silu_f32(g)
              : act == Activation::GeluTanh ? detail::gelu_tanh_f32(g)
                                            : detail::gelu_erf_f32(g);
    out.data<float>()[i] = a * up.data<float>()[i];
  }
  return out;
}

void softcap_inplace_ref(Tensor& x, float cap) {
  softcap_check(x, cap);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = std::tanh(x.data<float>()[i] / cap) * cap;
}

void softmax_inplace_ref(Tensor& x) {
  softmax_check(x);
  const int64_t n = x.size(-1), rows = n ? x.numel() / n : 0;
  for (int64_t r = 0; r < rows; ++r) {
    float* v = x.data<float>() + r * n;
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; ++i) mx = std::max(mx, v[i]);
    double sum = 0.0;  // the f32 sum, accumulated exactly enough that order does not matter
    for (int64_t i = 0; i < n; ++i) sum += (v[i] = std::exp(v[i] - mx));
    float inv = 1.0f / float(sum);
    for (int64_t i = 0; i < n; ++i) v[i] *= inv;
  }
}

}  // namespace slm
