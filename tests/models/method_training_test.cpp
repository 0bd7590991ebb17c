// Each baseline method trains with the generic trainer on a tiny synthetic store: the epoch's
// mean training loss falls over a few dozen steps, and validation runs on it.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "models/train_method.h"
#include "psam/models/registry.h"
#include "support/testing.h"

namespace psam::models {
namespace {

struct Method {
  const char* kind;
  ModelConfig model;
  train::LossConfig loss;
};

void PrintTo(const Method& m, std::ostream* os) { *os << m.kind; }

std::vector<Method> methods() {
  Method unet{"prob_unet", {}, {}};
  unet.model.kind = "prob_unet";
  unet.model.prob_unet.num_filters = {8, 16, 24};
  unet.model.prob_unet.convs_per_block = 2;
  unet.loss.bce_reduction = train::BceReduction::kImageSum;
  unet.loss.dice_weight = 0;
  unet.loss.beta = 1;
  unet.loss.l2_weight = 1e-5;
  Method dropout{"mc_dropout_sam", test::tiny_model("none"), {}};
  dropout.model.kind = "mc_dropout_sam";
  Method adapter{"adapter_sam", test::tiny_model("none"), {}};
  adapter.model.kind = "adapter_sam";
  return {unet, dropout, adapter};
}

class MethodTraining : public ::testing::TestWithParam<Method> {};

TEST_P(MethodTraining, LossFallsAndValidates) {
  const Method& m = GetParam();
  support::TempDir dir;
  test::make_synthetic_store(dir.path() + "/store");
  auto store =
      std::make_shared<const data::DatasetStore>(data::DatasetStore::open(dir.path() + "/store"));
  torch::manual_seed(1);
  const auto model = build_model(m.model, torch::kCPU);
  train::TrainConfig config = test::tiny_train_config();
  config.epochs = 6;  // 8 steps each
  config.lr = 1e-2;
  config.val_every_epochs = 6;
  const auto run = test::train_method(*model, store, config, m.loss, dir.path() + "/run");
  ASSERT_EQ(run.result.status, train::TrainStatus::kFinished);

  std::vector<double> epoch_loss;
  double val_loss = NAN;
  for (const auto& j : run.epochs) {
    epoch_loss.push_back(j["train/loss"].get<double>());
    if (j.contains("val/loss")) val_loss = j["val/loss"].get<double>();
  }
  ASSERT_EQ(epoch_loss.size(), 6u);
  EXPECT_LT(epoch_loss.back(), 0.8 * epoch_loss.front())
      << m.kind << ": first epoch " << epoch_loss.front() << ", last " << epoch_loss.back();
  EXPECT_TRUE(std::isfinite(val_loss)) << m.kind;
}

INSTANTIATE_TEST_SUITE_P(Baselines, MethodTraining, ::testing::ValuesIn(methods()),
                         [](const ::testing::TestParamInfo<Method>& info) {
                           return std::string(info.param.kind);
                         });

}  // namespace
}  // namespace psam::models
