// MLC-LLM group quantisation formats (q4f16_1, q4f32_1, and the no-quant q0f16 / q0f32) as data types.
// A quantised weight keeps MLC's own planar layout, so export is a copy: `q_weight` (N, words) holds the
// packed 4-bit codes, `q_scale` (N, groups) one scale per group of `group_size` values along K.
// The group size travels with the weight (QuantizedWeight::group_size), never a global.
// Not a model format of our own and not the KN (`*_0`) layout. Facts and sources: docs/quantization.md.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tensor/tensor.h"

namespace slm::quant {

enum class Scheme : uint8_t { Q4F16_1, Q4F32_1, Q0F16, Q0F32 };

// How `round` in MLC's quantize kernel breaks ties. TVM lowered `tir.round` to llvm.round (ties away from
// zero) on CPU until apache/tvm#19368 (2026-04-09), to nearbyint (ties to even) since; CUDA f16 always used
// hrint (ties to even). See docs/quantization.md §Rounding.
enum class RoundMode : uint8_t { TiesToEven, TiesAway };

// One preset of MLC's registry (python/mlc_llm/quantization/quantization.py, QUANTIZATION).
struct SchemeInfo {
  const char* name;         // "q4f16_1"
  bool quantized;           // false for q0*: the weight is only cast to model_dtype
  int64_t group_size;       // 32 (0 for q0*)
  int bits;                 // 4 (quantize_dtype int4)
  int elems_per_word;       // 32 / bits = 8 (storage_dtype uint32)
  int max_int;              // 2^(bits-1) - 1 = 7
  DType model_dtype;        // scale dtype and arithmetic dtype of the quantize kernel
  bool quantize_embedding;  // true for the q4 presets
  bool quantize_final_fc;   // true for the q4 presets (lm_head)
};

const SchemeInfo& scheme_info(Scheme s);
// Parses "q4f16_1" etc.; false for names we do not implement.
bool scheme_from_name(std::string_view name, Scheme* out);

// The 32 codes of one q4 group of 32 as MLC stores them: word j holds elements 8j..8j+7, element 8j+r in
// bits [4r, 4r+4) (pack_weight). A group's scale lives in the separate q_scale plane, not next to it.
struct Q4Group32 {
  uint32_t words[4];
};
static_assert(sizeof(Q4Group32) == 16, "a q4 group of 32 is 4 uint32 words");
static_assert(alignof(Q4Group32) == 4);

// A group with its scale, the unit a kernel consumes (q4f16_1: 16 + 2 = 18 bytes = 4.5 bits per weight;
// q4f32_1: 20 bytes = 5 bits). Packed: this is the logical size, MLC's files keep the two planes apart.
#pragma pack(push, 1)
struct BlockQ4F16 {
  Q4Group32 q;
  uint16_t scale;  // f16 bits
};
struct BlockQ4F32 {
  Q4Group32 q;
  float scale;
};
#pragma pack(pop)
static_assert(sizeof(BlockQ4F16) == 18, "q4f16_1: 4.5 bits per weight");
static_assert(sizeof(BlockQ4F32) == 20, "q4f32_1: 5 bits per weight");

// Code of element `i` (0..7) of a storage word.
inline uint32_t q4_code(uint32_t word, int i) { return (word >> (4 * i)) & 0xFu; }

// A weight (N, K) under one scheme. For q4 schemes:
//   q_weight (N, ceil(K/group_size) * group_size/8) I32 tensor holding the uint32 words bit for bit
//            (slm has no U32 dtype; MLC names the dtype "uint32"); padding codes past K are 0.
//   q_scale  (N, ceil(K/group_size)) F16 (q4f16_1) or F32 (q4f32_1).
// For q0 schemes q_weight is the weight cast to the model dtype (F16/F32), q_scale undefined.
struct QuantizedWeight {
  Scheme scheme = Scheme::Q4F16_1;
  int64_t group_size = 0;  // elements per scale along K (0 for q0)
  int64_t rows = 0;        // N
  int64_t cols = 0;        // K, unpadded
  Tensor q_weight;
  Tensor q_scale;

  int64_t num_groups() const { return group_size ? (cols + group_size - 1) / group_size : 0; }
  int64_t words_per_row() const;
  const uint32_t* words() const { return static_cast<const uint32_t*>(q_weight.raw()); }
  // Scale of row n, group g, as f32 (exact).
  float scale(int64_t n, int64_t g) const;
};

// MLC parameter names for the HF weight `name` ("model.layers.0.mlp.down_proj"): {name.q_weight,
// name.q_scale} for q4 schemes, {name.weight} for q0 (GroupQuantize.quantize_model param_map).
std::vector<std::string> mlc_param_names(Scheme s, const std::string& name);

}  // namespace slm::quant
