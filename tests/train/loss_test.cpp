#include "psam/train/loss.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <tuple>
#include <utility>
#include <vector>

#include "psam/train/autocast.h"
#include "psam/util/error.h"

namespace {

using psam::prob::DiagonalGaussian;
using psam::train::BceReduction;
using psam::train::DiceMode;

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

TEST(Loss, BceMatchesTheFormula) {
  torch::manual_seed(1);
  const auto logits = 3 * torch::randn({2, 1, 5, 4}, torch::kDouble);
  const auto target = (torch::rand({2, 1, 5, 4}, torch::kDouble) > 0.5).to(torch::kDouble);
  double expected = 0;
  auto x = logits.flatten(), y = target.flatten();
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double p = sigmoid(x[i].item<double>()), t = y[i].item<double>();
    expected -= t * std::log(p) + (1 - t) * std::log(1 - p);
  }
  expected /= x.numel();
  EXPECT_NEAR(psam::train::bce_loss(logits, target).item<double>(), expected, 1e-12);
}

// The references' reductions of the same per-pixel terms: the mean (Probabilistic SAM), the sum
// (Knegt's Probabilistic U-Net) and the per-image sum averaged over the batch (Kohl).
TEST(Loss, BceReductions) {
  using psam::train::BceReduction;
  torch::manual_seed(3);
  const auto logits = 2 * torch::randn({3, 1, 6, 5}, torch::kDouble);
  const auto target = (torch::rand({3, 1, 6, 5}, torch::kDouble) > 0.5).to(torch::kDouble);
  const auto p = torch::sigmoid(logits);
  const auto per_pixel = -(target * p.log() + (1 - target) * (1 - p).log());
  const double sum = per_pixel.sum().item<double>();
  EXPECT_NEAR(psam::train::bce_loss(logits, target, BceReduction::kSum).item<double>(), sum, 1e-9);
  EXPECT_NEAR(psam::train::bce_loss(logits, target, BceReduction::kImageSum).item<double>(),
              sum / 3, 1e-9);
  EXPECT_NEAR(psam::train::bce_loss(logits, target, BceReduction::kMean).item<double>(),
              sum / (3 * 30), 1e-12);
  EXPECT_EQ(psam::value_of<BceReduction>("image_sum", "reduction"), BceReduction::kImageSum);
}

// The references' l2_regularisation: the sum of the (not squared) Frobenius norms.
TEST(Loss, L2NormSum) {
  const auto a = torch::tensor({3.0, 4.0}, torch::kDouble);
  const auto b = torch::tensor({{1.0, 2.0}, {2.0, 4.0}}, torch::kDouble);
  EXPECT_NEAR(psam::train::l2_norm_sum({a, b}).item<double>(), 5.0 + 5.0, 1e-12);
  EXPECT_THROW(psam::train::l2_norm_sum({}), psam::Error);
  psam::train::LossConfig c;
  c.l2_weight = -1;
  EXPECT_THROW(c.validate(), psam::Error);
}

TEST(Loss, DiceBatchAndPerSampleForms) {
  // Sample 0: p = 0.5 everywhere on 4 pixels, target 2 pixels; sample 1: confident and right.
  auto logits = torch::zeros({2, 1, 2, 2}, torch::kDouble);
  logits[1] = torch::tensor({{{-50.0, 50.0}, {50.0, -50.0}}}, torch::kDouble);
  auto target = torch::zeros({2, 1, 2, 2}, torch::kDouble);
  target[0][0][0][0] = 1;
  target[0][0][1][1] = 1;
  target[1][0][0][1] = 1;
  target[1][0][1][0] = 1;
  // Batch: sum(p y) = 1 + 2, sum(p) = 2 + 2, sum(y) = 4.
  EXPECT_NEAR(psam::train::dice_loss(logits, target, DiceMode::kBatch).item<double>(),
              1 - (2.0 * 3 + 1) / (4 + 4 + 1), 1e-12);
  // Per sample: 1 - 3/5 and 1 - 5/5, averaged.
  EXPECT_NEAR(psam::train::dice_loss(logits, target, DiceMode::kPerSample).item<double>(),
              0.5 * ((1 - 3.0 / 5) + 0.0), 1e-12);
  // With smooth 0 an empty prediction of an empty target is undefined; smooth 1 makes it 0 loss.
  const auto empty = torch::zeros({1, 1, 2, 2}, torch::kDouble);
  EXPECT_NEAR(psam::train::dice_loss(empty - 50, empty, DiceMode::kPerSample).item<double>(), 0,
              1e-12);
}

