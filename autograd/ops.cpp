// Differentiable ops (see ops.h). Each op: forward with a tensor/ kernel; when it must record, a closure
// that reads the output node's gradient, writes the inputs' gradients with tensor/grad_ops.h and frees
// the output gradient (every consumer of the output has run by then: the tape runs in reverse).
// Closures capture Nodes and the Tensors their VJP needs, never whole Vars, so nothing else is kept alive.
#include "autograd/ops.h"

#include <cstring>

#include "tensor/error.h"

namespace slm::ag {

namespace {

using NodeP = std::shared_ptr<Node>;

// The output gradient a closure consumes, or undefined when none arrived (a dead branch).
Tensor take_grad(const NodeP& n) {
  Tensor g = n->grad;
  n->grad = Tensor();
  return g;
}

}  // namespace

void accumulate_linear_input(Node& n, const Tensor& dy, const Tensor& w) {
  if (n.grad.defined())
    linear_backward_input_add(dy, w, n.grad);
  else
    n.grad = linear_backward_input(dy, w);
}

Var linear(const Var& x, const Tensor& w, const Tensor& bias) {
  Tensor y = slm::linear(x.value(), w, bias);
  if (!must_record({&x})) return Var(std::move(y));
  Var out = Var::tracked(std::move(y));
  Tape::active()->record([xn = x.node(), yn = out.node(), w] {
    Tensor dy = take_grad(yn);
    if (dy.defined()) accumulate_linear_input(*xn, dy, w);
  });
  return out;
}

Var embedding(const Tensor& table, const Tensor& ids) { return Var(slm::embedding(table, ids)); }

Var rmsnorm(const Var& x, const Tensor& w, float eps, bool unit_offset) {
  Tensor y = slm::rmsnorm(x.value(), w, eps, unit_offset);
  if (!must_record({&x})) return Var(std::move(y));
  Var out = Var::tracked(std::move(y));
  Tape::active()->record([xn = x.node(), yn = out.node(), xv = x.value(), w, eps, unit_offset] {
    Tensor dy = take_grad(yn);
    if (dy.defined()) accumulate_fresh(*xn, rmsnorm_backward(dy, xv, w, eps, unit_offset, nullptr));
  });
  return out;
}

Var rope(const Var& x, const RopeTable& t) {
  Tensor y = x.value().clone();
  rope_apply(y, t);
  if (!must_record({&x})) return Var(std::move(y));
  Var out = Var::tracked(std::move(y));
  Tape::active()->record([xn = x.node(), yn = out.node(), t] {
    Tensor dy = take_grad(yn);
    if (!dy.defined()) return;
    rope_backward(dy, t);  // dy is ours now: rotate it in place
    accumulate_fresh(*xn, dy);
  });
  return out;
}

Var attention(const Var& q, const Var& k, const Var& v, const TrainAttnParams& p) {
  Tensor lse;
  Tensor y = attention_train(q.value(), k.value(), v.value(), p, lse);
  if (!must_record({&q, &k, &v})) return Var(std::move(y));
  Var out = Var::tracked(y);
  Tape::active()->record([qn = q.node(), kn = k.node(), vn = v.node(), yn = out.node(), qv = q.value(),
                          kv = k.value(), vv = v.value(), y, lse, p] {
    Tensor dy = take_grad(yn);
    if (!dy.defined()) return;
    Tensor dq = Tensor::empty(qv.shape()), dk = Tensor::empty(kv.shape()), dv = Tensor::empty(vv.shape());
    attention_train_backward(dy, qv, kv, vv, y, lse, p, dq, dk, dv);
    if (qn) accumulate_fresh(*qn, dq);
    if (kn) accumulate_fresh(*kn, dk);
    if (vn) accumulate_fresh(*vn, dv);
  });
  return out;
}

Var gated_act(const Var& gate, const Var& up, Activation act) {
  Tensor y = slm::gated_act(gate.value(), up.value(), act);
  if (!must_record({&gate, &up})) return Var(std::move(y));
  Var out = Var::tracked(std::move(y));
  Tape::active()->record([gn = gate.node(), un = up.node(), yn = out.node(), gv = gate.value(),
                          uv = up.value(), act] {
    Tensor dy = take_grad(yn);
    if (!dy.defined()) return;
    Tensor dg = Tensor::empty(gv.shape()), du = Tensor::empty(uv.shape());
    gated_act_backward(dy, gv, uv, act, dg, du);
    if (gn) accumulate_fresh(*gn, dg);
    if (un) accumulate_fresh(*un, du);
  });
  return out;
}

Var softcap(const Var& x, float cap) {
  Tensor y = Tape::inplace_ok() ? x.value() : x.value().clone();
  softcap_inplace(y, cap);
  if (!must_record({&x})) return Var(std::move(y));
  // The backward reads the output, which a following cross_entropy overwrites with its gradient: keep a copy.
  Var out = Var::tracked(y);
  Tape::active()->record([xn = x.node(), yn = out.node(), ys = y.clone(), cap] {
    Tensor dy = take_grad(yn);
    if (dy.defined()) accumulate_fresh(*xn, softcap_backward(dy, ys, cap));
  });
  return out;
}

Var add(Var a, const Var& b) {
  if (Tape::inplace_ok()) {
    Tensor t = a.value();
    add_inplace(t, b.value());
    return a;
  }
  Tensor y = a.value().clone();
  add_inplace(y, b.value());
  if (!must_record({&a, &b})) return Var(std::move(y));
  Var out = Var::tracked(std::move(y));
  Tape::active()->record([an = a.node(), bn = b.node(), yn = out.node()] {
    Tensor dy = take_grad(yn);
    if (!dy.defined()) return;
    if (an) accumulate(*an, dy);
    if (bn) accumulate_fresh(*bn, dy);
  });
  return out;
}

Var scale(const Var& x, float s) {
  Tensor y = Tape::inplace_ok() ? x.value() : x.value().clone();
  scale_inplace(y, s);
  if (!must_record({&x})) return Var(std::move(y));
  Var out = Var::tracked(std::move(y));
  Tape::active()->record([xn = x.node(), yn = out.node(), s] {
    Tensor dy = take_grad(yn);
    if (!dy.defined()) return;
    scale_inplace(dy, s);
    accumulate_fresh(*xn, dy);
  });
  return out;
}

Var reshape(const Var& x, const Shape& shape) {
  Tensor y = x.value().reshape(shape);
  if (!must_record({&x})) return Var(std::move(y));
  Var out = Var::tracked(std::move(y));
  Tape::active()->record([xn = x.node(), yn = out.node(), xshape = x.value().shape()] {
    Tensor dy = take_grad(yn);
    if (dy.defined()) accumulate_fresh(*xn, dy.reshape(xshape));
  });
  return out;
}

Var narrow_cols(const Var& x, int64_t start, int64_t len) {
  SLM_CHECK(x.value().dim() == 2, "[autograd] narrow_cols needs a (T, N) tensor");
  Tensor y = x.value().narrow(1, start, len).contiguous();
  if (!must_record({&x})) return Var(std::move(y));
  Var out = Var::tracked(std::move(y));
  Tape::active()->record([xn = x.node(), yn = out.node(), xshape = x.value().shape(), start, len] {
    Tensor dy = take_grad(yn);
    if (!dy.defined()) return;
    if (!xn->grad.defined()) xn->grad = Tensor::zeros(xshape, DType::F32);
    const int64_t T = xshape[0], N = xshape[1];
    float* g = xn->grad.data<float>();
    const float* d = dy.data<float>();
    for (int64_t t = 0; t < T; ++t)
      for (int64_t j = 0; j < len; ++j) g[t * N + start + j] += d[t * len + j];
  });
  return out;
}

CrossEntropy cross_entropy(const Var& logits, const Tensor& labels, float grad_scale) {
  if (!must_record({&logits})) return slm::cross_entropy(logits.value(), labels, nullptr);
  // The logits buffer becomes their gradient (nothing reads the logits after the loss).
  Tensor g = logits.value();
  CrossEntropy ce = slm::cross_entropy(logits.value(), labels, &g, grad_scale);
  accumulate_fresh(*logits.node(), g);
  return ce;
}

Var take_rows(const Var& x, const Tensor& rows) {
  Tensor y = slm::embedding(x.value(), rows);  // the embedding gather, x as the table
  if (!must_record({&x})) return Var(std::move(y));
  Var out = Var::tracked(std::move(y));
  Tape::active()->record([xn = x.node(), yn = out.node(), shape = x.value().shape(), rows] {
    Tensor dy = take_grad(yn);
    if (!dy.defined()) return;
    Tensor dx = Tensor::zeros(shape);
    embedding_backward(dy, rows, dx);
    accumulate_fresh(*xn, dx);
  });
  return out;
}

Var checkpoint(const std::function<Var(const Var&)>& f, const Var& x) {
  Tape* tape = Tape::active();
  if (!tape) return f(x);
  Tensor y;
  {
    Recording off(nullptr);
    NoInplace keep_inputs;
    y = f(Var(x.value())).value();
  }
  Var out = Var::tracked(std::move(y));
  tape->record([f, xn = x.node(), xv = x.value(), yn = out.node()] {
    Tensor dy = take_grad(yn);
    if (!dy.defined()) return;
    Tape sub;
    Var x2 = xn ? Var::tracked(xv) : Var(xv);
    Var y2;
    {
      Recording on(&sub);
      y2 = f(x2);
    }
    if (!y2.requires_grad()) return;
    accumulate_fresh(*y2.node(), dy);
    sub.backward();
    if (xn && x2.has_grad()) accumulate_fresh(*xn, x2.node()->grad);
  });
  return out;
}

}  // namespace slm::ag
