// Learning-rate schedules as transformers' optimization.py builds them for torch's LambdaLR:
//   linear:   _get_linear_schedule_with_warmup_lr_lambda
//   cosine:   _get_cosine_schedule_with_warmup_lr_lambda (num_cycles = 0.5: a half cosine down to 0)
//   constant: _get_constant_schedule_with_warmup_lr_lambda
// lr(step) = base_lr · λ(step), where `step` counts the optimizer steps already taken: the first update uses
// λ(0) (0 during warm-up, as in transformers' Trainer, whose LambdaLR starts at last_epoch = 0 and is stepped
// after each optimizer.step()). Warm-up as TrainingArguments.get_warmup_steps (transformers 4.x):
// warmup_steps if > 0, else ceil(total_steps · warmup_ratio).
// Not a scheduler object: pure functions of the step, so a resumed run needs no scheduler state.
#pragma once
#include <cstdint>
#include <string>

namespace slm {

enum class LrSchedule { Linear, Cosine, Constant };

LrSchedule parse_lr_schedule(const std::string& name);  // "linear" | "cosine" | "constant"; throws otherwise
std::string lr_schedule_name(LrSchedule s);

// warmup_steps > 0 wins; else ceil(total_steps · warmup_ratio) (ratio in [0, 1], checked).
int64_t resolve_warmup_steps(int64_t warmup_steps, double warmup_ratio, int64_t total_steps);

// The multiplier λ(step) of the base learning rate.
double lr_lambda(LrSchedule s, int64_t step, int64_t warmup_steps, int64_t total_steps, double num_cycles = 0.5);

}  // namespace slm
