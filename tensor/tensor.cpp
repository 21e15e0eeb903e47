// Tensor storage, views and copies (see tensor.h).
#include "tensor/tensor.h"

#include "tensor/alloc.h"

#include <cstdlib>
#include <cstring>
#include <sstream>

#include "tensor/error.h"

namespace slm {

std::string shape_str(const Shape& s) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << "]";
  return o.str();
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

static Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= s[i];
  }
  return st;
}

Tensor Tensor::empty(const Shape& shape, DType dtype) {
  for (int64_t d : shape) SLM_CHECK(d >= 0, "[tensor] negative extent in shape " + shape_str(shape));
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  size_t nbytes = size_t(shape_numel(shape)) * dtype_size(dtype);
  void* p = tensor_alloc(nbytes);
  SLM_CHECK(p != nullptr, "[tensor] out of memory allocating " + std::to_string(nbytes) + " bytes");
  t.storage_ = std::make_shared<Storage>();
  t.storage_->data = p;
  t.storage_->nbytes = nbytes;
  t.storage_->owner = std::shared_ptr<void>(p, tensor_free);
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  std::memset(t.raw(), 0, t.nbytes());
  return t;
}

Tensor Tensor::borrow(void* data, const Shape& shape, DType dtype, std::shared_ptr<void> owner) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  t.storage_ = std::make_shared<Storage>();
  t.storage_->data = data;
  t.storage_->nbytes = size_t(shape_numel(shape)) * dtype_size(dtype);
  t.storage_->owner = std::move(owner);
  return t;
}

Tensor Tensor::from_f32(const std::vector<float>& v, const Shape& shape) {
  SLM_CHECK(int64_t(v.size()) == shape_numel(shape), "[tensor] from_f32: size mismatch");
  Tensor t = empty(shape, DType::F32);
  std::memcpy(t.raw(), v.data(), v.size() * 4);
  return t;
}

Tensor Tensor::from_i32(const std::vector<int32_t>& v, const Shape& shape) {
  SLM_CHECK(int64_t(v.size()) == shape_numel(shape), "[tensor] from_i32: size mismatch");
  Tensor t = empty(shape, DType::I32);
  std::memcpy(t.raw(), v.data(), v.size() * 4);
  return t;
}

int64_t Tensor::size(int64_t d) const {
  if (d < 0) d += dim();
  SLM_CHECK(d >= 0 && d < dim(), "[tensor] dimension out of range");
  return shape_[size_t(d)];
}

bool Tensor::is_contiguous() const { return strides_ == contiguous_strides(shape_) || numel() <= 1; }

void* Tensor::raw() const {
  SLM_CHECK(storage_ != nullptr, "[tensor] use of an undefined tensor");
  return static_cast<char*>(storage_->data) + offset_;
}

Tensor Tensor::reshape(const Shape& shape) const {
  SLM_CHECK(is_contiguous(), "[tensor] reshape of a non-contiguous view " + shape_str(shape_));
  Shape s = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      SLM_CHECK(infer < 0, "[tensor] reshape: more than one -1");
      infer = int64_t(i);
    } else {
      known *= s[i];
    }
  }
  if (infer >= 0) s[size_t(infer)] = known ? numel() / known : 0;
  SLM_CHECK(shape_numel(s) == numel(),
            "[tensor] cannot reshape " + shape_str(shape_) + " to " + shape_str(shape));
  Tensor t = *this;
  t.shape_ = s;
  t.strides_ = contiguous_strides(s);
  return t;
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t len) const {
  if (d < 0) d += dim();
  SLM_CHECK(d >= 0 && d < dim() && start >= 0 && len >= 0 && start + len <= shape_[size_t(d)],
            "[tensor] narrow out of range on " + shape_str(shape_));
  Tensor t = *this;
  t.offset_ += size_t(start * strides_[size_t(d)]) * dtype_size(dtype_);
  t.shape_[size_t(d)] = len;
  return t;
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  if (d < 0) d += dim();
  Tensor t = narrow(d, index, 1);
  t.shape_.erase(t.shape_.begin() + d);
  t.strides_.erase(t.strides_.begin() + d);
  return t;
}

Tensor Tensor::transpose(int64_t a, int64_t b) const {
  if (a < 0) a += dim();
  if (b < 0) b += dim();
  SLM_CHECK(a >= 0 && b >= 0 && a < dim() && b < dim(), "[tensor] transpose out of range");
  Tensor t = *this;
  std::swap(t.shape_[size_t(a)], t.shape_[size_t(b)]);
  std::swap(t.strides_[size_t(a)], t.strides_[size_t(b)]);
  return t;
}

