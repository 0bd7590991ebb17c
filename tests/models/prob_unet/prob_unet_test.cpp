// The Probabilistic U-Net method: one batched Fcomb call equals separate calls with the same
// codes, any image size (tall, wide, square, odd), the loss reductions, loading the port's
// state dicts, and the no-frame loader path it reads through.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "psam/io/state_dict.h"
#include "psam/models/prob_unet/prob_unet_model.h"
#include "psam/models/registry.h"
#include "psam/util/error.h"

namespace psam::models {
namespace {

ModelConfig tiny_prob_unet() {
  ModelConfig c;
  c.kind = "prob_unet";
  c.prob_unet.num_filters = {4, 8, 12};
  c.prob_unet.convs_per_block = 2;
  c.prob_unet.latent_dim = 3;
  return c;
}

// A batch as the loader makes it for the model: raw_image [B,3,H,W] in [0,1], masks at image size.
data::Batch unet_batch(int64_t b, int64_t h, int64_t w, uint64_t seed) {
  const auto g = at::make_generator<at::CPUGeneratorImpl>(seed);
  data::Batch batch;
  batch.raw_image = torch::rand({b, 1, h, w}, g).expand({b, 3, h, w}).contiguous();
  batch.masks = (torch::rand({b, 1, h, w}, g) > 0.7).to(torch::kUInt8);
  batch.box = torch::zeros({b, 4});
  batch.size = {h, w};
  batch.index.assign(b, -1);
  return batch;
}

class ProbUnetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(3);
    model_ = std::make_unique<ProbUnetModel>(tiny_prob_unet());
    model_->module().eval();
  }
  std::unique_ptr<ProbUnetModel> model_;
};

TEST_F(ProbUnetTest, BatchedSamplingEqualsSeparateFcombCalls) {
  torch::NoGradGuard no_grad;
  const auto batch = unet_batch(1, 24, 24, 1);
  const int64_t n = 5;
  const auto out = model_->sample(batch, n, at::make_generator<at::CPUGeneratorImpl>(11));
  ASSERT_EQ(out.logits.sizes(), (std::vector<int64_t>{n, 24, 24}));
  ASSERT_EQ(out.z.sizes(), (std::vector<int64_t>{n, 3}));
  auto& net = model_->net();
  const auto image = model_->input(batch);
  const auto features = net->unet(image);
  const auto prior = net->prior->forward(prob::LatentInputs{image, {}});
  // The codes are the prior's draws from the case's generator.
  const auto z = prior.sample(n, at::make_generator<at::CPUGeneratorImpl>(11)).squeeze(1);
  EXPECT_TRUE(torch::equal(out.z, z));
  for (int64_t i = 0; i < n; ++i) {
    const auto one = net->fcomb(features, z.slice(0, i, i + 1))[0][0];
    EXPECT_TRUE(torch::allclose(out.logits[i], one, 1e-5, 1e-6)) << "sample " << i;
  }
  EXPECT_TRUE(torch::allclose(out.mean_logits, net->fcomb(features, prior.mu())[0][0], 1e-5, 1e-6));
  // Distinct codes give distinct masks.
  EXPECT_FALSE(torch::allclose(out.logits[0], out.logits[1]));
}

// log_sigma_bound clamps the prior's and posterior's log sigma; 0 leaves it as the nets give it.
TEST(ProbUnetSigma, TheBoundClampsLogSigma) {
  torch::NoGradGuard no_grad;
  const auto batch = unet_batch(2, 16, 20, 4);
  for (const double bound : {0.0, 0.5}) {
    ModelConfig c = tiny_prob_unet();
    c.prob_unet.log_sigma_bound = bound;
    torch::manual_seed(8);
    ProbUnetModel model(c);
    // Large weights drive the log sigmas far from 0 on both sides.
    for (auto& p : model.net()->prior->parameters()) p.mul_(40);
    const auto image = model.input(batch);
    const auto log_sigma = model.net()->prior->forward(prob::LatentInputs{image, {}}).sigma().log();
    const double most = log_sigma.abs().max().item<double>();
    if (bound == 0)
      EXPECT_GT(most, 0.5);
    else
      EXPECT_NEAR(most, 0.5, 1e-6);
  }
  ModelConfig bad = tiny_prob_unet();
  bad.prob_unet.log_sigma_bound = -1;
  EXPECT_THROW(bad.prob_unet.validate(), Error);
}

// Tall, wide, square and odd sizes: the logits come back at the image's own size, and the
// grey input is the loader's (equal) channels.
TEST_F(ProbUnetTest, AnyImageSize) {
  torch::NoGradGuard no_grad;
  for (const auto& [h, w] :
       std::vector<std::pair<int64_t, int64_t>>{{32, 16}, {16, 40}, {20, 20}, {23, 17}}) {
    const auto batch = unet_batch(1, h, w, 2);
    EXPECT_TRUE(torch::allclose(model_->input(batch)[0][0], batch.raw_image[0][0]));
    const auto out = model_->sample(batch, 3, at::make_generator<at::CPUGeneratorImpl>(1));
    EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{3, h, w})) << h << "x" << w;
    EXPECT_EQ(out.mean_logits.sizes(), (std::vector<int64_t>{h, w}));
  }
}

