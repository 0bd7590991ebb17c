// loss.l2_weight on Probabilistic SAM: the sum of L2 norms of prior_net, posterior_net and the
// z projector joins the total; 0 leaves the loss as it was.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "psam/models/prob_sam/prob_sam_model.h"
#include "psam/models/registry.h"
#include "support/testing.h"
#include "train/train_fixture.h"

namespace psam::models {
namespace {

TEST(ProbSamL2, LatentPartsAreRegularised) {
  support::TempDir dir;
  test::make_synthetic_store(dir.path() + "/store", 8);
  auto store =
      std::make_shared<const data::DatasetStore>(data::DatasetStore::open(dir.path() + "/store"));
  torch::manual_seed(2);
  auto model = build_model(test::tiny_model("reference"), torch::kCPU);
  auto o = test::tiny_loader_options(true);
  model->prepare_loader(o, true);
  const auto batch = data::Loader(store, store->split_indices("train"), o).make_batch({0, 0});
  train::LossConfig c;
  const auto plain = model->loss(batch, c, 0, at::make_generator<at::CPUGeneratorImpl>(1));
  c.l2_weight = 0.5;
  const auto with = model->loss(batch, c, 0, at::make_generator<at::CPUGeneratorImpl>(1));
  auto& net = dynamic_cast<ProbSamModel&>(*model).net();
  double expected = 0;
  for (const auto* part : std::vector<const torch::nn::Module*>{
           net->prior_net.get(), net->posterior_net.get(), net->fcomb.ptr().get()})
    for (const auto& p : part->parameters()) expected += p.norm().item<double>();
  ASSERT_EQ(with.terms.back().first, "l2");
  EXPECT_NEAR(with.terms.back().second.item<double>(), expected, 1e-4 * expected);
  EXPECT_NEAR(with.total.item<double>(), plain.total.item<double>() + 0.5 * expected,
              1e-4 * expected);
  for (const auto& [name, t] : plain.terms) EXPECT_NE(name, "l2");
}

}  // namespace
}  // namespace psam::models
