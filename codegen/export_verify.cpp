// Export verification: calibration scan, logit comparison, weight error (see export_verify.h).
#include "codegen/export_verify.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "models/safetensors.h"
#include "models/tokenizer/tokenizer.h"
#include "tensor/error.h"

namespace slm::codegen {
namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
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
      Tensor t = ck.get(name).to(DType::F32);
      const float* d = t.data<float>();
      for (int64_t i = 0; i < t.numel(); ++i) {
        const double a = std::isfinite(d[i]) ? std::abs(double(d[i])) : INFINITY;
        if (a > c.max_abs_weight) c.max_abs_weight = a, c.max_weight_name = name;
      }
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

std::vector<WeightError> weight_errors(const std::string& hf_dir, const WeightMap& exported) {
  Checkpoint ck = Checkpoint::open(hf_dir);
  std::vector<WeightError> out;
  for (const auto& [name, t] : exported) {
    Tensor a = ck.get(name).to(DType::F32), b = t.to(DType::F32);
    SLM_CHECK(a.numel() == b.numel(), "[verify] tensor '" + name + "' differs in size between export and checkpoint");
    WeightError e{name, 0, 0, 0};
    const float* x = a.data<float>();
    const float* y = b.data<float>();
    double sum = 0;
    for (int64_t i = 0; i < a.numel(); ++i) {
      const double d = std::abs(double(x[i]) - double(y[i]));
      e.max_abs = std::max(e.max_abs, d);
      e.max_ref = std::max(e.max_ref, std::abs(double(x[i])));
      sum += d;
    }
    e.mean_abs = a.numel() ? sum / double(a.numel()) : 0;
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace slm::codegen
