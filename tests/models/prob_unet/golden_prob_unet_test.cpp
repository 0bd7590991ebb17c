// Parity with the reference Probabilistic U-Net (stefanknegt/Probabilistic-Unet-Pytorch): every
// probunet.* output of the siblings golden set (../shared/golden/siblings_README.md), computed by
// psam's ProbUnet loaded with the reference's state dict (its own names, strictly), shape from
// siblings_config_<name>.json, tolerance as the README says.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "psam/io/pth.h"
#include "psam/io/state_dict.h"
#include "psam/models/prob_unet/prob_unet.h"
#include "psam/train/loss.h"
#include "support/golden.h"

namespace psam {
namespace {

class GoldenProbUnet : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    const auto set =
        support::find_golden_set(&why, {{"siblings_config", ".json"}, {"siblings", ".pth"}});
    if (!set) GTEST_SKIP() << why;
    std::ifstream config_file(set->file("siblings_config", ".json"));
    const auto c = nlohmann::json::parse(config_file).at("probunet");
    ASSERT_EQ(c.at("num_classes").get<int64_t>(), 1);
    models::ProbUnetConfig config;
    config.input_channels = c.at("input_channels").get<int64_t>();
    config.num_filters = c.at("num_filters").get<std::vector<int64_t>>();
    config.latent_dim = c.at("latent_dim").get<int64_t>();
    config.no_convs_fcomb = c.at("no_convs_fcomb").get<int64_t>();
    beta_ = c.at("beta").get<double>();
    reg_weight_ = c.at("reg_weight").get<double>();
    path_ = set->file("siblings", ".pth");
    ref_ = io::read_tensors(path_);
    net_ = models::ProbUnet(config);
    // Strict: every reference weight has a psam module of the same name and shape.
    io::load_state_dict(*net_, ref_, "probunet.state.", path_);
    net_->eval();
  }

  const at::Tensor& ref(const std::string& key) const { return ref_.at("probunet." + key, path_); }
  // The training forward at the posterior mean (deterministic, so comparable).
  models::ProbUnetOutput forward() {
    return net_->forward(ref("image"), ref("mask"), /*use_posterior_mean=*/true);
  }

  models::ProbUnet net_{nullptr};
  io::TensorDict ref_;
  std::string path_;
  double beta_ = 0, reg_weight_ = 0;
};

TEST_F(GoldenProbUnet, UnetFeatures) {
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(
      support::tensors_close("unet_features", net_->unet(ref("image")), ref("unet_features")));
}

TEST_F(GoldenProbUnet, PriorPosteriorAndKl) {
  torch::NoGradGuard no_grad;
  const auto out = forward();
  EXPECT_TRUE(support::tensors_close("unet_features", out.features, ref("unet_features")));
  EXPECT_TRUE(support::tensors_close("prior.mu", out.prior.mu(), ref("prior.mu")));
  EXPECT_TRUE(support::tensors_close("prior.sigma", out.prior.sigma(), ref("prior.sigma")));
  EXPECT_TRUE(support::tensors_close("posterior.mu", out.posterior.mu(), ref("posterior.mu")));
  EXPECT_TRUE(
      support::tensors_close("posterior.sigma", out.posterior.sigma(), ref("posterior.sigma")));
  EXPECT_TRUE(support::tensors_close("kl_analytic", out.posterior.kl_divergence(out.prior),
                                     ref("kl_analytic")));
}

TEST_F(GoldenProbUnet, FcombOfAGivenCode) {
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(support::tensors_close(
      "fcomb.logits", net_->fcomb(ref("unet_features"), ref("fcomb.z")), ref("fcomb.logits")));
}

// The reference cannot run this path (posterior_latent_space.loc does not exist); psam's does.
TEST_F(GoldenProbUnet, PosteriorMeanReconstruction) {
  torch::NoGradGuard no_grad;
  const auto out = forward();
  EXPECT_TRUE(torch::equal(out.z, out.posterior.mu()));
  EXPECT_TRUE(support::tensors_close("recon_posterior_mean.logits", out.logits,
                                     ref("recon_posterior_mean.logits")));
}

// elbo.* and loss.*: the reference's ELBO at its recorded posterior draw is psam's loss with
// Knegt's settings (BCE summed over pixels and batch, no Dice, beta from the config), and its
// train-script loss adds the L2 term over prior, posterior and fcomb.layers.
TEST_F(GoldenProbUnet, ElboAndTrainingLoss) {
  torch::NoGradGuard no_grad;
  const auto out = forward();
  const auto& mask = ref("mask");
  const auto logits = net_->fcomb(out.features, ref("elbo.z_posterior"));
  EXPECT_TRUE(support::tensors_close("elbo.reconstruction", logits, ref("elbo.reconstruction")));
  EXPECT_TRUE(support::tensors_close("elbo.recon_loss_mean", train::bce_loss(logits, mask),
                                     ref("elbo.recon_loss_mean")));
  train::LossConfig knegt;
  knegt.bce_reduction = train::BceReduction::kSum;
  knegt.dice_weight = 0;
  knegt.beta = beta_;
  const auto terms = train::prob_sam_loss(logits, mask, out.posterior, out.prior, knegt, 0);
  EXPECT_TRUE(support::tensors_close("elbo.recon_loss_sum", terms.bce, ref("elbo.recon_loss_sum")));
  EXPECT_TRUE(support::tensors_close("elbo.kl_mean", terms.kl, ref("elbo.kl_mean")));
  EXPECT_TRUE(support::tensors_close("elbo.elbo", -terms.total, ref("elbo.elbo")));
  const auto l2 = train::l2_norm_sum(net_->regularised_parameters());
  EXPECT_TRUE(support::tensors_close("loss.l2_reg", l2, ref("loss.l2_reg")));
  EXPECT_TRUE(
      support::tensors_close("loss.total", terms.total + reg_weight_ * l2, ref("loss.total")));
}

// The psam state dict is exactly the reference's: no weight missing, none extra.
TEST_F(GoldenProbUnet, StateDictNamesAreTheReferences) {
  std::set<std::string> ours, theirs;
  for (const auto& [name, t] : io::state_dict(*net_)) ours.insert(name);
  const std::string prefix = "probunet.state.";
  for (const auto& key : ref_.keys())
    if (key.compare(0, prefix.size(), prefix) == 0) theirs.insert(key.substr(prefix.size()));
  EXPECT_EQ(ours, theirs);
}

// A golden set with an output this suite does not know would otherwise pass unchecked.
TEST_F(GoldenProbUnet, EveryOutputIsChecked) {
  const std::set<std::string> known = {"image",
                                       "mask",
                                       "unet_features",
                                       "prior.mu",
                                       "prior.sigma",
                                       "posterior.mu",
                                       "posterior.sigma",
                                       "kl_analytic",
                                       "fcomb.z",
                                       "fcomb.logits",
                                       "recon_posterior_mean.logits",
                                       "elbo.z_posterior",
                                       "elbo.reconstruction",
                                       "elbo.recon_loss_sum",
                                       "elbo.recon_loss_mean",
                                       "elbo.kl_mean",
                                       "elbo.elbo",
                                       "loss.l2_reg",
                                       "loss.total"};
  const std::string group = "probunet.";
  for (const auto& key : ref_.keys()) {
    if (key.compare(0, group.size(), group) != 0 || key.find(".state.") != std::string::npos)
      continue;
    EXPECT_TRUE(known.count(key.substr(group.size())))
        << key << " is in " << path_ << " but no test checks it";
  }
}

}  // namespace
}  // namespace psam
