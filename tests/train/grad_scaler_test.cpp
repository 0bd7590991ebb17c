// The fp16 gradient scaler: its update rule, exact power-of-two unscaling, and the trainer with
// it (exercised in fp32 on the CPU): the same steps as without, overflows skipped and backed off
// without counting as non-finite steps, and its state resumed exactly.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "psam/train/grad_scaler.h"
#include "psam/util/error.h"
#include "support/testing.h"
#include "trainer_runs.h"

namespace psam::train {
namespace {
using namespace test_runs;

TEST(GradScaler, GrowsEveryIntervalAndBacksOffOnOverflow) {
  GradScalerOptions o;
  o.init_scale = 8;
  o.growth_interval = 3;
  GradScaler scaler(o);
  scaler.update(false);
  scaler.update(false);
  EXPECT_EQ(scaler.scale(), 8);
  scaler.update(false);
  EXPECT_EQ(scaler.scale(), 16);  // 3 finite steps in a row
  scaler.update(false);
  scaler.update(true);
  EXPECT_EQ(scaler.scale(), 8);
  EXPECT_EQ(scaler.growth_tracker(), 0);  // an overflow restarts the count
  scaler.update(false);
  scaler.update(false);
  EXPECT_EQ(scaler.scale(), 8);
  EXPECT_THROW(scaler.load(0, 0), Error);
  EXPECT_THROW(scaler.load(INFINITY, 0), Error);
}

TEST(GradScaler, UnscalesExactlyAndFindsOverflows) {
  GradScaler scaler;  // 2^16
  NamedParameters params = {{"a", torch::zeros({3})}, {"b", torch::zeros({2})}};
  const auto g = torch::tensor({0.1f, -3.7e-5f, 12.5f});
  params[0].second.mutable_grad() = scaler.scale_loss(g);
  EXPECT_TRUE(scaler.unscale(params));
  EXPECT_TRUE(torch::equal(params[0].second.grad(), g));  // powers of two round nothing
  params[1].second.mutable_grad() = torch::tensor({1.0f, INFINITY});
  EXPECT_FALSE(scaler.unscale(params));
}

class ScaledTraining : public test::TinyStoreTest {};

TEST_F(ScaledTraining, TakesTheStepsOfAnUnscaledRun) {
  TrainerOptions plain;
  plain.config = test::tiny_train_config();
  const RunOutcome a = train_run(store_, dir_.path() + "/plain", plain, 2);
  TrainerOptions scaled = plain;
  scaled.grad_scaler = true;
  const RunOutcome b = train_run(store_, dir_.path() + "/scaled", scaled, 2);
  ASSERT_EQ(b.result.status, TrainStatus::kFinished);
  EXPECT_EQ(b.result.steps, a.result.steps);
  EXPECT_LT(max_abs_difference(a.last.model, b.last.model), 1e-7);
  EXPECT_EQ(b.last.scaler_scale, 65536.0);  // 16 steps: no growth, no overflow
  EXPECT_EQ(b.last.scaler_growth_tracker, 16);
  EXPECT_EQ(a.last.scaler_scale, 0.0) << "no scaler, none checkpointed";
}

// A scale of 2^127 overflows the gradients of a loss weighted 8: those steps are skipped and the
// scale halves each time, while train.max_nonfinite_steps = 1 does not stop the run; a run stopped after the
// overflows resumes bit-exactly with the scaler's state.
TEST_F(ScaledTraining, OverflowsBackOffWithoutCountingAsNonFinite) {
  TrainerOptions options;
  options.config = test::tiny_train_config();
  options.config.max_nonfinite_steps = 1;
  options.grad_scaler = true;
  options.grad_scaler_init = std::ldexp(1.0, 127);
  const RunOutcome full = train_run(store_, dir_.path() + "/full", options, 2, 8.0);
  ASSERT_EQ(full.result.status, TrainStatus::kFinished);
  EXPECT_EQ(full.result.skipped_steps, 0);
  int64_t overflows = 0;
  std::istringstream lines(full.metrics);
  for (std::string line; std::getline(lines, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j["kind"] != "overflow") continue;
    ++overflows;
    EXPECT_EQ(j["scale"].get<double>(), std::ldexp(1.0, 127 - static_cast<int>(overflows)));
  }
  EXPECT_GE(overflows, 2) << "more overflows in a row than max_nonfinite_steps";
  EXPECT_EQ(full.result.steps, 16 - overflows);  // each overflow used up its batch
  EXPECT_EQ(full.last.scaler_scale, std::ldexp(1.0, 127 - static_cast<int>(overflows)));
  EXPECT_EQ(full.last.scaler_growth_tracker, 16 - overflows);

  const std::string run_dir = dir_.path() + "/split";
  TrainerOptions first = options;
  first.stop_at_step = 3;
  train_run(store_, run_dir, first, 2, 8.0);
  TrainerOptions second = options;
  second.resume = true;
  const RunOutcome b = train_run(store_, run_dir, second, 2, 8.0);
  ASSERT_EQ(b.result.status, TrainStatus::kFinished);
  expect_bit_equal_dicts(b.last.model, full.last.model);
  EXPECT_EQ(b.last.scaler_scale, full.last.scaler_scale);
  EXPECT_EQ(b.metrics, full.metrics);
}

}  // namespace
}  // namespace psam::train
