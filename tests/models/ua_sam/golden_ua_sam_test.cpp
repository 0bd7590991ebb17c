// Parity with the UA-SAM reference (SuperMedIntel/Uncertainty-Aware-Adapter): every uaadapter.*
// output of the siblings golden set (../shared/golden/siblings_README.md), computed by psam's
// modules loaded strictly with the reference's state dict under its own names. The reference
// couples the batch; at batch 1 (the golden's) psam's per-sample modules must agree with it.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "psam/io/pth.h"
#include "psam/io/state_dict.h"
#include "psam/models/ua_sam/uncertainty_adapter.h"
#include "psam/prob/latent_net.h"
#include "psam/train/loss.h"
#include "support/golden.h"

namespace psam {
namespace {

using models::AdapterOutput;

// The part of UA-SAM's module tree the golden set holds, under the reference's names.
struct UaTree : torch::nn::Module {
  UaTree(int64_t C, int64_t D, int64_t Q, int64_t M, int64_t L,
         const std::vector<int64_t>& filters) {
    auto encoder = register_module("image_encoder", std::make_shared<torch::nn::Module>());
    adapter = models::UncertaintyAdapter(C, D, Q, M, L);
    auto list = torch::nn::ModuleList();
    list->push_back(adapter);
    encoder->register_module("adapters", list);
    condition = encoder->register_module("condition", models::ConditionTransform(C, M));
    res_MLP = encoder->register_module("res_MLP", models::make_res_mlp(L, D, C));
    auto latent = register_module("Probabilistic_model", std::make_shared<torch::nn::Module>());
    prob::LatentNetOptions o;
    o.kind = prob::LatentNetKind::kAxisAligned;
    o.latent_dim = L;
    o.in_channels = 3;
    o.num_filters = filters;
    o.log_sigma_bound = 0;
    prior = latent->register_module("prior", prob::make_latent_net(o));
    o.posterior = true;
    posterior = latent->register_module("posterior", prob::make_latent_net(o));
  }
  models::UncertaintyAdapter adapter{nullptr};
  models::ConditionTransform condition{nullptr};
  torch::nn::Sequential res_MLP{nullptr};
  std::shared_ptr<prob::LatentNetImpl> prior, posterior;
};

class GoldenUaSam : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    const auto set =
        support::find_golden_set(&why, {{"siblings_config", ".json"}, {"siblings", ".pth"}});
    if (!set) GTEST_SKIP() << why;
    std::ifstream config_file(set->file("siblings_config", ".json"));
    const auto c = nlohmann::json::parse(config_file).at("uaadapter");
    const int64_t C = c.at("embed_dim").get<int64_t>();
    const auto D = static_cast<int64_t>(C * c.at("mlp_ratio").get<double>());
    ASSERT_EQ(D, c.at("adapter_bottleneck").get<int64_t>());
    path_ = set->file("siblings", ".pth");
    ref_ = io::read_tensors(path_);
    const int64_t M = ref("condition.p1").size(1);
    tree_ = std::make_shared<UaTree>(C, D, 2 * c.at("sparse_dim").get<int64_t>(), M,
                                     c.at("latent_dim").get<int64_t>(),
                                     c.at("latent_num_filters").get<std::vector<int64_t>>());
    reg_weight_ = c.at("reg_weight").get<double>();
    // Strict: every reference weight has a psam module of the same name and shape.
    io::load_state_dict(*tree_, ref_, "uaadapter.state.", path_);
    tree_->eval();
  }

  const at::Tensor& ref(const std::string& key) const {
    return ref_.at("uaadapter." + key, path_);
  }
  AdapterOutput adapter(const std::string& p_i, const std::string& z) {
    return tree_->adapter(ref("x"), ref(p_i), ref(z), ref("prompt.P"));
  }

  std::shared_ptr<UaTree> tree_;
  io::TensorDict ref_;
  std::string path_;
  double reg_weight_ = 0;
};

TEST_F(GoldenUaSam, PromptVectorIsMaxThenMean) {
  EXPECT_TRUE(support::tensors_close("prompt.P", models::prompt_vector(ref("prompt.sparse")),
                                     ref("prompt.P")));
}

