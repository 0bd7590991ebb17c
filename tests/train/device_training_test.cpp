// Training on the device under test (support/device.h; the CPU where there is none): bf16
// autocast steps stay finite and lower the loss; a checkpoint written on one device resumes on
// the other; a process group of one runs the device's backend (Gloo on the CPU, NCCL on CUDA).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <memory>
#include <string>

#include "models/train_method.h"
#include "psam/dist/group.h"
#include "psam/models/registry.h"
#include "psam/train/autocast.h"
#include "psam/train/checkpoint.h"
#include "psam/util/error.h"
#include "support/device.h"
#include "support/testing.h"

namespace psam::train {
namespace {

c10::Device device_or_cpu() { return support::device_under_test().value_or(c10::kCPU); }

std::shared_ptr<const data::DatasetStore> tiny_store(const support::TempDir& dir) {
  test::make_synthetic_store(dir.path() + "/store");
  return std::make_shared<const data::DatasetStore>(
      data::DatasetStore::open(dir.path() + "/store"));
}

TEST(DeviceTraining, Bf16AutocastStepsStayFiniteAndLowerTheLoss) {
  const c10::Device device = device_or_cpu();
  if (!bf16_autocast_supported(device.type())) {
    // libtorch 1.13 on the CPU: refused with a message, never a failure inside the step.
    try {
      Bf16Autocast refused(true, device.type());
      ADD_FAILURE() << "bf16 autocast on " << device << " was not refused";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("needs libtorch 2.x"), std::string::npos) << e.what();
    }
    GTEST_SKIP() << "bf16 autocast on " << device << " needs libtorch 2.x";
  }
  support::TempDir dir;
  const auto store = tiny_store(dir);
  torch::manual_seed(1);
  const auto model = models::build_model(test::tiny_model("reference"), device);
  TrainConfig config = test::tiny_train_config();
  config.epochs = 6;
  config.lr = 1e-2;
  const auto run = test::train_method(*model, store, config, LossConfig{}, dir.path() + "/run",
                                      [&](TrainerOptions& o) {
                                        o.precision = RunOptions::Precision::kBf16;
                                        o.cuda = device.is_cuda();
                                      });
  ASSERT_EQ(run.result.status, TrainStatus::kFinished);
  EXPECT_EQ(run.result.skipped_steps, 0);
  ASSERT_EQ(run.epochs.size(), 6u);
  const double first = run.epochs.front()["train/loss"].get<double>();
  const double last = run.epochs.back()["train/loss"].get<double>();
  EXPECT_TRUE(std::isfinite(first) && std::isfinite(last));
  EXPECT_LT(last, 0.8 * first) << device << ": first epoch " << first << ", last " << last;
}

// Half a run on one device, the rest on the other, from the checkpoint the first half wrote.
TEST(DeviceTraining, CheckpointMovesBetweenDevices) {
  const auto device = support::device_under_test();
  if (!device || device->is_cpu()) GTEST_SKIP() << "needs a device besides the CPU";
  for (const bool gpu_first : {true, false}) {
    support::TempDir dir;
    const auto store = tiny_store(dir);
    const c10::Device first = gpu_first ? *device : c10::Device(c10::kCPU);
    const c10::Device second = gpu_first ? c10::Device(c10::kCPU) : *device;
    TrainConfig config = test::tiny_train_config();
    torch::manual_seed(1);
    auto a = models::build_model(test::tiny_model("reference"), first);
    const auto half = test::train_method(*a, store, config, LossConfig{}, dir.path() + "/run",
                                         [&](TrainerOptions& o) {
                                           o.cuda = first.is_cuda();
                                           o.stop_at_step = 5;
                                         });
    ASSERT_EQ(half.result.status, TrainStatus::kInterrupted);
    torch::manual_seed(9);  // other initial weights: the checkpoint must replace them
    auto b = models::build_model(test::tiny_model("reference"), second);
    const auto rest = test::train_method(*b, store, config, LossConfig{}, dir.path() + "/run",
                                         [&](TrainerOptions& o) {
                                           o.cuda = second.is_cuda();
                                           o.resume = true;
                                         });
    ASSERT_EQ(rest.result.status, TrainStatus::kFinished) << first << " -> " << second;
    EXPECT_EQ(rest.result.steps, 16);
    EXPECT_EQ(b->device().type(), second.type());
    const auto last = read_checkpoint(dir.path() + "/run/checkpoints/last.pt");
    for (const auto& [name, t] : last.model) EXPECT_TRUE(t.is_cpu()) << name;  // files hold CPU tensors
  }
}

TEST(DeviceTraining, GroupOfOneRunsTheDevicesBackend) {
  const c10::Device device = device_or_cpu();
  dist::Launch launch;
  launch.master_port = 29731;
  dist::GroupOptions options;
  options.cuda = device.is_cuda();
  options.timeout_s = 30;
  options.c10d_at_world_one = true;
  const auto group = dist::init_group(launch, options);
  EXPECT_EQ(group->backend(), device.is_cuda() ? "nccl" : "gloo");
  at::Tensor t = torch::arange(4, torch::TensorOptions(device).dtype(torch::kFloat));
  group->allreduce_sum(t);
  EXPECT_TRUE(torch::equal(t.cpu(), torch::arange(4, torch::kFloat)));  // a sum of one
  EXPECT_EQ(group->allgather(t).size(), 1u);
  group->barrier();
}

}  // namespace
}  // namespace psam::train
