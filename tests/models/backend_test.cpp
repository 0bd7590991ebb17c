// Every method on the device under test against the CPU, as llama.cpp's test-backend-ops checks
// each backend: the same weights and case give the same best-guess mask (sample()'s mean
// logits), and the deterministic methods the same training loss and gradients, within the
// tolerance below. The device is PSAM_TEST_DEVICE (cuda or cpu; tools/gpu_check.sh sets it), by
// default CUDA where a device is present; without one these tests skip (the meta-device tests
// in device_test.cpp cover device bugs there).
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <memory>
#include <optional>
#include <string>

#include "models/tiny_methods.h"
#include "psam/data/loader/loader.h"
#include "psam/io/pth.h"
#include "psam/io/state_dict.h"
#include "psam/models/registry.h"
#include "psam/sam/config_json.h"
#include "psam/sam/sam.h"
#include "support/device.h"
#include "support/golden.h"
#include "support/testing.h"
#include "train/train_fixture.h"

namespace psam::models {
namespace {

// CUDA runs fp32 here with TF32 off; what is left is summation order (cuBLAS / cuDNN against
// OpenBLAS and ATen's CPU convolutions), relative to max(1, max |cpu|).
constexpr double kTolerance = 1e-3;

class OnBackend : public test::MethodsOnStore<40, 24> {  // tall images
 protected:
  void SetUp() override {
    device_ = support::device_under_test();
    if (!device_) GTEST_SKIP() << "no CUDA device (set PSAM_TEST_DEVICE to test another)";
    at::globalContext().setAllowTF32CuBLAS(false);
    at::globalContext().setAllowTF32CuDNN(false);
    config_ = test::tiny_config_for(GetParam());
    ASSERT_TRUE(config_) << "model.kind " << GetParam()
                         << " has no tiny config in tests/models/tiny_methods.h: add one";
  }

  // The same weights on the CPU and on the device under test.
  std::pair<std::unique_ptr<Model>, std::unique_ptr<Model>> twins() const {
    const bool learns = registry_entry(GetParam()).learns;
    torch::manual_seed(1);
    auto cpu = learns ? build_model(*config_, torch::kCPU) : build_unlearned(GetParam(), torch::kCPU);
    torch::manual_seed(2);
    auto dev = learns ? build_model(*config_, torch::kCPU) : build_unlearned(GetParam(), torch::kCPU);
    if (learns) io::load_state_dict(dev->module(), io::state_dict(cpu->module()), "", "twin");
    dev->to(*device_);
    return {std::move(cpu), std::move(dev)};
  }

  static data::Batch first_batch(const Model& model, bool training) {
    data::LoaderOptions o = test::tiny_loader_options(training);
    o.box_jitter = 0;
    return MethodsOnStore::first_batch(model, training, o);
  }

