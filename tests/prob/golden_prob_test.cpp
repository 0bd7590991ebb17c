// Parity with the reference Probabilistic SAM modules: the latent.*, fcomb.* and loss.* outputs
// of the golden set (../shared/golden/README.md), computed by psam's ProbSam with the reference
// latent nets and z projector loaded from probsam_<name>.pth. boxes_from_masks.* is checked by
// the data layer's GoldenBoxes suite.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "psam/geometry/frame.h"
#include "psam/io/pth.h"
#include "psam/io/state_dict.h"
#include "psam/prob/prob_sam.h"
#include "psam/train/loss.h"
#include "psam/sam/config_json.h"
#include "support/attention_paths.h"
#include "support/golden.h"

namespace psam {
namespace {

class GoldenProb : public support::AttentionPathTest {
 protected:
  void SetUp() override {
    use_attention_path();
    std::string why;
    const auto set = support::find_golden_set(&why);
    if (!set) GTEST_SKIP() << why;
    const auto config_path = set->file("config", ".json");
    const auto weights = set->file("probsam", ".pth");
    if (!std::filesystem::exists(weights))
      GTEST_SKIP() << "golden file " << weights << " not found";
    prob::ProbSamConfig config;
    config.sam = sam::read_sam_config_json(config_path);
    std::ifstream config_file(config_path);
    config.latent_dim = nlohmann::json::parse(config_file).at("latent").get<int64_t>();
    config.latent_net = prob::LatentNetKind::kReference;
    model_ = prob::ProbSam(config);
    const auto sam_weights = set->file("sam", ".pth");
    io::load_state_dict(*model_->sam, io::read_tensors(sam_weights), "", sam_weights);
    const auto t = io::read_tensors(weights);
    io::load_state_dict(*model_->prior_net, t, "prior.", weights);
    io::load_state_dict(*model_->posterior_net, t, "posterior.", weights);
    io::load_state_dict(*model_->fcomb->z_projector, t, "z_projector.", weights);
    model_->eval();
    io_path_ = set->file("io", ".pth");
    ref_ = io::read_tensors(io_path_);
  }

  const at::Tensor& ref(const std::string& key) const { return ref_.at(key, io_path_); }

  prob::DiagonalGaussian prior() { return model_->prior({}, ref("latent.image")); }
  prob::DiagonalGaussian posterior() {
    return model_->posterior({}, ref("latent.image"), ref("latent.mask"));
  }

  prob::ProbSam model_{nullptr};
  io::TensorDict ref_;
  std::string io_path_;
};

TEST_P(GoldenProb, PriorNet) {
  torch::NoGradGuard no_grad;
  const auto p = prior();
  EXPECT_TRUE(support::tensors_close("latent.prior.mu", p.mu(), ref("latent.prior.mu")));
  EXPECT_TRUE(support::tensors_close("latent.prior.sigma", p.sigma(), ref("latent.prior.sigma")));
}

TEST_P(GoldenProb, PosteriorNet) {
  torch::NoGradGuard no_grad;
  const auto q = posterior();
  EXPECT_TRUE(support::tensors_close("latent.post.mu", q.mu(), ref("latent.post.mu")));
  EXPECT_TRUE(support::tensors_close("latent.post.sigma", q.sigma(), ref("latent.post.sigma")));
}

TEST_P(GoldenProb, KlPosteriorPrior) {
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(support::tensors_close("latent.kl_post_prior", posterior().kl_divergence(prior()),
                                     ref("latent.kl_post_prior")));
}

// The box prompt of fcomb.* is the first box of boxes_from_masks.boxes, decoded on the first
// image embedding of encoder.output with sparse + z_projector(z).
TEST_P(GoldenProb, PromptPlusProjectedLatent) {
  torch::NoGradGuard no_grad;
  const auto box = ref("boxes_from_masks.boxes").slice(0, 0, 1);
  sam::PromptInputs prompt;
  prompt.boxes = box;
  const auto pe = model_->sam->prompt_encoder(prompt);
  EXPECT_TRUE(support::tensors_close("fcomb.sparse", pe.sparse, ref("fcomb.sparse")));
  EXPECT_TRUE(support::tensors_close("fcomb.dense", pe.dense, ref("fcomb.dense")));
  const auto pred = model_->decode(ref("encoder.output").slice(0, 0, 1), box, ref("fcomb.z"),
                                   sam::EmbeddingBatching::kPaired);
  EXPECT_TRUE(support::tensors_close("fcomb.pred", pred, ref("fcomb.pred")));
}

// loss.* on fcomb.pred upsampled to the mask size, the golden latent Gaussians and beta 10.
TEST_P(GoldenProb, Loss) {
  torch::NoGradGuard no_grad;
  const auto& target = ref("latent.mask");
  const auto logits = geometry::resize_logits(ref("fcomb.pred"), {target.size(2), target.size(3)});
  train::LossConfig config;
  config.beta = 10.0;
  const auto terms = train::prob_sam_loss(logits, target, posterior(), prior(), config, 0);
  EXPECT_TRUE(support::tensors_close("loss.bce", terms.bce, ref("loss.bce")));
  EXPECT_TRUE(support::tensors_close("loss.dice", terms.dice, ref("loss.dice")));
  EXPECT_TRUE(support::tensors_close("loss.kl", terms.kl, ref("loss.kl")));
  EXPECT_TRUE(support::tensors_close("loss.total", terms.total, ref("loss.total")));
}

// A golden set with an output this suite does not know would otherwise pass unchecked.
TEST_P(GoldenProb, EveryOutputIsChecked) {
  const std::set<std::string> known = {"latent.image",
                                       "latent.mask",
                                       "latent.prior.mu",
                                       "latent.prior.sigma",
                                       "latent.post.mu",
                                       "latent.post.sigma",
                                       "latent.kl_post_prior",
                                       "fcomb.z",
                                       "fcomb.sparse",
                                       "fcomb.dense",
                                       "fcomb.pred",
                                       "loss.bce",
                                       "loss.dice",
                                       "loss.kl",
                                       "loss.total"};
  for (const auto& key : ref_.keys()) {
    const auto group = key.substr(0, key.find('.'));
    if (group == "latent" || group == "fcomb" || group == "loss") {
      EXPECT_TRUE(known.count(key)) << key << " is in " << io_path_ << " but no test checks it";
    }
  }
}

// Every check on each attention path of this build (explicit; sdpa on libtorch >= 2.1).
INSTANTIATE_TEST_SUITE_P(Attention, GoldenProb, ::testing::ValuesIn(support::attention_paths()),
                         support::AttentionPathName());

}  // namespace
}  // namespace psam
