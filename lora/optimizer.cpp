// AdamW and clip_grad_norm_ (see optimizer.h for the reference and the formulas).
#include "lora/optimizer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "tensor/error.h"

namespace slm {

namespace {

// Elements per parallel task of the optimizer passes.
constexpr int64_t kChunk = 1 << 15;

// (parameter, first element) of every kChunk-element task over all parameters.
std::vector<std::pair<size_t, int64_t>> element_chunks(const std::vector<NamedParam>& params) {
  std::vector<std::pair<size_t, int64_t>> out;
  for (size_t k = 0; k < params.size(); ++k)
    for (int64_t i = 0; i < params[k].value.numel(); i += kChunk) out.emplace_back(k, i);
  return out;
}

// Threads only pay off past this many elements in all; below it (toy runs, tests that fork a trainer — libgomp
// is not fork-safe) the passes stay serial.
bool worth_threads(const std::vector<NamedParam>& params) {
  int64_t n = 0;
  for (const auto& p : params) n += p.value.numel();
  return n > (1 << 16);
}

}  // namespace

static void check_param(const NamedParam& p) {
  SLM_CHECK(p.value.dtype() == DType::F32 && p.value.is_contiguous(),
            "[adamw] parameter '" + p.name + "' must be a contiguous F32 tensor (f32 master weights)");
  SLM_CHECK(p.grad.dtype() == DType::F32 && p.grad.is_contiguous() && p.grad.shape() == p.value.shape(),
            "[adamw] the grad of '" + p.name + "' must be a contiguous F32 tensor shaped " +
                shape_str(p.value.shape()));
}

void AdamW::init(const std::vector<NamedParam>& params) {
  m_.clear();
  v_.clear();
  for (const auto& p : params) {
    check_param(p);
    m_.push_back(Tensor::zeros(p.value.shape()));
    v_.push_back(Tensor::zeros(p.value.shape()));
  }
  step_ = 0;
}

void AdamW::load_state(const std::vector<Tensor>& exp_avg, const std::vector<Tensor>& exp_avg_sq,
                       int64_t step_count) {
  SLM_CHECK(exp_avg.size() == m_.size() && exp_avg_sq.size() == v_.size(),
            "[adamw] the checkpoint has state for " + std::to_string(exp_avg.size()) + " parameters, the run has " +
                std::to_string(m_.size()));
  for (size_t i = 0; i < m_.size(); ++i) {
    SLM_CHECK(exp_avg[i].shape() == m_[i].shape() && exp_avg_sq[i].shape() == v_[i].shape(),
              "[adamw] optimizer state " + std::to_string(i) + " is shaped " + shape_str(exp_avg[i].shape()) +
                  " in the checkpoint but the parameter is " + shape_str(m_[i].shape()));
    m_[i].copy_from(exp_avg[i]);
    v_[i].copy_from(exp_avg_sq[i]);
  }
  step_ = step_count;
}

void AdamW::step(const std::vector<NamedParam>& params, double lr) {
  SLM_CHECK(params.size() == m_.size(), "[adamw] step() got " + std::to_string(params.size()) +
                                            " parameters but init() had " + std::to_string(m_.size()));
  ++step_;
  const double t = double(step_);
  // Scalars as torch forms them: Python doubles, cast to f32 when they meet an f32 tensor.
  const double bias_correction1 = 1.0 - std::pow(cfg_.beta1, t);
  const double bias_correction2 = 1.0 - std::pow(cfg_.beta2, t);
  const float neg_step_size = float(-(lr / bias_correction1));
  const float bc2_sqrt = float(std::pow(bias_correction2, 0.5));
  const float decay = float(1.0 - lr * cfg_.weight_decay);
  const float w = float(1.0 - cfg_.beta1);  // lerp weight
  const float beta2 = float(cfg_.beta2), one_minus_beta2 = float(1.0 - cfg_.beta2);
  const float eps = float(cfg_.eps);
  const bool small_weight = std::fabs(w) < 0.5f;  // torch's lerp picks its formula by |weight| < 0.5
  const bool decayed = cfg_.weight_decay != 0.0;
  for (size_t k = 0; k < params.size(); ++k) {
    check_param(params[k]);
    SLM_CHECK(params[k].value.shape() == m_[k].shape(),
              "[adamw] parameter '" + params[k].name + "' changed shape since init()");
  }
  // One parallel region over every parameter (a LoRA run has hundreds of small ones); each element's update is
  // independent, so the split does not change a bit.
  const std::vector<std::pair<size_t, int64_t>> chunks = element_chunks(params);
#pragma omp parallel for schedule(dynamic, 1) if (worth_threads(params))
  for (size_t c = 0; c < chunks.size(); ++c) {
    const size_t k = chunks[c].first;
    float* p = params[k].value.data<float>();
    const float* g = params[k].grad.data<float>();
    float* m = m_[k].data<float>();
    float* v = v_[k].data<float>();
    const int64_t i0 = chunks[c].second, i1 = std::min(params[k].value.numel(), i0 + kChunk);
    for (int64_t i = i0; i < i1; ++i) {
      float pi = decayed ? p[i] * decay : p[i];
      float mi = small_weight ? m[i] + w * (g[i] - m[i]) : g[i] - (g[i] - m[i]) * (1.0f - w);
      float vi = v[i] * beta2;
      vi = vi + one_minus_beta2 * g[i] * g[i];
      const float denom = std::sqrt(vi) / bc2_sqrt + eps;
      p[i] = pi + neg_step_size * mi / denom;
      m[i] = mi;
      v[i] = vi;
    }
  }
}

std::vector<double> grad_sum_squares(const std::vector<NamedParam>& params) {
  for (const auto& p : params) check_param(p);
  std::vector<double> out(params.size(), 0.0);
  // Per parameter: fixed-size blocks summed in order, so the result does not depend on the thread count.
#pragma omp parallel for schedule(dynamic, 1) if (worth_threads(params))
  for (size_t k = 0; k < params.size(); ++k) {
    const float* g = params[k].grad.data<float>();
    const int64_t n = params[k].grad.numel();
    constexpr int64_t kBlock = 4096;
    double total = 0.0;
    for (int64_t b = 0; b * kBlock < n; ++b) {
      double s = 0.0;
      const int64_t end = std::min(n, (b + 1) * kBlock);
      for (int64_t i = b * kBlock; i < end; ++i) s += double(g[i]) * double(g[i]);
      total += s;
    }
    out[k] = total;
  }
  return out;
}

float clip_grad_norm(const std::vector<NamedParam>& params, const std::vector<double>& sum_squares,
                     double max_norm) {
  SLM_CHECK(sum_squares.size() == params.size(), "[clip_grad_norm] one sum of squares per parameter expected");
  double total = 0.0;
  for (double s : sum_squares) total += s;
  const float norm = float(std::sqrt(total));
  // torch: clip_coef = max_norm / (total_norm + 1e-6) as f32 tensor math, clamped to at most 1.
  float coef = float(max_norm) / (norm + float(1e-6));
  if (coef > 1.0f) coef = 1.0f;
  if (coef == 1.0f) return norm;  // g · 1 == g
#pragma omp parallel for schedule(dynamic, 1) if (worth_threads(params))
  for (size_t k = 0; k < params.size(); ++k) {
    float* g = params[k].grad.data<float>();
    const int64_t n = params[k].grad.numel();
    for (int64_t i = 0; i < n; ++i) g[i] *= coef;
  }
  return norm;
}

void zero_grads(const std::vector<NamedParam>& params) {
  for (const auto& p : params) {
    check_param(p);
    std::memset(p.grad.raw(), 0, p.grad.nbytes());
  }
}

}  // namespace slm
