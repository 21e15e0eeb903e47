// Ops whose weights are trainable Vars (see ops.h, "trainable base weights"): full-parameter training of
// small models. Forward as the frozen-weight ops; backward adds the weight gradients (f32) with the kernels
// of tensor/grad_ops.h. LoRA training never comes here: its base weights are Tensors.
#include "autograd/ops.h"
#include "tensor/error.h"

namespace slm::ag {

namespace {

Tensor& grad_buffer(const std::shared_ptr<Node>& n, const Shape& shape) {
  if (!n->grad.defined()) n->grad = Tensor::zeros(shape, DType::F32);
  return n->grad;
}

Tensor take(const std::shared_ptr<Node>& n) {
  Tensor g = n->grad;
  n->grad = Tensor();
  return g;
}

}  // namespace

Var linear(const Var& x, const Var& w, const Var& bias) {
  Tensor y = slm::linear(x.value(), w.value(), bias.value());
  if (!must_record({&x, &w, &bias})) return Var(std::move(y));
  Var out = Var::tracked(std::move(y));
  Tape::active()->record([xn = x.node(), wn = w.node(), bn = bias.node(), yn = out.node(), xv = x.value(),
                          wv = w.value()] {
    Tensor dy = take(yn);
    if (!dy.defined()) return;
    if (wn) linear_backward_weight(dy, xv, grad_buffer(wn, wv.shape()));
    if (bn) bias_backward(dy, grad_buffer(bn, {wv.size(0)}));
    if (xn) accumulate_fresh(*xn, linear_backward_input(dy, wv));
  });
  return out;
}

Var embedding(const Var& table, const Tensor& ids) {
  Tensor y = slm::embedding(table.value(), ids);
  if (!must_record({&table})) return Var(std::move(y));
  Var out = Var::tracked(std::move(y));
  Tape::active()->record([tn = table.node(), yn = out.node(), shape = table.value().shape(), ids] {
    Tensor dy = take(yn);
    if (dy.defined()) embedding_backward(dy, ids, grad_buffer(tn, shape));
  });
  return out;
}

Var rmsnorm(const Var& x, const Var& w, float eps, bool unit_offset) {
  Tensor y = slm::rmsnorm(x.value(), w.value(), eps, unit_offset);
  if (!must_record({&x, &w})) return Var(std::move(y));
  Var out = Var::tracked(std::move(y));
  Tape::active()->record([xn = x.node(), wn = w.node(), yn = out.node(), xv = x.value(), wv = w.value(), eps,
                          unit_offset] {
    Tensor dy = take(yn);
    if (!dy.defined()) return;
    Tensor* dw = wn ? &grad_buffer(wn, wv.shape()) : nullptr;
    Tensor dx = rmsnorm_backward(dy, xv, wv, eps, unit_offset, dw);
    if (xn) accumulate_fresh(*xn, dx);
  });
  return out;
}

}  // namespace slm::ag