// Reads element at flat (row-major) position through strides, converted to f32 / written from f32.
static float load_f32(const char* base, DType t, int64_t off) {
  switch (t) {
    case DType::F32: return reinterpret_cast<const float*>(base)[off];
    case DType::F16: return f16_to_f32(reinterpret_cast<const uint16_t*>(base)[off]);
    case DType::BF16: return bf16_to_f32(reinterpret_cast<const uint16_t*>(base)[off]);
    case DType::I32: return float(reinterpret_cast<const int32_t*>(base)[off]);
  }
  return 0;
}
static void store_f32(char* base, DType t, int64_t off, float v) {
  switch (t) {
    case DType::F32: reinterpret_cast<float*>(base)[off] = v; break;
    case DType::F16: reinterpret_cast<uint16_t*>(base)[off] = f32_to_f16(v); break;
    case DType::BF16: reinterpret_cast<uint16_t*>(base)[off] = f32_to_bf16(v); break;
    case DType::I32: reinterpret_cast<int32_t*>(base)[off] = int32_t(v); break;
  }
}

void Tensor::copy_from(const Tensor& src) {
  SLM_CHECK(src.shape_ == shape_, "[tensor] copy_from: shape " + shape_str(src.shape_) +
                                      " into " + shape_str(shape_));
  if (src.dtype_ == dtype_ && src.is_contiguous() && is_contiguous()) {
    std::memmove(raw(), src.raw(), nbytes());
    return;
  }
  const int64_t n = numel(), nd = dim();
  const char* sb = static_cast<const char*>(src.raw());
  char* db = static_cast<char*>(raw());
  if (n == 0) return;
  // Same dtype and unit stride in the last dimension (row slices, e.g. splitting a fused projection):
  // copy whole rows.
  if (src.dtype_ == dtype_ && nd >= 1 && strides_.back() == 1 && src.strides_.back() == 1) {
    const int64_t row = shape_.back(), rows = n / row, es = int64_t(dtype_size(dtype_));
    std::vector<int64_t> idx(size_t(nd), 0);
    for (int64_t r = 0; r < rows; ++r) {
      int64_t so = 0, dof = 0;
      for (int64_t k = 0; k + 1 < nd; ++k) {
        so += idx[size_t(k)] * src.strides_[size_t(k)];
        dof += idx[size_t(k)] * strides_[size_t(k)];
      }
      std::memmove(db + dof * es, sb + so * es, size_t(row * es));
      for (int64_t k = nd - 2; k >= 0; --k) {
        if (++idx[size_t(k)] < shape_[size_t(k)]) break;
        idx[size_t(k)] = 0;
      }
    }
    return;
  }
  std::vector<int64_t> idx(size_t(nd), 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t so = 0, dof = 0;
    for (int64_t k = 0; k < nd; ++k) {
      so += idx[size_t(k)] * src.strides_[size_t(k)];
      dof += idx[size_t(k)] * strides_[size_t(k)];
    }
    if (src.dtype_ == DType::I32 && dtype_ == DType::I32) {
      reinterpret_cast<int32_t*>(db)[dof] = reinterpret_cast<const int32_t*>(sb)[so];
    } else {
      store_f32(db, dtype_, dof, load_f32(sb, src.dtype_, so));
    }
    for (int64_t k = nd - 1; k >= 0; --k) {
      if (++idx[size_t(k)] < shape_[size_t(k)]) break;
      idx[size_t(k)] = 0;
    }
  }
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape_, dtype_);
  t.copy_from(*this);
  return t;
}

Tensor Tensor::to(DType dtype) const {
  Tensor t = empty(shape_, dtype);
  t.copy_from(*this);
  return t;
}

float Tensor::item_f32(const std::vector<int64_t>& idx) const {
  SLM_CHECK(int64_t(idx.size()) == dim(), "[tensor] item_f32: wrong number of indices");
  int64_t off = 0;
  for (size_t k = 0; k < idx.size(); ++k) {
    SLM_CHECK(idx[k] >= 0 && idx[k] < shape_[k], "[tensor] item_f32: index out of range");
    off += idx[k] * strides_[k];
  }
  return load_f32(static_cast<const char*>(raw()), dtype_, off);
}

std::vector<float> Tensor::to_f32_vector() const {
  Tensor c = to(DType::F32);
  const float* p = c.data<float>();
  return std::vector<float>(p, p + c.numel());
}

void check_tensor(const Tensor& t, DType dtype, const Shape& shape, const char* what) {
  bool ok = t.defined() && t.dtype() == dtype && t.dim() == int64_t(shape.size());
  for (size_t i = 0; ok && i < shape.size(); ++i) ok = shape[i] < 0 || shape[i] == t.shape()[i];
  if (!ok) {
    throw Error(std::string("[tensor] ") + what + ": expected " + std::string(dtype_name(dtype)) + " " +
                shape_str(shape) + ", got " +
                (t.defined() ? std::string(dtype_name(t.dtype())) + " " + shape_str(t.shape()) : "undefined"));
  }
}

}  // namespace slm
