// MC-dropout SAM: dropout on for the samples and in training, off for the deterministic output;
// the samples are reproducible from the case's generator; rate 0 is the deterministic SAM.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "psam/data/loader/loader.h"
#include "psam/io/state_dict.h"
#include "psam/models/registry.h"
#include "psam/util/error.h"
#include "support/golden.h"
#include "support/testing.h"
#include "train/train_fixture.h"

namespace psam::models {
namespace {

ModelConfig mc_dropout_config(double rate) {
  ModelConfig c = test::tiny_model("none");
  c.kind = "mc_dropout_sam";
  c.mc_dropout_sam.rate = rate;
  return c;
}

at::Generator seeded(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

class McDropoutSam : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new support::TempDir();
    test::make_synthetic_store(dir_->path() + "/store");
    store_ = std::make_shared<const data::DatasetStore>(
        data::DatasetStore::open(dir_->path() + "/store"));
  }
  static void TearDownTestSuite() {
    store_.reset();
    delete dir_;
  }
  // The first batch of the split in the model's frame.
  data::Batch batch(Model& model, bool training, int64_t size) {
    auto o = test::tiny_loader_options(training);
    o.batch_size = size;
    model.prepare_loader(o, training);
    data::Loader loader(store_, store_->split_indices(training ? "train" : "test"), o);
    return *loader.next();
  }

  static support::TempDir* dir_;
  static std::shared_ptr<const data::DatasetStore> store_;
};
support::TempDir* McDropoutSam::dir_ = nullptr;
std::shared_ptr<const data::DatasetStore> McDropoutSam::store_;

TEST_F(McDropoutSam, SamplesUseDropoutAndTheMeanIsTheDeterministicSam) {
  torch::manual_seed(5);
  const auto model = build_model(mc_dropout_config(0.2), torch::kCPU);
  EXPECT_FALSE(model->deterministic());
  // The deterministic SAM with the same weights.
  auto sam_config = test::tiny_model("none");
  const auto sam = build_model(sam_config, torch::kCPU);
  io::load_state_dict(sam->module(), io::state_dict(model->module()), "", "mc dropout");
  model->module().eval();
  sam->module().eval();
  torch::NoGradGuard no_grad;
  const auto b = batch(*model, false, 1);
  const auto a = model->sample(b, 6, seeded(1));
  const auto again = model->sample(b, 6, seeded(1));
  const auto other = model->sample(b, 6, seeded(2));
  const auto reference = sam->sample(b, 1, seeded(1));
  EXPECT_TRUE(torch::equal(a.logits, again.logits));  // reproducible from the generator
  EXPECT_FALSE(torch::allclose(a.logits, other.logits));
  EXPECT_FALSE(torch::allclose(a.logits[0], a.logits[1]));
  // Dropout off for the single best guess, whatever the generator.
  EXPECT_TRUE(torch::equal(a.mean_logits, other.mean_logits));
  EXPECT_TRUE(torch::allclose(a.mean_logits, reference.mean_logits, 1e-5, 1e-5));
  EXPECT_FALSE(torch::allclose(a.logits[0], a.mean_logits, 1e-3, 1e-3));
  EXPECT_EQ(a.logits.sizes(), (std::vector<int64_t>{6, b.size[0], b.size[1]}));
}

TEST_F(McDropoutSam, RateZeroIsTheDeterministicSam) {
  torch::manual_seed(5);
  const auto model = build_model(mc_dropout_config(0.0), torch::kCPU);
  EXPECT_TRUE(model->deterministic());
  model->module().eval();
  torch::NoGradGuard no_grad;
  const auto out = model->sample(batch(*model, false, 1), 3, seeded(1));
  // The samples are one batch of 3 and the mean a batch of 1: other GEMM shapes, which a BLAS
  // may block and sum differently, so they agree up to float rounding, not bit for bit.
  for (int64_t i = 0; i < 3; ++i)
    EXPECT_TRUE(support::tensors_close("sample " + std::to_string(i), out.logits[i],
                                       out.mean_logits, 1e-5));
}

// Training draws dropout masks from the step's generator: two generators, two losses; rate 0,
// one loss.
TEST_F(McDropoutSam, TrainingLossUsesDropout) {
  for (double rate : {0.3, 0.0}) {
    torch::manual_seed(5);
    const auto model = build_model(mc_dropout_config(rate), torch::kCPU);
    const auto b = batch(*model, true, 2);
    const train::LossConfig loss;
    const double l1 = model->loss(b, loss, 0, seeded(1)).total.item<double>();
    const double l2 = model->loss(b, loss, 0, seeded(2)).total.item<double>();
    if (rate > 0)
      EXPECT_NE(l1, l2);
    else
      EXPECT_EQ(l1, l2);
  }
}

TEST_F(McDropoutSam, HasNoLatentNets) {
  ModelConfig c = mc_dropout_config(0.1);
  c.prob.latent_net = prob::LatentNetKind::kReference;
  try {
    build_model(c, torch::kCPU);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("mc_dropout_sam has no latent nets: set "
                                         "model.latent_net: none"),
              std::string::npos)
        << e.what();
  }
  c = mc_dropout_config(1.0);
  EXPECT_THROW(c.validate(), Error);
}

}  // namespace
}  // namespace psam::models
