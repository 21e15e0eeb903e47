// Token embedding gather (see ops.h): rows of an F32/BF16/F16 table converted to f32, parallel over tokens.
// Ids are validated before any row is read, so a bad id is an slm::Error, never an out-of-bounds read.
// Reference: tensor/ref/embedding_ref.cpp (torch.nn.Embedding).
#include <cstring>

#include "tensor/kernel_util.h"
#include "tensor/ops.h"

namespace slm {

void embedding_check(const Tensor& table, const Tensor& ids) {
  detail::check_float(table, 2, "embedding table (V, C)", /*allow_f16=*/true);
  SLM_CHECK(ids.defined() && ids.dtype() == DType::I32 && ids.dim() == 1 && ids.is_contiguous(),
            "[tensor] embedding: ids must be a contiguous I32 tensor (T), got " +
                (ids.defined() ? std::string(dtype_name(ids.dtype())) + " " + shape_str(ids.shape()) : "undefined"));
  const int64_t V = table.size(0);
  const int32_t* id = ids.data<int32_t>();
  for (int64_t t = 0; t < ids.size(0); ++t)
    SLM_CHECK(id[t] >= 0 && id[t] < V, "[tensor] embedding: token id " + std::to_string(id[t]) + " at position " +
                                           std::to_string(t) + " is outside the vocabulary of " + std::to_string(V) +
                                           " rows; the tokenizer and the checkpoint do not match");
}

static void row_to_f32(const Tensor& table, int64_t row, float* out) {
  const int64_t C = table.size(1);
  if (table.dtype() == DType::F32) {
    std::memcpy(out, table.data<float>() + row * C, size_t(C) * 4);
  } else if (table.dtype() == DType::BF16) {
    const uint16_t* src = table.data<uint16_t>() + row * C;
    for (int64_t c = 0; c < C; ++c) out[c] = bf16_to_f32(src[c]);
  } else {
    const uint16_t* src = table.data<uint16_t>() + row * C;
    for (int64_t c = 0; c < C; ++c) out[c] = f16_to_f32(src[c]);
  }
}

Tensor embedding(const Tensor& table, const Tensor& ids) {
  embedding_check(table, ids);
  const int64_t T = ids.size(0), C = table.size(1);
  Tensor out = Tensor::empty({T, C});
  const int32_t* id = ids.data<int32_t>();
  float* o = out.data<float>();
#pragma omp parallel for schedule(static) if (T > 1)
  for (int64_t t = 0; t < T; ++t) row_to_f32(table, id[t], o + t * C);
  return out;
}

}  // namespace slm
