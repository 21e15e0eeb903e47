// Learning-rate schedules (see schedule.h; formulas from transformers/optimization.py).
#include "lora/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "tensor/error.h"

namespace slm {

LrSchedule parse_lr_schedule(const std::string& name) {
  if (name == "linear") return LrSchedule::Linear;
  if (name == "cosine") return LrSchedule::Cosine;
  if (name == "constant") return LrSchedule::Constant;
  throw Error("[schedule] unknown learning-rate schedule '" + name + "' — use linear, cosine or constant");
}

std::string lr_schedule_name(LrSchedule s) {
  switch (s) {
    case LrSchedule::Linear: return "linear";
    case LrSchedule::Cosine: return "cosine";
    case LrSchedule::Constant: return "constant";
  }
  return "?";
}

int64_t resolve_warmup_steps(int64_t warmup_steps, double warmup_ratio, int64_t total_steps) {
  SLM_CHECK(warmup_steps >= 0, "[schedule] warm-up steps must be >= 0, got " + std::to_string(warmup_steps));
  SLM_CHECK(warmup_ratio >= 0.0 && warmup_ratio <= 1.0,
            "[schedule] warm-up ratio must lie in [0, 1], got " + std::to_string(warmup_ratio));
  if (warmup_steps > 0) return warmup_steps;
  return int64_t(std::ceil(double(total_steps) * warmup_ratio));
}

double lr_lambda(LrSchedule s, int64_t step, int64_t warmup_steps, int64_t total_steps, double num_cycles) {
  if (step < warmup_steps) {
    // float(current_step) / float(max(1, num_warmup_steps)) — the same for all three.
    return double(step) / double(std::max<int64_t>(1, warmup_steps));
  }
  switch (s) {
    case LrSchedule::Linear:
      return std::max(0.0, double(total_steps - step) / double(std::max<int64_t>(1, total_steps - warmup_steps)));
    case LrSchedule::Cosine: {
      const double progress =
          double(step - warmup_steps) / double(std::max<int64_t>(1, total_steps - warmup_steps));
      return std::max(0.0, 0.5 * (1.0 + std::cos(std::numbers::pi * num_cycles * 2.0 * progress)));
    }
    case LrSchedule::Constant:
      return 1.0;
  }
  return 1.0;
}

}  // namespace slm