// The U-Net's upsampling to the skip's size is the reference's bilinear x2 (align_corners) on
// sizes that halve evenly.
TEST_F(ProbUnetTest, UpsamplingIsBilinearTimesTwoWithAlignedCorners) {
  torch::NoGradGuard no_grad;
  UpConvBlock up(6, 4, 1);
  const auto x = torch::randn({2, 4, 5, 7}), bridge = torch::randn({2, 2, 10, 14});
  namespace F = torch::nn::functional;
  const auto doubled = F::interpolate(x, F::InterpolateFuncOptions()
                                             .scale_factor(std::vector<double>{2, 2})
                                             .mode(torch::kBilinear)
                                             .align_corners(true));
  EXPECT_TRUE(
      torch::allclose(up(x, bridge), up->conv_block(torch::cat({doubled, bridge}, 1)), 1e-6, 1e-6));
}

TEST_F(ProbUnetTest, LossReductionsAndTerms) {
  const auto batch = unet_batch(2, 16, 16, 4);
  train::LossConfig c;
  c.dice_weight = 0;
  c.beta = 1;
  const auto loss_with = [&](train::BceReduction r, double l2) {
    c.bce_reduction = r;
    c.l2_weight = l2;
    return model_->loss(batch, c, 0, at::make_generator<at::CPUGeneratorImpl>(5));
  };
  const auto term = [](const train::StepLoss& l, const std::string& name) {
    for (const auto& [n, t] : l.terms)
      if (n == name) return t.item<double>();
    return std::nan("");
  };
  const auto mean = loss_with(train::BceReduction::kMean, 0);
  const auto sum = loss_with(train::BceReduction::kSum, 0);
  const auto image_sum = loss_with(train::BceReduction::kImageSum, 1e-2);
  // The same posterior draw (same generator): the reductions differ by the element counts.
  EXPECT_NEAR(term(sum, "bce"), term(mean, "bce") * 2 * 16 * 16, 1e-3 * term(sum, "bce"));
  EXPECT_NEAR(term(image_sum, "bce"), term(sum, "bce") / 2, 1e-5 * term(sum, "bce"));
  EXPECT_TRUE(std::isnan(term(mean, "dice")));  // dice_weight 0: not computed into the loss
  const double l2 = term(image_sum, "l2");
  EXPECT_NEAR(l2, train::l2_norm_sum(model_->net()->regularised_parameters()).item<double>(), 1e-9);
  EXPECT_NEAR(image_sum.total.item<double>(),
              term(image_sum, "bce") + term(image_sum, "kl") + 1e-2 * l2, 1e-3);
  // The loss reaches every part: U-Net, both latent nets and Fcomb.
  image_sum.total.backward();
  for (const auto& p : model_->module().named_parameters())
    EXPECT_TRUE(p.value().grad().defined() && p.value().grad().abs().sum().item<double>() > 0)
        << p.key();
}

TEST_F(ProbUnetTest, LoadsThePortsStateDictUnderAnyPrefix) {
  torch::manual_seed(8);
  ProbUnetModel other(tiny_prob_unet());
  const io::TensorDict theirs = io::state_dict(other.module());
  model_->init_from_foreign(theirs.with_prefix_added("net."), "their.pth");
  for (const auto& [name, t] : io::state_dict(model_->module()))
    EXPECT_TRUE(torch::equal(t, theirs.at(name))) << name;
  EXPECT_EQ(model_->export_state("reference").keys(), theirs.keys());
  io::TensorDict unrelated;
  unrelated.insert("image_encoder.pos_embed", torch::zeros({1}));
  try {
    model_->init_from_foreign(unrelated, "sam.pth");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sam.pth: no Probabilistic U-Net weights"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(ProbUnetTest, ReadsTheImageAtItsOwnSize) {
  data::LoaderOptions o;
  model_->prepare_loader(o, true);
  EXPECT_EQ(o.input_size, 0);
  EXPECT_TRUE(o.raw_image);
  EXPECT_FALSE(o.resize_masks);
  EXPECT_EQ(registry_entry("prob_unet").kind, std::string("prob_unet"));
  EXPECT_FALSE(model_->cacheable_encoder().has_value());
}

TEST_F(ProbUnetTest, BadShapesAreErrors) {
  ModelConfig c = tiny_prob_unet();
  c.prob_unet.input_channels = 2;
  EXPECT_THROW(c.validate(), Error);
  c = tiny_prob_unet();
  c.prob_unet.no_convs_fcomb = 1;
  EXPECT_THROW(c.validate(), Error);
  data::Batch framed;
  framed.image = torch::zeros({1, 3, 64, 64});
  EXPECT_THROW(model_->sample(framed, 2, at::make_generator<at::CPUGeneratorImpl>(1)), Error);
}

}  // namespace
}  // namespace psam::models