  std::optional<c10::Device> device_;
  std::optional<ModelConfig> config_;
};

TEST_P(OnBackend, BestGuessMatchesTheCpu) {
  auto [cpu, dev] = twins();
  torch::NoGradGuard no_grad;
  cpu->module().eval();
  dev->module().eval();
  data::LoaderOptions o = test::tiny_loader_options(false);
  cpu->prepare_loader(o, false);
  o.batch_size = 1;
  data::Loader loader(store_, store_->split_indices("test"), o);
  const data::Batch batch = *loader.next();
  const auto a = cpu->sample(batch, 2, at::make_generator<at::CPUGeneratorImpl>(3));
  const auto b = dev->sample(batch, 2, at::make_generator<at::CPUGeneratorImpl>(3));
  ASSERT_EQ(b.logits.sizes(), a.logits.sizes());
  EXPECT_EQ(b.logits.device().type(), dev->device().type());
  EXPECT_TRUE(support::tensors_close("mean_logits", b.mean_logits, a.mean_logits, kTolerance));
  EXPECT_TRUE(torch::isfinite(b.logits.cpu()).all().item<bool>());
  ASSERT_EQ(b.scores.size(), a.scores.size());
  for (size_t i = 0; i < a.scores.size(); ++i)
    EXPECT_NEAR(b.scores[i].second, a.scores[i].second, kTolerance) << a.scores[i].first;
}

TEST_P(OnBackend, TrainingLossAndGradientsMatchTheCpu) {
  if (!registry_entry(GetParam()).learns) GTEST_SKIP() << GetParam() << " learns nothing";
  auto [cpu, dev] = twins();
  cpu->module().train();
  dev->module().train();
  const data::Batch batch = first_batch(*cpu, true);
  const auto a = cpu->loss(batch, train::LossConfig{}, 0, at::make_generator<at::CPUGeneratorImpl>(4));
  const auto b = dev->loss(batch, train::LossConfig{}, 0, at::make_generator<at::CPUGeneratorImpl>(4));
  ASSERT_TRUE(std::isfinite(b.total.item<double>()));
  a.total.backward();
  b.total.backward();
  // Latent draws and dropout masks come from each device's own generator, so only the
  // deterministic methods compare value by value; the others must be finite on the device.
  const bool same_draws = cpu->deterministic() && GetParam() != "mc_dropout_sam";
  if (same_draws) {
    EXPECT_NEAR(b.total.item<double>(), a.total.item<double>(),
                kTolerance * std::max(1.0, std::abs(a.total.item<double>())));
  }
  const auto theirs = dev->trainable_parameters();
  const auto ours = cpu->trainable_parameters();
  ASSERT_EQ(theirs.size(), ours.size());
  for (size_t i = 0; i < ours.size(); ++i) {
    const auto& [name, p] = ours[i];
    const at::Tensor g = theirs[i].second.grad();
    // A parameter the batch does not reach (the point embeddings of a box prompt) has no
    // gradient on either device.
    EXPECT_EQ(g.defined(), p.grad().defined()) << name;
    if (!g.defined()) continue;
    EXPECT_EQ(g.device().type(), dev->device().type()) << name;
    EXPECT_TRUE(torch::isfinite(g.cpu()).all().item<bool>()) << name;
    if (same_draws && p.grad().defined()) {
      EXPECT_TRUE(support::tensors_close(name, g, p.grad(), kTolerance));
    }
  }
}

// The SAM modules themselves on the device against the official outputs of the golden set, with
// the golden tolerance: the image encoder, the prompt encoder and the mask decoder.
TEST(GoldenOnBackend, SamModulesGiveTheOfficialOutputs) {
  const auto device = support::device_under_test();
  if (!device) GTEST_SKIP() << "no CUDA device (set PSAM_TEST_DEVICE to test another)";
  std::string why;
  const auto set = support::find_golden_set(&why);
  if (!set) GTEST_SKIP() << why;
  at::globalContext().setAllowTF32CuBLAS(false);
  at::globalContext().setAllowTF32CuDNN(false);
  const auto weights = set->file("sam", ".pth");
  auto model = sam::build_sam(sam::read_sam_config_json(set->file("config", ".json")));
  io::load_state_dict(*model, io::read_tensors(weights), "", weights);
  model->eval();
  model->to(*device);
  const auto ref = io::read_tensors(set->file("io", ".pth"));
  const auto on = [&](const std::string& key) { return ref.at(key).to(*device); };
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(support::tensors_close("encoder.output", model->image_encoder(on("encoder.input")),
                                     ref.at("encoder.output")));
  sam::PromptInputs in;
  in.point_coords = on("prompt.mixed.coords");
  in.point_labels = on("prompt.mixed.labels");
  in.boxes = on("prompt.boxes.boxes");
  in.masks = on("prompt.mixed.masks");
  const auto prompt = model->prompt_encoder(in);
  EXPECT_TRUE(support::tensors_close("prompt.mixed.sparse", prompt.sparse, ref.at("prompt.mixed.sparse")));
  EXPECT_TRUE(support::tensors_close("prompt.mixed.dense", prompt.dense, ref.at("prompt.mixed.dense")));
  const auto out = model->mask_decoder(on("encoder.output").slice(0, 0, 1),
                                       model->prompt_encoder->get_dense_pe(), prompt.sparse,
                                       prompt.dense, true, sam::EmbeddingBatching::kShared);
  EXPECT_EQ(out.masks.device().type(), device->type());
  EXPECT_TRUE(support::tensors_close("decoder.multi.masks", out.masks, ref.at("decoder.multi.masks")));
  EXPECT_TRUE(support::tensors_close("decoder.multi.iou", out.iou_pred, ref.at("decoder.multi.iou")));
}

INSTANTIATE_TEST_SUITE_P(Registry, OnBackend, ::testing::ValuesIn(test::registered_kinds()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace psam::models
