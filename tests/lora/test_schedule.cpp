// Learning-rate schedules: values worked out by hand from transformers' lambda formulas.
#include <gtest/gtest.h>

#include <cmath>

#include "lora/schedule.h"
#include "tensor/error.h"

namespace slm {
namespace {

TEST(Schedule, LinearWithWarmup) {
  // warm-up 10, total 100: rises 0 → 1 over steps 0..10, then falls to 0 at step 100.
  EXPECT_DOUBLE_EQ(lr_lambda(LrSchedule::Linear, 0, 10, 100), 0.0);
  EXPECT_DOUBLE_EQ(lr_lambda(LrSchedule::Linear, 5, 10, 100), 0.5);
  EXPECT_DOUBLE_EQ(lr_lambda(LrSchedule::Linear, 10, 10, 100), 1.0);
  EXPECT_DOUBLE_EQ(lr_lambda(LrSchedule::Linear, 55, 10, 100), 0.5);
  EXPECT_DOUBLE_EQ(lr_lambda(LrSchedule::Linear, 99, 10, 100), 1.0 / 90.0);
  EXPECT_DOUBLE_EQ(lr_lambda(LrSchedule::Linear, 100, 10, 100), 0.0);
  EXPECT_DOUBLE_EQ(lr_lambda(LrSchedule::Linear, 130, 10, 100), 0.0);  // clamped at 0
  EXPECT_DOUBLE_EQ(lr_lambda(LrSchedule::Linear, 0, 0, 100), 1.0);     // no warm-up: full lr at once
}

TEST(Schedule, CosineWithWarmup) {
  // warm-up 10, total 110: progress = (step - 10) / 100; λ = ½(1 + cos(π·progress)).
  EXPECT_DOUBLE_EQ(lr_lambda(LrSchedule::Cosine, 4, 10, 110), 0.4);
  EXPECT_DOUBLE_EQ(lr_lambda(LrSchedule::Cosine, 10, 10, 110), 1.0);
  EXPECT_NEAR(lr_lambda(LrSchedule::Cosine, 35, 10, 110), 0.5 * (1 + std::sqrt(0.5)), 1e-15);  // π/4
  EXPECT_NEAR(lr_lambda(LrSchedule::Cosine, 60, 10, 110), 0.5, 1e-15);                         // π/2
  EXPECT_NEAR(lr_lambda(LrSchedule::Cosine, 110, 10, 110), 0.0, 1e-15);                        // π
  EXPECT_GE(lr_lambda(LrSchedule::Cosine, 150, 10, 110), 0.0);
}

TEST(Schedule, ConstantWithWarmup) {
  EXPECT_DOUBLE_EQ(lr_lambda(LrSchedule::Constant, 1, 4, 100), 0.25);
  EXPECT_DOUBLE_EQ(lr_lambda(LrSchedule::Constant, 4, 4, 100), 1.0);
  EXPECT_DOUBLE_EQ(lr_lambda(LrSchedule::Constant, 1000, 4, 100), 1.0);
}

TEST(Schedule, WarmupStepsOrRatio) {
  EXPECT_EQ(resolve_warmup_steps(7, 0.5, 100), 7);     // steps win
  EXPECT_EQ(resolve_warmup_steps(0, 0.05, 100), 5);
  EXPECT_EQ(resolve_warmup_steps(0, 0.1, 33), 4);      // ceil(3.3)
  EXPECT_EQ(resolve_warmup_steps(0, 0.0, 33), 0);
  EXPECT_THROW(resolve_warmup_steps(0, 1.5, 10), Error);
  EXPECT_THROW(resolve_warmup_steps(-1, 0.0, 10), Error);
}

TEST(Schedule, Names) {
  for (auto s : {LrSchedule::Linear, LrSchedule::Cosine, LrSchedule::Constant})
    EXPECT_EQ(parse_lr_schedule(lr_schedule_name(s)), s);
  EXPECT_THROW(parse_lr_schedule("polynomial"), Error);
}

}  // namespace
}  // namespace slm