TEST(Loss, KlWarmupIsLinear) {
  psam::train::LossConfig c;
  EXPECT_EQ(psam::train::kl_weight(c, 0, 10.0), 10.0);
  c.kl_warmup_steps = 100;
  EXPECT_EQ(psam::train::kl_weight(c, 0, 10.0), 0.0);
  EXPECT_DOUBLE_EQ(psam::train::kl_weight(c, 25, 10.0), 2.5);
  EXPECT_EQ(psam::train::kl_weight(c, 100, 10.0), 10.0);
  EXPECT_EQ(psam::train::kl_weight(c, 1000, 10.0), 10.0);
}

// Unset, beta makes BCE + beta * KL the negative ELBO per image whatever the reduction: the
// loss is then the per-image ELBO scaled by 1/pixels (mean), 1 (image_sum) or the batch (sum).
TEST(Loss, UnsetBetaIsTheElboWeightOfTheReduction) {
  torch::manual_seed(5);
  for (const auto& [b, h, w] : {std::tuple{2, 6, 10}, std::tuple{3, 12, 4}, std::tuple{1, 8, 8}}) {
    const auto logits = torch::randn({b, 1, h, w}, torch::kDouble);
    const auto target = (torch::rand({b, 1, h, w}) > 0.5).to(torch::kDouble);
    const auto q = DiagonalGaussian::from_log_sigma(torch::randn({b, 4}, torch::kDouble),
                                                    torch::randn({b, 4}, torch::kDouble));
    const auto p = DiagonalGaussian::from_log_sigma(torch::randn({b, 4}, torch::kDouble),
                                                    torch::randn({b, 4}, torch::kDouble));
    // The negative ELBO per image, averaged over the batch, from its definition.
    const auto per_pixel =
        torch::binary_cross_entropy_with_logits(logits, target, {}, {}, at::Reduction::None);
    const double elbo = (per_pixel.sum() / b + q.kl_divergence(p).mean()).item<double>();
    const std::vector<std::pair<BceReduction, double>> scales = {
        {BceReduction::kMean, 1.0 / (h * w)},
        {BceReduction::kImageSum, 1.0},
        {BceReduction::kSum, static_cast<double>(b)}};
    for (const auto& [reduction, scale] : scales) {
      psam::train::LossConfig c;
      c.dice_weight = 0;
      c.bce_reduction = reduction;
      const auto t = psam::train::prob_sam_loss(logits, target, q, p, c, 0);
      EXPECT_NEAR(t.total.item<double>(), scale * elbo, 1e-9 * scale * elbo)
          << psam::name_of(reduction) << " " << b << "x" << h << "x" << w;
      EXPECT_DOUBLE_EQ(t.kl_weight, psam::train::resolved_beta(c, logits));
    }
  }
  psam::train::LossConfig set;
  set.beta = 10;
  EXPECT_EQ(psam::train::resolved_beta(set, torch::zeros({2, 1, 4, 4})), 10.0);
}

TEST(Loss, TotalIsTheWeightedSumOfTheReportedTerms) {
  torch::manual_seed(2);
  const auto logits = torch::randn({3, 1, 8, 8}, torch::requires_grad());
  const auto target = (torch::rand({3, 1, 8, 8}) > 0.6).to(torch::kFloat);
  const auto q = DiagonalGaussian::from_log_sigma(torch::randn({3, 6}), torch::randn({3, 6}));
  const auto p = DiagonalGaussian::from_log_sigma(torch::randn({3, 6}), torch::randn({3, 6}));
  psam::train::LossConfig c;
  c.bce_weight = 0.5;
  c.dice_weight = 2;
  c.beta = 10;
  c.kl_warmup_steps = 10;
  const auto t = psam::train::prob_sam_loss(logits, target, q, p, c, 4);
  EXPECT_DOUBLE_EQ(t.kl_weight, 4.0);
  EXPECT_NEAR(t.kl.item<double>(), q.kl_divergence(p).mean().item<double>(), 1e-6);
  EXPECT_NEAR(t.total.item<double>(),
              0.5 * t.bce.item<double>() + 2 * t.dice.item<double>() + 4 * t.kl.item<double>(),
              1e-5);
  t.total.backward();
  EXPECT_GT(logits.grad().abs().sum().item<double>(), 0);
}

TEST(Loss, RejectsBadInputs) {
  EXPECT_THROW(psam::train::bce_loss(torch::zeros({2, 1, 4, 4}), torch::zeros({2, 1, 8, 8})),
               psam::Error);
  EXPECT_THROW(psam::train::dice_mode_from_string("global"), psam::Error);
  psam::train::LossConfig c;
  c.beta = -1;
  EXPECT_THROW(c.validate(), psam::Error);
}

}  // namespace

