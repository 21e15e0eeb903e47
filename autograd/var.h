// Reverse-mode autograd over the tensor core: a Var is a Tensor value plus, when a gradient must flow
// into it, a Node holding that gradient. Ops (autograd/ops.h) compute their forward eagerly with the
// tensor/ kernels and, while a Tape is recording on this thread, push a closure that turns the output's
// gradient into the inputs' gradients (the kernels of tensor/grad_ops.h). Tape::backward runs the
// closures in reverse and frees each one's saved activations as it goes.
// Not a graph compiler and not lazy: with no tape recording (inference), ops are plain kernel calls
// and Vars are Tensors with a null node. Frozen weights are Tensors, never Vars, so they get no
// gradient buffers; only LoRA parameters (Var::param) and activations derived from them do.
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include "tensor/tensor.h"

namespace slm::ag {

struct Node {
  Tensor grad;  // f32, shape of the value; undefined until a gradient arrives
};

class Var {
 public:
  Var() = default;
  // A constant: no gradient flows into it.
  explicit Var(Tensor value) : value_(std::move(value)) {}
  // A trainable leaf (a LoRA A or B master weight, f32); its gradient persists across backward passes
  // and accumulates (+=) until the optimiser zeroes it.
  static Var param(Tensor value);
  // An op output that gradients flow through (used by op implementations).
  static Var tracked(Tensor value);

  const Tensor& value() const { return value_; }
  bool requires_grad() const { return node_ != nullptr; }
  const std::shared_ptr<Node>& node() const { return node_; }
  // The gradient buffer, allocated as zeros on first use (requires_grad only).
  Tensor& grad() const;
  bool has_grad() const { return node_ && node_->grad.defined(); }

 private:
  Tensor value_;
  std::shared_ptr<Node> node_;
};

// Adds g into n's gradient. accumulate copies g when n has no gradient yet; accumulate_fresh takes g's
// storage instead, for a gradient the op just computed and nothing else references.
void accumulate(Node& n, const Tensor& g);
void accumulate_fresh(Node& n, Tensor g);

class Tape {
 public:
  using Backward = std::function<void()>;
  void record(Backward fn) { fns_.push_back(std::move(fn)); }
  // Runs every recorded closure, last first, releasing each after it ran. The caller seeds the loss's
  // gradient beforehand (cross_entropy does it during its forward).
  void backward();
  void clear() { fns_.clear(); }
  size_t size() const { return fns_.size(); }

  // The tape ops record onto on this thread, or null (no recording: inference, or a checkpointed
  // segment's first pass).
  static Tape* active();
  // True in plain inference: no tape and no checkpointed first pass, so ops may reuse an input's storage.
  static bool inplace_ok();

 private:
  std::vector<Backward> fns_;
};

// Makes `tape` (or null: no recording) the active tape for this scope.
class Recording {
 public:
  explicit Recording(Tape* tape);
  ~Recording();
  Recording(const Recording&) = delete;
  Recording& operator=(const Recording&) = delete;

 private:
  Tape* previous_;
};

// Inside a checkpointed segment's first pass: nothing records, yet inputs are kept for the recompute,
// so ops must not write into them.
class NoInplace {
 public:
  NoInplace();
  ~NoInplace();
  NoInplace(const NoInplace&) = delete;
  NoInplace& operator=(const NoInplace&) = delete;
};

// Training mode (dropout on) for this scope; ops read it with training().
class TrainingMode {
 public:
  explicit TrainingMode(bool on);
  ~TrainingMode();
  TrainingMode(const TrainingMode&) = delete;
  TrainingMode& operator=(const TrainingMode&) = delete;

 private:
  bool previous_;
};
bool training();

// True when an op with these inputs must record: a tape is active and a gradient can flow into an input.
inline bool must_record(std::initializer_list<const Var*> inputs) {
  if (!Tape::active()) return false;
  for (const Var* v : inputs)
    if (v->requires_grad()) return true;
  return false;
}

}  // namespace slm::ag
