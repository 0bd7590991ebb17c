// loss.energy_weight on Probabilistic SAM: the energy score of the prior's draws joins the total
// and trains the prior net, which otherwise learns only from the KL; 0 leaves the loss as it was.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "psam/models/prob_sam/prob_sam_model.h"
#include "psam/models/registry.h"
#include "support/testing.h"
#include "train/train_fixture.h"

namespace psam::models {
namespace {

double prior_grad_norm(ProbSamModel& model) {
  double total = 0;
  for (const auto& p : model.net()->prior_net->parameters())
    if (p.grad().defined()) total += p.grad().abs().sum().item<double>();
  return total;
}

TEST(ProbSamEnergy, PriorDrawsAreScoredAndTrainThePrior) {
  support::TempDir dir;
  test::make_synthetic_store(dir.path() + "/store", 8);
  auto store =
      std::make_shared<const data::DatasetStore>(data::DatasetStore::open(dir.path() + "/store"));
  torch::manual_seed(3);
  auto model = build_model(test::tiny_model("reference"), torch::kCPU);
  auto& prob = dynamic_cast<ProbSamModel&>(*model);
  auto o = test::tiny_loader_options(true);
  model->prepare_loader(o, true);
  const auto batch = data::Loader(store, store->split_indices("train"), o).make_batch({0, 0});
  // Without a KL weight the prior gets no gradient at all; the energy score gives it one.
  train::LossConfig c;
  c.beta = 0.0;
  const auto plain = model->loss(batch, c, 0, at::make_generator<at::CPUGeneratorImpl>(1));
  model->module().zero_grad();
  plain.total.backward();
  EXPECT_EQ(prior_grad_norm(prob), 0.0);
  for (const auto& [name, t] : plain.terms) EXPECT_NE(name, "energy");

  c.energy_weight = 0.5;
  c.energy_samples = 3;
  const auto with = model->loss(batch, c, 0, at::make_generator<at::CPUGeneratorImpl>(1));
  double energy = -1;
  for (const auto& [name, t] : with.terms)
    if (name == "energy") energy = t.item<double>();
  // Mean cross distance in [0, 1] minus half a mean spread in [0, 1].
  EXPECT_GE(energy, -0.5);
  EXPECT_LE(energy, 1.0);
  // The posterior's draw comes first from the same generator, so the rest of the loss is equal.
  EXPECT_NEAR(with.total.item<double>(), plain.total.item<double>() + 0.5 * energy, 1e-6);
  model->module().zero_grad();
  with.total.backward();
  EXPECT_GT(prior_grad_norm(prob), 0.0);
}

}  // namespace
}  // namespace psam::models