// Free bits by hand: prior N(0, 1), posterior N(mu, 1), so KL per dimension is mu^2 / 2.
// mu = [[1, 0.2], [0, 0]]: per-sample KL [[0.5, 0.02], [0, 0]], batch means [0.25, 0.01];
// floored at 0.1: [0.25, 0.1], sum 0.35, times beta 2: 0.7. The floored dimension gets no
// gradient; the other keeps the plain KL's.
TEST(Loss, FreeBitsFloorsEachLatentDimension) {
  const auto mu = torch::tensor({{1.0, 0.2}, {0.0, 0.0}}, torch::kDouble).requires_grad_();
  const auto q = DiagonalGaussian(mu, torch::ones({2, 2}, torch::kDouble));
  const auto p =
      DiagonalGaussian(torch::zeros({2, 2}, torch::kDouble), torch::ones({2, 2}, torch::kDouble));
  EXPECT_NEAR(psam::train::free_bits_kl(q, p, 0.1).item<double>(), 0.35, 1e-12);
  EXPECT_NEAR(psam::train::free_bits_kl(q, p, 0.0).item<double>(), 0.26, 1e-12);
  EXPECT_NEAR(psam::train::free_bits_kl(q, p, 1.0).item<double>(), 2.0, 1e-12);

  const auto logits = torch::zeros({2, 1, 2, 2}, torch::kDouble);
  const auto target = torch::ones({2, 1, 2, 2}, torch::kDouble);
  psam::train::LossConfig c;
  c.beta = 2;
  c.kl_control = psam::train::KlControl::kFreeBits;
  c.free_bits = 0.1;
  const auto t = psam::train::prob_sam_loss(logits, target, q, p, c, 0);
  EXPECT_NEAR(t.kl.item<double>(), 0.26, 1e-12);  // logged unfloored
  EXPECT_NEAR(t.kl_term.item<double>(), 0.7, 1e-12);
  EXPECT_NEAR(t.total.item<double>(), t.reconstruction.item<double>() + 0.7, 1e-12);
  t.total.backward();
  // d/dmu_b0 of 2 * mean_b(mu_b0^2 / 2) = mu_b0; dimension 1 is below the floor.
  const auto expected = torch::tensor({{1.0, 0.0}, {0.0, 0.0}}, torch::kDouble);
  EXPECT_TRUE(torch::allclose(mu.grad(), expected, 0, 1e-12)) << mu.grad();
  // The prior still follows the posterior in every dimension, floored or not.
  const auto prior_mu = torch::zeros({2, 2}, torch::kDouble).requires_grad_();
  const auto t2 = psam::train::prob_sam_loss(
      logits, target, q, DiagonalGaussian(prior_mu, torch::ones({2, 2}, torch::kDouble)), c, 0);
  mu.mutable_grad().zero_();
  t2.total.backward();
  EXPECT_NEAR(t2.kl_term.item<double>(), 0.7, 1e-12);
  // d/dm_bj of 2 * mean_b((mu_bj - m_bj)^2 / 2) = -(mu_bj - m_bj) = -mu_bj.
  EXPECT_TRUE(torch::allclose(prior_mu.grad(), -mu.detach(), 0, 1e-12)) << prior_mu.grad();
  EXPECT_TRUE(torch::allclose(mu.grad(), expected, 0, 1e-12)) << mu.grad();

  // Without the control, dimension 1 is pulled towards the prior: gradient mu_01 = 0.2.
  mu.mutable_grad().zero_();
  c.kl_control = psam::train::KlControl::kNone;
  psam::train::prob_sam_loss(logits, target, q, p, c, 0).total.backward();
  EXPECT_NEAR(mu.grad()[0][1].item<double>(), 0.2, 1e-12);

  c.free_bits = -0.5;
  try {
    c.validate();
    ADD_FAILURE() << "no error";
  } catch (const psam::Error& e) {
    EXPECT_STREQ(e.what(), "loss: free_bits must be >= 0 (nats per latent dimension), got -0.5");
  }
}

// Soft Jaccard distances by hand: [1,1,0,0] against [0,1,1,0] share 1 of 3 pixels, so
// 1 - (1 + 1) / (3 + 1) = 0.5; a map against itself (binary) is 0, two empty maps are 0, an empty
// map against 2 pixels 1 - 1 / 3.
TEST(Loss, SoftJaccardDistancesByHand) {
  const auto a = torch::tensor({1.0, 1.0, 0.0, 0.0}, torch::kDouble).view({1, 1, 2, 2});
  const auto b = torch::tensor({0.0, 1.0, 1.0, 0.0}, torch::kDouble).view({1, 1, 2, 2});
  const auto empty = torch::zeros({1, 1, 2, 2}, torch::kDouble);
  const auto d = psam::train::soft_jaccard_distances(torch::cat({a, b, empty}, 1),
                                                     torch::cat({a, b, empty}, 1));
  const auto expected = torch::tensor({{0.0, 0.5, 2.0 / 3}, {0.5, 0.0, 2.0 / 3},
                                       {2.0 / 3, 2.0 / 3, 0.0}},
                                      torch::kDouble)
                            .view({1, 3, 3});
  EXPECT_TRUE(torch::allclose(d, expected, 0, 1e-12)) << d;
  try {
    psam::train::soft_jaccard_distances(a, torch::zeros({1, 1, 3, 2}, torch::kDouble));
    ADD_FAILURE() << "no error";
  } catch (const psam::Error& e) {
    EXPECT_STREQ(e.what(),
                 "soft Jaccard: expected maps [B,K,H,W] and [B,A,H,W], got [1, 1, 2, 2] and "
                 "[1, 1, 3, 2]");
  }
}

