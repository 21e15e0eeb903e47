// Tensor: dtype + shape + strides (in elements) over shared storage.
// Views (reshape of contiguous data, narrow, select) share storage without copying; storage
// can be owned heap memory or borrowed memory kept alive by an owner (an mmap'd checkpoint).
// Not a lazy graph and not an autograd node: kernels in tensor/ read and write these eagerly.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tensor/dtype.h"

namespace slm {

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& s);  // "[2, 3]"
int64_t shape_numel(const Shape& s);

struct Storage {
  void* data = nullptr;
  size_t nbytes = 0;
  std::shared_ptr<void> owner;  // keeps heap memory or an mmap alive
};

class Tensor {
 public:
  Tensor() = default;

  // Zero-initialised, 64-byte aligned, contiguous.
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32);
  // Uninitialised, 64-byte aligned, contiguous.
  static Tensor empty(const Shape& shape, DType dtype = DType::F32);
  // Borrows `data` (not copied); `owner` keeps it alive.
  static Tensor borrow(void* data, const Shape& shape, DType dtype, std::shared_ptr<void> owner);
  static Tensor from_f32(const std::vector<float>& v, const Shape& shape);
  static Tensor from_i32(const std::vector<int32_t>& v, const Shape& shape);

  bool defined() const { return storage_ != nullptr; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int64_t dim() const { return int64_t(shape_.size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype_); }
  bool is_contiguous() const;

  void* raw() const;  // pointer to element 0 of this view
  template <class T> T* data() const { return static_cast<T*>(raw()); }

  // Views.
  Tensor reshape(const Shape& shape) const;               // needs contiguous; one -1 allowed
  Tensor narrow(int64_t d, int64_t start, int64_t len) const;
  Tensor select(int64_t d, int64_t index) const;          // drops dimension d
  Tensor transpose(int64_t a, int64_t b) const;

  // Copies.
  Tensor contiguous() const;           // same dtype, contiguous (no copy if already so)
  Tensor to(DType dtype) const;        // converted, contiguous copy
  Tensor clone() const;
  void copy_from(const Tensor& src);   // same shape; converts dtype; any strides

  // Element access for tests and small host code (any dtype, converted to f32).
  float item_f32(const std::vector<int64_t>& idx) const;
  std::vector<float> to_f32_vector() const;

 private:
  DType dtype_ = DType::F32;
  Shape shape_, strides_;
  std::shared_ptr<Storage> storage_;
  size_t offset_ = 0;  // bytes from storage_->data to element 0
};

// Throws slm::Error with a message when `t` does not have the expected dtype/shape.
// `-1` in `shape` matches any extent.  `what` names the tensor in the message.
void check_tensor(const Tensor& t, DType dtype, const Shape& shape, const char* what);

}  // namespace slm
