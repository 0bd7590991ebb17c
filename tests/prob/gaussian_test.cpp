#include "psam/prob/gaussian.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "psam/util/error.h"

namespace {

using psam::prob::DiagonalGaussian;

const double kLog2Pi = std::log(2.0 * std::acos(-1.0));

DiagonalGaussian random_gaussian(int64_t b, int64_t l, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto mu = torch::randn({b, l}, gen, torch::kDouble);
  auto log_sigma = 0.7 * torch::randn({b, l}, gen, torch::kDouble);
  return DiagonalGaussian::from_log_sigma(mu, log_sigma);
}

TEST(DiagonalGaussian, KlOfIdenticalGaussiansIsZero) {
  const auto q = random_gaussian(4, 6, 1);
  const auto kl = q.kl_divergence(DiagonalGaussian(q.mu().clone(), q.sigma().clone()));
  ASSERT_EQ(kl.sizes(), torch::IntArrayRef({4}));
  EXPECT_LT(kl.abs().max().item<double>(), 1e-12);
}

TEST(DiagonalGaussian, KlMatchesClosedForm) {
  const auto q = random_gaussian(5, 6, 2), p = random_gaussian(5, 6, 3);
  const auto kl = q.kl_divergence(p);
  auto mq = q.mu().accessor<double, 2>(), sq = q.sigma().accessor<double, 2>();
  auto mp = p.mu().accessor<double, 2>(), sp = p.sigma().accessor<double, 2>();
  for (int64_t b = 0; b < 5; ++b) {
    double expected = 0;
    for (int64_t i = 0; i < 6; ++i) {
      const double d = mq[b][i] - mp[b][i];
      expected += std::log(sp[b][i] / sq[b][i]) +
                  (sq[b][i] * sq[b][i] + d * d) / (2 * sp[b][i] * sp[b][i]) - 0.5;
    }
    EXPECT_NEAR(kl[b].item<double>(), expected, 1e-12 * std::max(1.0, expected));
    EXPECT_GT(kl[b].item<double>(), 0.0);
  }
}

TEST(DiagonalGaussian, KlMatchesMonteCarloEstimate) {
  // KL(q || p) = E_q[log q(z) - log p(z)]: ties rsample, log_prob and the closed form together.
  const auto q = random_gaussian(2, 3, 4), p = random_gaussian(2, 3, 5);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(6);
  const auto z = q.sample(400000, gen);  // [n, B, L]
  const auto estimate = (q.log_prob(z) - p.log_prob(z)).mean(0);
  const auto kl = q.kl_divergence(p);
  for (int64_t b = 0; b < 2; ++b)
    EXPECT_NEAR(estimate[b].item<double>(), kl[b].item<double>(),
                0.02 * std::max(1.0, kl[b].item<double>()));
}

TEST(DiagonalGaussian, LogProbAndEntropyMatchFormulas) {
  const auto q = random_gaussian(3, 4, 7);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(8);
  const auto z = torch::randn({3, 4}, gen, torch::kDouble);
  const auto lp = q.log_prob(z), h = q.entropy();
  auto m = q.mu().accessor<double, 2>(), s = q.sigma().accessor<double, 2>();
  auto zz = z.accessor<double, 2>();
  for (int64_t b = 0; b < 3; ++b) {
    double lp_expected = 0, h_expected = 0;
    for (int64_t i = 0; i < 4; ++i) {
      const double u = (zz[b][i] - m[b][i]) / s[b][i];
      lp_expected += -0.5 * u * u - std::log(s[b][i]) - 0.5 * kLog2Pi;
      h_expected += 0.5 * (1 + kLog2Pi) + std::log(s[b][i]);
    }
    EXPECT_NEAR(lp[b].item<double>(), lp_expected, 1e-12);
    EXPECT_NEAR(h[b].item<double>(), h_expected, 1e-12);
  }
}

TEST(DiagonalGaussian, SamplesHaveTheDistributionsMoments) {
  const auto q = random_gaussian(2, 3, 9);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(10);
  const auto z = q.sample(200000, gen);
  ASSERT_EQ(z.sizes(), torch::IntArrayRef({200000, 2, 3}));
  EXPECT_LT((z.mean(0) - q.mu()).abs().max().item<double>(), 0.02);
  EXPECT_LT((z.std(0) / q.sigma() - 1).abs().max().item<double>(), 0.01);
}

TEST(DiagonalGaussian, RsampleIsReparameterised) {
  auto mu = torch::zeros({1, 4}, torch::requires_grad());
  auto log_sigma = torch::full({1, 4}, 0.3, torch::requires_grad());
  const auto q = DiagonalGaussian::from_log_sigma(mu, log_sigma);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  const auto z = q.rsample(gen);
  z.sum().backward();
  // dz/dmu = 1; dz/dlog_sigma = sigma * eps = z - mu.
  EXPECT_TRUE(torch::allclose(mu.grad(), torch::ones({1, 4})));
  EXPECT_TRUE(torch::allclose(log_sigma.grad(), z.detach()));
  EXPECT_FALSE(q.sample(2, gen).requires_grad());
}

TEST(DiagonalGaussian, SameGeneratorSeedGivesSameSamples) {
  const auto q = random_gaussian(1, 6, 12);
  auto g1 = at::make_generator<at::CPUGeneratorImpl>(13);
  auto g2 = at::make_generator<at::CPUGeneratorImpl>(13);
  EXPECT_TRUE(torch::equal(q.sample(5, g1), q.sample(5, g2)));
  EXPECT_FALSE(torch::equal(q.sample(5, g1), q.sample(5, g1)));
}

TEST(DiagonalGaussian, LogSigmaIsClampedToBound) {
  const auto q =
      DiagonalGaussian::from_log_sigma(torch::zeros({1, 2}), torch::tensor({{-9.f, 9.f}}));
  EXPECT_NEAR(q.sigma()[0][0].item<float>(), std::exp(-5.f), 1e-9);
  EXPECT_NEAR(q.sigma()[0][1].item<float>(), std::exp(5.f), 1e-3);
}

TEST(DiagonalGaussian, RejectsMismatchedShapes) {
  EXPECT_THROW(DiagonalGaussian(torch::zeros({2, 3}), torch::ones({2, 4})), psam::Error);
  EXPECT_THROW(DiagonalGaussian(torch::zeros({3}), torch::ones({3})), psam::Error);
  const auto q = random_gaussian(2, 3, 1), p = random_gaussian(1, 3, 2);
  EXPECT_THROW(q.kl_divergence(p), psam::Error);
}

}  // namespace