// Two raters who disagree completely (disjoint 4-pixel masks A and B). Samples {A, B}, drawn as
// the raters are, score 0: cross distances (0 + 8/9 + 8/9 + 0) / 4 minus half the pair's 8/9.
// Samples that always give A score 4/9 (no spread to subtract), and the soft average of the
// two, 2/7 (distance 4/7 to each mask and to itself). The spread the raters have wins.
TEST(Loss, EnergyScoreIsLowestForSamplesThatSpreadAsTheRaters) {
  auto A = torch::zeros({1, 1, 4, 4}, torch::kDouble);
  auto B = torch::zeros({1, 1, 4, 4}, torch::kDouble);
  A.slice(2, 0, 2).slice(3, 0, 2).fill_(1);
  B.slice(2, 2, 4).slice(3, 2, 4).fill_(1);
  const auto raters = torch::cat({A, B}, 1);
  const auto score = [&](const at::Tensor& samples) {
    return psam::train::energy_score(samples, raters).item<double>();
  };
  EXPECT_NEAR(score(torch::cat({A, B}, 1)), 0.0, 1e-12);
  EXPECT_NEAR(score(torch::cat({A, A}, 1)), 4.0 / 9, 1e-12);
  const auto mean = 0.5 * (A + B);
  EXPECT_NEAR(score(torch::cat({mean, mean}, 1)), 2.0 / 7, 1e-12);
  // One rater per image (random_one) is a valid observation too; the batch mean is taken.
  EXPECT_NEAR(psam::train::energy_score(torch::cat({torch::cat({A, B}, 1), torch::cat({A, A}, 1)}),
                                        torch::cat({A, A}))
                  .item<double>(),
              0.5 * ((0 + 8.0 / 9) / 2 - 0.5 * 8.0 / 9 + 0.0), 1e-12);
  // The gradient reaches the samples: moving a sample of {A, A} towards B lowers the score.
  const auto samples = torch::cat({A, A}, 1).requires_grad_();
  psam::train::energy_score(samples, raters).backward();
  EXPECT_LT((samples.grad()[0][1] * (B[0][0] - A[0][0])).sum().item<double>(), 0);
  // Under bf16 autocast (libtorch 2.x on the CPU) the sums stay in fp32: the same value as the
  // fp32 maps give, not bf16's 3 significant digits.
  if (psam::train::bf16_autocast_supported(c10::kCPU)) {
    auto soft = torch::rand({2, 3, 40, 50});
    auto seen = torch::rand({2, 2, 40, 50});
    const double exact = psam::train::energy_score(soft, seen).item<double>();
    psam::train::Bf16Autocast bf16(true, c10::kCPU);
    EXPECT_NEAR(psam::train::energy_score(soft, seen).item<double>(), exact, 1e-6);
    EXPECT_NEAR(
        psam::train::energy_score(soft.to(torch::kBFloat16), seen).item<double>(),
        psam::train::energy_score(soft.to(torch::kBFloat16).to(torch::kFloat), seen).item<double>(),
        1e-6);
  }
  try {
    psam::train::energy_score(A, raters);
    ADD_FAILURE() << "no error";
  } catch (const psam::Error& e) {
    EXPECT_STREQ(e.what(), "energy score: samples must be [B,K,H,W] with K >= 2");
  }
}

// KL per latent dimension: the closed form, summing to the KL.
TEST(Loss, KlPerDimensionSumsToTheKl) {
  torch::manual_seed(4);
  const auto q = DiagonalGaussian::from_log_sigma(torch::randn({3, 5}), torch::randn({3, 5}));
  const auto p = DiagonalGaussian::from_log_sigma(torch::randn({3, 5}), torch::randn({3, 5}));
  const auto per_dim = q.kl_divergence_per_dim(p);
  ASSERT_EQ(per_dim.sizes(), (std::vector<int64_t>{3, 5}));
  EXPECT_TRUE(torch::allclose(per_dim.sum(-1), q.kl_divergence(p), 1e-6, 1e-6));
  const auto var = (q.sigma() / p.sigma()).pow(2);
  const auto direct = 0.5 * (var + ((q.mu() - p.mu()) / p.sigma()).pow(2) - 1 - var.log());
  EXPECT_TRUE(torch::allclose(per_dim, direct, 1e-6, 1e-6));
}
