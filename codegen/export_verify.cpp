// Export verification: calibration scan, logit comparison, weight error (see export_verify.h).
#include "codegen/export_verify.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>

#include "codegen/export_load.h"
#include "models/safetensors.h"
#include "models/tokenizer/tokenizer.h"
#include "tensor/alloc.h"
#include "tensor/error.h"

namespace slm::codegen {
namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// Runs f(load) with load(p, i) = element i of float data of dtype dt as f32, the dtype switch outside the loop.
template <class F>
auto with_loader(DType dt, F&& f) {
  switch (dt) {
    case DType::BF16:
      return f([](const void* p, int64_t i) { return bf16_to_f32(static_cast<const uint16_t*>(p)[i]); });
    case DType::F16:
      return f([](const void* p, int64_t i) { return f16_to_f32(static_cast<const uint16_t*>(p)[i]); });
    default:
      return f([](const void* p, int64_t i) { return static_cast<const float*>(p)[i]; });
  }
}

// max |w| of a float tensor read in place (no f32 copy of a large embedding); inf for inf/NaN.
double max_abs_in_place(const Tensor& t) {
  return with_loader(t.dtype(), [&](auto load) {
    const void* p = t.raw();
    const int64_t n = t.numel();
    double m = 0;
#pragma omp parallel for reduction(max : m) if (n >= (int64_t(1) << 16))
    for (int64_t i = 0; i < n; ++i) {
      const float v = load(p, i);
      m = std::max(m, std::isfinite(v) ? std::abs(double(v)) : double(INFINITY));
    }
    return m;
  });
}

}  // namespace

std::string Calibration::summary() const {
  std::string s = std::to_string(tokens) + " tokens: max |activation| " + fmt("%.4g", max_abs) +
                  (max_name.empty() ? "" : " (" + max_name + ")") + ", max |weight| " + fmt("%.4g", max_abs_weight);
  if (nonfinite) s += ", " + std::to_string(nonfinite) + " inf/NaN values (first in " + first_nonfinite + ")";
  s += f16_safe() ? " — fits f16 (limit 65504)" : " — EXCEEDS f16's 65504";
  return s;
}

Calibration calibrate(Model& model, const std::vector<std::vector<int32_t>>& prompts, const std::string& hf_dir) {
  Calibration c;
  model.set_activation_observer([&](const std::string& name, const Tensor& v) {
    Tensor t = v.dtype() == DType::F32 ? v.contiguous() : v.to(DType::F32);
    const float* d = t.data<float>();
    for (int64_t i = 0; i < t.numel(); ++i) {
      const double a = std::abs(double(d[i]));
      if (!std::isfinite(a)) {
        if (!c.nonfinite++) c.first_nonfinite = name;
      } else if (a > c.max_abs) {
        c.max_abs = a;
        c.max_name = name;
      }
    }
  });
  try {
    for (const auto& p : prompts) {
      KVCache cache = model.make_cache(int64_t(p.size()));
      model.forward(p, cache);
      c.tokens += int64_t(p.size());
    }
  } catch (...) {
    model.set_activation_observer(nullptr);
    throw;
  }
  model.set_activation_observer(nullptr);
  if (!hf_dir.empty()) {
    Checkpoint ck = Checkpoint::open(hf_dir);
    for (const auto& name : ck.names()) {
      const SafetensorsEntry& e = ck.entry(name);
      if (!e.supported || e.dtype == DType::I32) continue;
      const double a = max_abs_in_place(ck.get(name));
      if (a > c.max_abs_weight) c.max_abs_weight = a, c.max_weight_name = name;
    }
  }
  return c;
}

std::vector<std::vector<int32_t>> verify_prompts(const std::string& dir, int64_t vocab, int64_t max_len) {
  static const char* kTexts[] = {
      "The quick brown fox jumps over the lazy dog. Once upon a time, in a small village by the sea, there lived",
      "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n",
      "Question: What is the capital of France? Answer: Paris. Question: How many legs does a spider have? Answer:"};
  std::vector<std::vector<int32_t>> out;
  struct stat st;
  if (::stat((dir + "/tokenizer.json").c_str(), &st) == 0) {
    Tokenizer tok = Tokenizer::load(dir);
    for (const char* t : kTexts) {
      std::vector<int32_t> ids;
      for (int32_t id : tok.encode(t))
        if (id >= 0 && id < vocab && int64_t(ids.size()) < max_len) ids.push_back(id);
      if (ids.size() >= 2) out.push_back(std::move(ids));
    }
    if (!out.empty()) return out;
  }
  uint64_t s = 0x9E3779B97F4A7C15ull;  // fixed LCG: the same prompts every run
  for (int k = 0; k < 3; ++k) {
    std::vector<int32_t> ids;
    for (int64_t i = 0; i < std::min<int64_t>(max_len, 32); ++i) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      ids.push_back(int32_t((s >> 33) % uint64_t(vocab)));
    }
    out.push_back(std::move(ids));
  }
  return out;
}

// ---- memory plan ----------------------------------------------------------------------------------------------

