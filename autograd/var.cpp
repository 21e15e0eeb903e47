// Var, Node and Tape (see var.h).
#include "autograd/var.h"

#include "tensor/error.h"
#include "tensor/ops.h"

namespace slm::ag {

namespace {
thread_local Tape* g_active = nullptr;
thread_local int g_no_inplace = 0;
thread_local bool g_training = false;
}  // namespace

bool Tape::inplace_ok() { return g_active == nullptr && g_no_inplace == 0; }
NoInplace::NoInplace() { ++g_no_inplace; }
NoInplace::~NoInplace() { --g_no_inplace; }
TrainingMode::TrainingMode(bool on) : previous_(g_training) { g_training = on; }
TrainingMode::~TrainingMode() { g_training = previous_; }
bool training() { return g_training; }

Var Var::param(Tensor value) {
  SLM_CHECK(value.dtype() == DType::F32 && value.is_contiguous(),
            "[autograd] a trainable parameter must be a contiguous f32 tensor");
  Var v(std::move(value));
  v.node_ = std::make_shared<Node>();
  return v;
}

Var Var::tracked(Tensor value) {
  Var v(std::move(value));
  v.node_ = std::make_shared<Node>();
  return v;
}

Tensor& Var::grad() const {
  SLM_CHECK(node_ != nullptr, "[autograd] grad() of a Var that does not require a gradient");
  if (!node_->grad.defined()) node_->grad = Tensor::zeros(value_.shape(), DType::F32);
  return node_->grad;
}

void accumulate(Node& n, const Tensor& g) {
  if (!n.grad.defined()) {
    n.grad = g.to(DType::F32);  // a contiguous copy
    return;
  }
  add_inplace(n.grad, g.is_contiguous() ? g : g.contiguous());
}

void accumulate_fresh(Node& n, Tensor g) {
  if (!n.grad.defined() && g.is_contiguous() && g.dtype() == DType::F32) {
    n.grad = std::move(g);
    return;
  }
  accumulate(n, g);
}

void Tape::backward() {
  Recording off(nullptr);  // closures run kernels directly; nothing they do is recorded
  while (!fns_.empty()) {
    Backward fn = std::move(fns_.back());
    fns_.pop_back();
    fn();
  }
}

Tape* Tape::active() { return g_active; }

Recording::Recording(Tape* tape) : previous_(g_active) { g_active = tape; }
Recording::~Recording() { g_active = previous_; }

}  // namespace slm::ag
