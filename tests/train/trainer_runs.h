// One process of the trainer on the deterministic tiny SAM, for the tests of the trainer's
// options (accumulation, EMA, gradient scaling): its result, last.pt and metrics.jsonl.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "psam/io/state_dict.h"
#include "psam/models/registry.h"
#include "psam/train/checkpoint.h"
#include "psam/train/model_task.h"
#include "psam/train/trainer.h"
#include "psam/util/fs.h"
#include "train_fixture.h"

namespace psam::train::test_runs {

struct RunOutcome {
  TrainResult result;
  Checkpoint last;
  std::string metrics;
};

// Calls `hook(step)` before each training loss (validation's are not counted).
class HookedTask : public ModelTask {
 public:
  HookedTask(models::Model& model, LossConfig loss, std::function<void(int64_t)> hook)
      : ModelTask(model, std::move(loss)), hook_(std::move(hook)) {}
  StepLoss loss(const data::Batch& batch, int64_t step, at::Generator generator) override {
    if (hook_ && module().is_training()) hook_(step);
    return ModelTask::loss(batch, step, std::move(generator));
  }

 private:
  std::function<void(int64_t)> hook_;
};

// One process: the deterministic tiny SAM (no latent draw) with per-sample Dice, so a batch's
// loss is the mean of its samples' and accumulated micro-batches can equal one larger batch.
inline RunOutcome train_run(const std::string& store_dir, const std::string& run_dir,
                            TrainerOptions options, int64_t batch_size, double loss_weight = 1.0) {
  std::filesystem::create_directories(run_dir);
  auto store = std::make_shared<const data::DatasetStore>(data::DatasetStore::open(store_dir));
  data::LoaderOptions lo = test::tiny_loader_options(true);
  lo.batch_size = batch_size;
  data::Loader train_loader(store, store->split_indices("train"), lo);
  data::Loader val_loader(store, store->split_indices("val"), test::tiny_loader_options(false));
  torch::manual_seed(1);
  const auto model = models::build_model(test::tiny_model("none"), torch::kCPU);
  LossConfig loss;
  loss.dice_mode = DiceMode::kPerSample;
  loss.bce_weight = loss.dice_weight = loss_weight;
  HookedTask task(*model, loss, {});
  options.run_dir = run_dir;
  options.seed = 7;
  options.config_hash = "test";
  options.progress.tty = false;
  RunOutcome run;
  run.result = train(task, train_loader, &val_loader, options);
  if (std::filesystem::exists(run_dir + "/checkpoints/last.pt"))
    run.last = read_checkpoint(run_dir + "/checkpoints/last.pt");
  run.metrics = read_file(run_dir + "/metrics.jsonl");
  return run;
}

// The weights every run starts from.
inline io::TensorDict fresh_tiny_sam_weights() {
  torch::manual_seed(1);
  return io::state_dict(models::build_model(test::tiny_model("none"), torch::kCPU)->module());
}

inline double max_abs_difference(const io::TensorDict& a, const io::TensorDict& b) {
  EXPECT_EQ(a.keys(), b.keys());
  double worst = 0;
  for (const auto& [name, t] : a) {
    worst = std::max(
        worst, (t.to(torch::kDouble) - b.at(name).to(torch::kDouble)).abs().max().item<double>());
  }
  return worst;
}

inline void expect_bit_equal_dicts(const io::TensorDict& a, const io::TensorDict& b) {
  ASSERT_EQ(a.keys(), b.keys());
  for (const auto& [name, t] : a) EXPECT_TRUE(torch::equal(t, b.at(name))) << name;
}

inline std::vector<nlohmann::json> step_lines_of(const std::string& metrics) {
  std::vector<nlohmann::json> out;
  std::istringstream in(metrics);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    if (j["kind"] == "step") out.push_back(std::move(j));
  }
  return out;
}

}  // namespace psam::train::test_runs
