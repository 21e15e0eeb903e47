// Logit processors and sampling (see sampling.h).
#include "models/sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>

#include "tensor/error.h"

namespace slm {

int32_t argmax(const std::vector<float>& v) {
  SLM_CHECK(!v.empty(), "[sampling] empty logits");
  size_t best = 0;
  for (size_t i = 1; i < v.size(); ++i)
    if (v[i] > v[best]) best = i;
  return int32_t(best);
}

std::vector<float> process_logits(std::vector<float> s, const std::vector<int32_t>& context,
                                  const SamplingParams& p) {
  const float ninf = -std::numeric_limits<float>::infinity();
  if (p.repetition_penalty != 1.0f) {
    std::set<int32_t> seen(context.begin(), context.end());
    for (int32_t id : seen) {
      if (id < 0 || size_t(id) >= s.size()) continue;
      float& x = s[size_t(id)];
      x = x < 0 ? x * p.repetition_penalty : x / p.repetition_penalty;
    }
  }
  if (p.temperature > 0 && p.temperature != 1.0f)
    for (float& x : s) x /= p.temperature;
  if (p.top_k > 0 && size_t(p.top_k) < s.size()) {
    std::vector<float> sorted(s);
    std::nth_element(sorted.begin(), sorted.begin() + (p.top_k - 1), sorted.end(), std::greater<float>());
    float kth = sorted[size_t(p.top_k - 1)];
    for (float& x : s)
      if (x < kth) x = ninf;  // ties with the k-th value stay, as torch.topk's threshold keeps them
  }
  if (p.top_p < 1.0f) {
    // HF: sort ascending, cumulative softmax, drop tokens whose cumulative prob <= 1 - top_p,
    // always keeping the most likely one.
    std::vector<size_t> idx(s.size());
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return s[a] < s[b]; });
    float mx = s[idx.back()];
    double z = 0;
    for (float x : s) z += x == ninf ? 0.0 : std::exp(double(x) - mx);
    double cum = 0;
    for (size_t r = 0; r + 1 < idx.size(); ++r) {
      float x = s[idx[r]];
      cum += x == ninf ? 0.0 : std::exp(double(x) - mx) / z;
      if (cum <= 1.0 - double(p.top_p)) s[idx[r]] = ninf;
    }
  }
  return s;
}

int32_t Sampler::next(std::vector<float> logits, const std::vector<int32_t>& context) {
  for (float x : logits)
    SLM_CHECK(!std::isnan(x), "[sampling] the model produced NaN logits — the weights or the input are broken");
  if (p_.temperature <= 0) {
    SamplingParams greedy = p_;
    greedy.temperature = 0;
    greedy.top_k = 0;
    greedy.top_p = 1.0f;
    return argmax(process_logits(std::move(logits), context, greedy));
  }
  std::vector<float> s = process_logits(std::move(logits), context, p_);
  float mx = s[size_t(argmax(s))];
  std::vector<double> w(s.size());
  for (size_t i = 0; i < s.size(); ++i) w[i] = std::exp(double(s[i]) - mx);
  std::discrete_distribution<int32_t> dist(w.begin(), w.end());
  return dist(rng_);
}

}  // namespace slm
