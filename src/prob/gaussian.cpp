#include "psam/prob/gaussian.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ostream.h>

#include <cmath>
#include <utility>

#include "psam/util/device.h"
#include "psam/util/error.h"

namespace psam::prob {
namespace {

const double kLogSqrt2Pi = 0.5 * std::log(2.0 * std::acos(-1.0));

}  // namespace

DiagonalGaussian::DiagonalGaussian(at::Tensor mu, at::Tensor sigma)
    : mu_(std::move(mu)), sigma_(std::move(sigma)) {
  PSAM_CHECK(
      mu_.defined() && sigma_.defined() && mu_.dim() == 2 && mu_.sizes() == sigma_.sizes(),
      fmt::format("DiagonalGaussian: expected mu and sigma of the same shape [B, L], got "
                  "{} and {}",
                  mu_.defined() ? fmt::format("{}", fmt::streamed(mu_.sizes())) : "none",
                  sigma_.defined() ? fmt::format("{}", fmt::streamed(sigma_.sizes())) : "none"));
}

DiagonalGaussian DiagonalGaussian::from_log_sigma(const at::Tensor& mu, const at::Tensor& log_sigma,
                                                  double bound) {
  return DiagonalGaussian(mu, at::clamp(log_sigma, -bound, bound).exp());
}

at::Tensor DiagonalGaussian::rsample(c10::optional<at::Generator> generator) const {
  check_generator(generator, mu_.device(), "DiagonalGaussian::rsample");
  return mu_ + sigma_ * at::randn(mu_.sizes(), std::move(generator), mu_.options());
}

at::Tensor DiagonalGaussian::rsample(int64_t n, c10::optional<at::Generator> generator) const {
  PSAM_CHECK(n >= 1, fmt::format("DiagonalGaussian: sample count must be >= 1, got {}", n));
  check_generator(generator, mu_.device(), "DiagonalGaussian::rsample");
  const auto eps = at::randn({n, mu_.size(0), mu_.size(1)}, std::move(generator), mu_.options());
  return mu_.unsqueeze(0) + sigma_.unsqueeze(0) * eps;
}

at::Tensor DiagonalGaussian::sample(int64_t n, c10::optional<at::Generator> generator) const {
  return rsample(n, std::move(generator)).detach();
}

at::Tensor DiagonalGaussian::log_prob(const at::Tensor& z) const {
  const auto u = (z - mu_) / sigma_;
  return (-0.5 * u * u - sigma_.log() - kLogSqrt2Pi).sum(-1);
}

at::Tensor DiagonalGaussian::entropy() const {
  return (sigma_.log() + (0.5 + kLogSqrt2Pi)).sum(-1);
}

at::Tensor DiagonalGaussian::twice_kl_per_dim(const DiagonalGaussian& other) const {
  PSAM_CHECK(mu_.sizes() == other.mu_.sizes(),
             fmt::format("DiagonalGaussian: KL between shapes {} and {}",
                         fmt::streamed(mu_.sizes()), fmt::streamed(other.mu_.sizes())));
  const auto var_ratio = (sigma_ / other.sigma_).pow(2);
  const auto t = ((mu_ - other.mu_) / other.sigma_).pow(2);
  return var_ratio + t - 1.0 - var_ratio.log();
}

at::Tensor DiagonalGaussian::kl_divergence(const DiagonalGaussian& other) const {
  return 0.5 * twice_kl_per_dim(other).sum(-1);
}

at::Tensor DiagonalGaussian::kl_divergence_per_dim(const DiagonalGaussian& other) const {
  return 0.5 * twice_kl_per_dim(other);
}

}  // namespace psam::prob