uint64_t verify_memory_bytes(const ModelConfig& config, quant::Scheme scheme, ComputeMode mode, int64_t prompt_tokens,
                             int models) {
  uint64_t resident = 0, largest = 0;
  for (const TensorSpec& s : make_model(config, mode, {})->tensor_table()) {
    const bool mm = s.role == TensorRole::Linear || s.role == TensorRole::LmHead || s.role == TensorRole::Embedding;
    const uint64_t n = uint64_t(shape_numel(s.shape));
    resident += n * (mode == ComputeMode::BF16 && mm ? 2 : 4);
    largest = std::max(largest, n);
  }
  const quant::SchemeInfo& info = quant::scheme_info(scheme);
  // Loading the export: an int4 record (codes + scales) and a 4 MiB block; a plain record and its f32 copy.
  const uint64_t load = info.quantized ? largest / 2 + largest / 8 + (uint64_t(4) << 20)
                                       : largest * (dtype_size(info.model_dtype) + 4);
  const uint64_t logits = 4 * uint64_t(prompt_tokens) * uint64_t(config.vocab_size) * 4;  // 2 models, + softmax
  return uint64_t(models) * resident + load + logits + (uint64_t(256) << 20);
}

namespace {
std::string gb(uint64_t bytes) { return fmt("%.1f GB", double(bytes) / 1e9); }
}  // namespace

std::string VerifyPlan::describe() const {
  const std::string avail = available ? gb(available) + " available" : "available memory unknown";
  if (!fits)
    return "needs ~" + gb(need_bf16) + " even with bf16 weights (two copies of the model) but " + avail;
  if (mode == ComputeMode::F32) return "f32 (needs ~" + gb(need_f32) + ", " + avail + ")";
  return "bf16 — the original and the export keep bf16 matmul weights and round matmul inputs to bf16, as "
         "ComputeMode::BF16 (f32 would need ~" + gb(need_f32) + ", bf16 needs ~" + gb(need_bf16) + ", " + avail +
         "); weight errors are still measured on the exact dequantised values";
}

VerifyPlan plan_verification(const ModelConfig& config, quant::Scheme scheme, int64_t prompt_tokens,
                             uint64_t available, int models) {
  VerifyPlan p;
  p.need_f32 = verify_memory_bytes(config, scheme, ComputeMode::F32, prompt_tokens, models);
  p.need_bf16 = verify_memory_bytes(config, scheme, ComputeMode::BF16, prompt_tokens, models);
  p.available = available;
  if (available == 0 || p.need_f32 <= available) return p;
  p.mode = ComputeMode::BF16;
  p.fits = p.need_bf16 <= available;
  return p;
}

// ---- the check ------------------------------------------------------------------------------------------------

namespace {

struct ErrorSum {
  double max_abs = 0, sum = 0, max_ref = 0;
  int64_t n = 0;
};

// |exported - hf| over rows [row0, row0 + rows) of `hf` (read in place, any float dtype).
void accumulate(const Tensor& hf, int64_t row0, const Tensor& block, ErrorSum& e, const std::string& name) {
  const int64_t cols = block.dim() > 1 ? block.size(1) : 1, off = row0 * cols, n = block.numel();
  SLM_CHECK(off + n <= hf.numel(), "[verify] tensor '" + name + "' differs in size between export and checkpoint");
  const float* y = block.data<float>();
  const void* x = hf.raw();
  double mx = e.max_abs, sum = 0, ref = e.max_ref;
  with_loader(hf.dtype(), [&](auto load) {
#pragma omp parallel for reduction(max : mx, ref) reduction(+ : sum) if (n >= (int64_t(1) << 16))
    for (int64_t i = 0; i < n; ++i) {
      const double a = load(x, off + i), d = std::abs(a - double(y[i]));
      mx = std::max(mx, d);
      ref = std::max(ref, std::abs(a));
      sum += d;
    }
    return 0;
  });
  e.max_abs = mx, e.max_ref = ref, e.sum += sum, e.n += n;
}

}  // namespace

VerifyReport verify_export(const std::string& hf_dir, const std::string& export_dir, Model& original,
                           const std::vector<std::vector<int32_t>>& prompts, const EvalData* eval) {
  const auto t0 = std::chrono::steady_clock::now();
  VerifyReport r;
  r.mode = original.compute_mode();
  tensor_cache_release();  // blocks freed while exporting
  const ExportConfig ec = load_export_config(export_dir);
  const Checkpoint ck = Checkpoint::open(hf_dir);
  std::map<std::string, ErrorSum> errs;  // by HF name, reported in name order
  WeightMap w =
      load_export_weights(export_dir, ec, r.mode, [&](const std::string& name, int64_t row0, const Tensor& b) {
        accumulate(ck.get(name), row0, b, errs[name], name);
      });
  tensor_cache_release();  // the loader's f32 blocks
  for (const auto& [name, e] : errs)
    r.weight_errors.push_back({name, e.max_abs, e.n ? e.sum / double(e.n) : 0, e.max_ref});
  std::unique_ptr<Model> exported = make_model(ec.config, r.mode, std::move(w));
  std::vector<EvalSequence> seqs;
  for (const auto& ids : prompts) seqs.push_back({ids, {}});
  r.compare = compare_models(original, *exported, seqs);
  if (eval) {
    r.has_eval = true;
    r.eval_compare = compare_models(original, *exported, eval->sequences);
  }
  r.scan = calibrate(*exported, prompts, "");
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

std::string verify_failure(const VerifyReport& r, quant::Scheme scheme) {
  if (r.scan.nonfinite)
    return "the reloaded export computes inf/NaN (first in " + r.scan.first_nonfinite + ") — try --quant q4f32_1";
  if (scheme == quant::Scheme::Q0F32 && !(r.compare.max_abs_logit_diff <= 1e-3))
    return "q0f32 must reproduce the model, but logits differ by " + fmt("%.3g", r.compare.max_abs_logit_diff) +
           " (bound 1e-3) — this is a bug in slm; please report it";
  return "";
}

}  // namespace slm::codegen