TEST_F(GoldenUaSam, ConditionNet) {
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(support::tensors_close("condition.p1", tree_->condition(ref("x")),
                                     ref("condition.p1")));
}

TEST_F(GoldenUaSam, AdapterCaseA) {
  torch::NoGradGuard no_grad;
  // The real data flow: p_1 from the condition net on the same block output.
  ASSERT_TRUE(torch::equal(ref("a.p_i"), ref("condition.p1")));
  const AdapterOutput a = tree_->adapter(ref("x"), tree_->condition(ref("x")), ref("z"),
                                         ref("prompt.P"));
  EXPECT_TRUE(support::tensors_close("a.out", a.out, ref("a.out")));
  EXPECT_TRUE(support::tensors_close("a.next_p", a.cmsm.next_p, ref("a.next_p")));
  EXPECT_TRUE(support::tensors_close("a.g", a.cmsm.g, ref("a.g")));
  EXPECT_TRUE(support::tensors_close("a.mlp1", a.cmsm.mlp1, ref("a.mlp1")));
  EXPECT_TRUE(support::tensors_close("a.attn", a.cmsm.attn.squeeze(0), ref("a.attn")));
  EXPECT_TRUE(support::tensors_close("a.p_v", a.cmsm.p_v, ref("a.p_v")));
  EXPECT_TRUE(support::tensors_close("a.mlp2_in", a.cmsm.mlp2_in, ref("a.mlp2_in")));
  EXPECT_TRUE(support::tensors_close("a.prompt_feat", a.prompt_feat, ref("a.prompt_feat")));
  EXPECT_TRUE(support::tensors_close("a.fc2_in", a.fc2_in, ref("a.fc2_in")));
}

TEST_F(GoldenUaSam, AdapterCaseB) {
  torch::NoGradGuard no_grad;
  const AdapterOutput b = adapter("b.p_i", "b.z");
  EXPECT_TRUE(support::tensors_close("b.out", b.out, ref("b.out")));
  EXPECT_TRUE(support::tensors_close("b.next_p", b.cmsm.next_p, ref("b.next_p")));
  EXPECT_TRUE(support::tensors_close("b.g", b.cmsm.g, ref("b.g")));
  EXPECT_TRUE(support::tensors_close("b.attn", b.cmsm.attn.squeeze(0), ref("b.attn")));
}

TEST_F(GoldenUaSam, ResMlpOfTiledZ) {
  torch::NoGradGuard no_grad;
  const auto& x = ref("x");
  EXPECT_TRUE(support::tensors_close(
      "res_mlp.out", tree_->res_MLP->forward(models::tile_over_grid(ref("z"), x.size(1), x.size(2))),
      ref("res_mlp.out")));
}

TEST_F(GoldenUaSam, LatentNetsKlAndRegularisation) {
  torch::NoGradGuard no_grad;
  const auto& image = ref("latent.image");
  const auto p = tree_->prior->forward({image, {}});
  const auto q = tree_->posterior->forward({image, {}}, ref("latent.mask"));
  EXPECT_TRUE(support::tensors_close("latent.prior.mu", p.mu(), ref("latent.prior.mu")));
  EXPECT_TRUE(support::tensors_close("latent.prior.sigma", p.sigma(), ref("latent.prior.sigma")));
  EXPECT_TRUE(support::tensors_close("latent.posterior.mu", q.mu(), ref("latent.posterior.mu")));
  EXPECT_TRUE(support::tensors_close("latent.posterior.sigma", q.sigma(),
                                     ref("latent.posterior.sigma")));
  EXPECT_TRUE(support::tensors_close("latent.kl_analytic", q.kl_divergence(p),
                                     ref("latent.kl_analytic")));
  std::vector<at::Tensor> params = tree_->prior->parameters();
  for (const auto& t : tree_->posterior->parameters()) params.push_back(t);
  const auto l2 = train::l2_norm_sum(params);
  EXPECT_TRUE(support::tensors_close("latent.l2_reg", l2, ref("latent.l2_reg")));
  EXPECT_TRUE(support::tensors_close("latent.reg_loss", l2 * reg_weight_, ref("latent.reg_loss")));
}

}  // namespace
}  // namespace psam
