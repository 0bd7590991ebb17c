// Posterior collapse is reported: the rule on an epoch's numbers, and a real collapse (a KL weight
// that dwarfs the reconstruction) warned about at the end of the epochs it shows in.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "models/train_method.h"
#include "psam/models/registry.h"
#include "psam/train/collapse.h"
#include "support/testing.h"

namespace psam::train {
namespace {

TEST(Collapse, TheRule) {
  EXPECT_TRUE(collapse_warnings(0.5, 0.2).empty());
  EXPECT_TRUE(collapse_warnings(kCollapsedKl, std::nullopt).empty());
  const auto kl = collapse_warnings(1e-4, std::nullopt);
  ASSERT_EQ(kl.size(), 1u);
  EXPECT_NE(kl[0].find("posterior has collapsed"), std::string::npos) << kl[0];
  EXPECT_NE(kl[0].find("loss.beta"), std::string::npos) << kl[0];
  EXPECT_NE(kl[0].find("loss.energy_weight"), std::string::npos) << kl[0];
  const auto same = collapse_warnings(0.5, 1e-5);
  ASSERT_EQ(same.size(), 1u);
  EXPECT_NE(same[0].find("barely differ"), std::string::npos) << same[0];
  EXPECT_EQ(collapse_warnings(0.0, 0.0).size(), 2u);
}

TEST(Collapse, TheTrainerWarnsWhenTheKlDwarfsTheReconstruction) {
  support::TempDir dir;
  test::make_synthetic_store(dir.path() + "/store");
  const auto store = std::make_shared<const data::DatasetStore>(
      data::DatasetStore::open(dir.path() + "/store"));
  torch::manual_seed(2);
  const auto model = models::build_model(test::tiny_model("reference"), c10::kCPU);
  TrainConfig config = test::tiny_train_config();
  config.epochs = 6;
  config.lr = 1e-2;
  LossConfig loss;
  loss.beta = 1e4;
  ::testing::internal::CaptureStderr();
  const auto run = test::train_method(*model, store, config, loss, dir.path() + "/run");
  const std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_EQ(run.result.status, TrainStatus::kFinished);
  const double last_kl = run.epochs.back()["train/kl"].get<double>();
  ASSERT_LT(last_kl, kCollapsedKl) << "the KL did not collapse; the warning has nothing to say";
  EXPECT_NE(log.find("posterior has collapsed"), std::string::npos) << log;
}

}  // namespace
}  // namespace psam::train
