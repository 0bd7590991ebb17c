// Gradient accumulation (train.accumulate_steps) against the larger batch, its resume inside a
// group, and the EMA of the weights (train.ema_decay) against its definition.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "psam/io/state_dict.h"
#include "psam/models/registry.h"
#include "psam/train/checkpoint.h"
#include "psam/train/model_task.h"
#include "psam/train/trainer.h"
#include "psam/util/fs.h"
#include "support/testing.h"
#include "train_fixture.h"
#include "trainer_runs.h"

namespace psam::train {
namespace {
namespace fs = std::filesystem;
using namespace test_runs;

class AccumulationTest : public test::TinyStoreTest {};  // 16 training samples

// k micro-batches of b samples step like one batch of k b: weights, Adam state and logged losses
// agree to float rounding, also with an epoch's last group short (16 samples in groups of 6:
// 6, 6, 4 against batches of 6, 6, 4), with clipping, warm-up and the cosine schedule.
TEST_F(AccumulationTest, EqualsTheLargerBatch) {
  struct Case {
    int64_t micro_batch, steps, large_batch;
  };
  // SGD's update is linear in the gradient, so the runs stay within float rounding; Adam divides
  // by the root of the second moment, which magnifies rounding where a gradient is near 0.
  for (const OptimizerKind kind : {OptimizerKind::kSgd, OptimizerKind::kAdam}) {
    for (const Case& c : {Case{2, 2, 4}, Case{2, 3, 6}}) {
      TrainerOptions large;
      large.config = test::tiny_train_config();
      large.config.optimizer = kind;
      const std::string tag = std::string(name_of(kind)) + std::to_string(c.steps);
      const RunOutcome a = train_run(store_, dir_.path() + "/large" + tag, large, c.large_batch);
      TrainerOptions accumulated = large;
      accumulated.config.accumulate_steps = c.steps;
      const RunOutcome b = train_run(store_, dir_.path() + "/acc" + tag, accumulated, c.micro_batch);
      ASSERT_EQ(a.result.status, TrainStatus::kFinished);
      ASSERT_EQ(b.result.status, TrainStatus::kFinished);
      EXPECT_EQ(a.result.steps, 2 * ((16 + c.large_batch - 1) / c.large_batch));
      EXPECT_EQ(b.result.steps, a.result.steps);
      const double tolerance = kind == OptimizerKind::kSgd ? 1e-6 : 5e-5;
      const double moved = max_abs_difference(a.last.model, fresh_tiny_sam_weights());
      EXPECT_LT(max_abs_difference(a.last.model, b.last.model), tolerance) << tag;
      EXPECT_GT(moved, 20 * tolerance) << tag << ": the weights moved";
      const auto la = step_lines_of(a.metrics), lb = step_lines_of(b.metrics);
      ASSERT_EQ(la.size(), lb.size());
      for (size_t i = 0; i < la.size(); ++i) {
        EXPECT_EQ(la[i]["step"], lb[i]["step"]);
        EXPECT_DOUBLE_EQ(la[i]["lr"].get<double>(), lb[i]["lr"].get<double>());
        EXPECT_NEAR(la[i]["train/loss"].get<double>(), lb[i]["train/loss"].get<double>(), 1e-5);
        EXPECT_NEAR(la[i]["grad_norm"].get<double>(), lb[i]["grad_norm"].get<double>(), 1e-5);
      }
    }
  }
}

// A run stopped inside a group (after 1 and 2 of its 3 micro-batches, and in the epoch's last,
// short group) and resumed ends bit-identical to the uninterrupted run: last.pt carries the
// gradients accumulated so far.
TEST_F(AccumulationTest, ResumeInsideAGroupIsBitExact) {
  TrainerOptions options;
  options.config = test::tiny_train_config();  // 8 batches of 2 per epoch: groups 3, 3, 2
  options.config.accumulate_steps = 3;
  const RunOutcome full = train_run(store_, dir_.path() + "/full", options, 2);
  ASSERT_EQ(full.result.status, TrainStatus::kFinished);
  ASSERT_EQ(full.result.steps, 6);
  EXPECT_TRUE(full.last.grads.empty()) << "an epoch's end is between groups";
  for (const int64_t stop : {4, 5, 7, 12}) {
    const std::string run_dir = dir_.path() + "/stop" + std::to_string(stop);
    TrainerOptions first = options;
    first.stop_at_batch = stop;
    const RunOutcome a = train_run(store_, run_dir, first, 2);
    ASSERT_EQ(a.result.status, TrainStatus::kInterrupted);
    const int64_t in_epoch = stop % 8;
    const int64_t micro = in_epoch % 3;
    EXPECT_EQ(a.last.state.accumulation.micro, micro) << stop;
    EXPECT_EQ(a.last.state.accumulation.samples, 2 * micro) << stop;
    EXPECT_EQ(a.last.grads.empty(), micro == 0) << stop;
    EXPECT_EQ(a.last.state.step, (stop / 8) * 3 + in_epoch / 3) << stop;
    torch::manual_seed(999);  // another process
    torch::rand({10});
    TrainerOptions second = options;
    second.resume = true;
    const RunOutcome b = train_run(store_, run_dir, second, 2);
    ASSERT_EQ(b.result.status, TrainStatus::kFinished);
    expect_bit_equal_dicts(b.last.model, full.last.model);
    expect_bit_equal_dicts(b.last.optimizer, full.last.optimizer);
    EXPECT_TRUE(torch::equal(b.last.rng_train, full.last.rng_train));
    EXPECT_EQ(b.metrics, full.metrics) << "stopped after batch " << stop;
  }
}

// The EMA in last.pt equals the average computed here from its definition over the weights seen
// after every step (warm-up d_t = min(0.9, (1 + t) / (10 + t))); validation reports the EMA's
// metrics too; a resumed run continues the EMA bit-exactly.
TEST_F(AccumulationTest, EmaFollowsItsDefinitionAndResumes) {
  TrainerOptions options;
  options.config = test::tiny_train_config();  // 16 steps
  options.config.ema_decay = 0.9;
  const std::string name = "sam.mask_decoder.output_upscaling.0.weight";
  std::vector<torch::Tensor> seen;  // the weights before step t's loss, t = 0, 1, ...
  models::Model* model = nullptr;
  auto record = [&](int64_t step) {
    (void)step;
    for (const auto& [n, p] : model->trainable_parameters()) {
      if (n == name) seen.push_back(p.detach().to(torch::kDouble).clone());
    }
  };
  // The hook needs the model: build it the way train_run does, once, to read its parameter.
  fs::create_directories(dir_.path() + "/full");
  auto store = std::make_shared<const data::DatasetStore>(data::DatasetStore::open(store_));
  data::Loader train_loader(store, store->split_indices("train"), test::tiny_loader_options(true));
  data::Loader val_loader(store, store->split_indices("val"), test::tiny_loader_options(false));
  torch::manual_seed(1);
  const auto built = models::build_model(test::tiny_model("none"), torch::kCPU);
  model = built.get();
  LossConfig loss;
  loss.dice_mode = DiceMode::kPerSample;
  HookedTask task(*model, loss, record);
  TrainerOptions o = options;
  o.run_dir = dir_.path() + "/full";
  o.seed = 7;
  o.config_hash = "test";
  o.progress.tty = false;
  const TrainResult result = train(task, train_loader, &val_loader, o);
  ASSERT_EQ(result.status, TrainStatus::kFinished);
  const Checkpoint last = read_checkpoint(o.run_dir + "/checkpoints/last.pt");
  ASSERT_EQ(seen.size(), 16u);
  seen.push_back(last.model.at(name).to(torch::kDouble));  // after the last step
  torch::Tensor ema = seen[0].clone();
  for (int64_t t = 0; t < 16; ++t) {
    const double d = std::min(0.9, (1.0 + t) / (10.0 + t));
    ema = d * ema + (1 - d) * seen[t + 1];
  }
  ASSERT_TRUE(last.ema.contains(name));
  EXPECT_LT((last.ema.at(name).to(torch::kDouble) - ema).abs().max().item<double>(), 1e-6);
  EXPECT_GT((ema - seen.back()).abs().max().item<double>(), 2e-5) << "the average lags";
  EXPECT_EQ(last.ema.size(), model->trainable_parameters().size());
  const std::string metrics = read_file(o.run_dir + "/metrics.jsonl");
  EXPECT_NE(metrics.find("\"val_ema/loss\""), std::string::npos);

  for (const int64_t stop : {5, 8}) {
    const std::string run_dir = dir_.path() + "/ema" + std::to_string(stop);
    TrainerOptions first = options;
    first.stop_at_step = stop;
    train_run(store_, run_dir, first, 2);
    TrainerOptions second = options;
    second.resume = true;
    const RunOutcome b = train_run(store_, run_dir, second, 2);
    ASSERT_EQ(b.result.status, TrainStatus::kFinished);
    expect_bit_equal_dicts(b.last.ema, last.ema);
    expect_bit_equal_dicts(b.last.model, last.model);
  }
}

}  // namespace
}  // namespace psam::train
