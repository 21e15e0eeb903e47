// Scalar reference of embedding (see ops.h): out[t] = table[ids[t]] converted to f32, one element at a time.
// Not vectorised; the fast path (tensor/embedding.cpp) is tested against it. Reference: torch.nn.Embedding.
#include "tensor/kernel_util.h"
#include "tensor/ops.h"

namespace slm {

void embedding_check(const Tensor& table, const Tensor& ids);  // embedding.cpp

Tensor embedding_ref(const Tensor& table, const Tensor& ids) {
  embedding_check(table, ids);
  const int64_t T = ids.size(0), C = table.size(1);
  Tensor out = Tensor::empty({T, C});
  for (int64_t t = 0; t < T; ++t) {
    int64_t row = ids.data<int32_t>()[t];
    for (int64_t c = 0; c < C; ++c)
      out.data<float>()[t * C + c] = detail::load_float(table.raw(), table.dtype(), row * C + c);
  }
  return out;
}

}  // namespace slm
