// A diagonal Gaussian over the latent code z: batch shape [B], event shape [L], i.e. PyTorch's
// Independent(Normal(mu, sigma), 1). Probabilities and KL divergences are summed over the L
// latent dimensions and kept per batch element, as the reference Probabilistic SAM uses them.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <c10/util/Optional.h>

#include <cstdint>

namespace psam::prob {

class DiagonalGaussian {
 public:
  DiagonalGaussian() = default;
  // mu, sigma: [B, L], sigma > 0.
  DiagonalGaussian(at::Tensor mu, at::Tensor sigma);
  // sigma = exp(clamp(log_sigma, -bound, bound)): the reference bounds log sigma to [-5, 5] so
  // that neither the KL term nor the samples can blow up early in training.
  static DiagonalGaussian from_log_sigma(const at::Tensor& mu, const at::Tensor& log_sigma,
                                         double bound = 5.0);

  bool defined() const { return mu_.defined(); }
  const at::Tensor& mu() const { return mu_; }
  const at::Tensor& sigma() const { return sigma_; }
  int64_t batch_size() const { return mu_.size(0); }
  int64_t latent_dim() const { return mu_.size(1); }

  // z = mu + sigma * eps with eps ~ N(0, I): differentiable in mu and sigma (training draws z
  // from the posterior this way). [B, L].
  at::Tensor rsample(c10::optional<at::Generator> generator = c10::nullopt) const;
  // n reparameterised draws per batch element: [n, B, L].
  at::Tensor rsample(int64_t n, c10::optional<at::Generator> generator = c10::nullopt) const;
  // As rsample, but detached from mu and sigma. [n, B, L].
  at::Tensor sample(int64_t n, c10::optional<at::Generator> generator = c10::nullopt) const;

  // log p(z) summed over the latent dimensions; z [..., B, L] -> [..., B].
  at::Tensor log_prob(const at::Tensor& z) const;
  // Differential entropy, summed over the latent dimensions: [B].
  at::Tensor entropy() const;
  // Closed-form KL(this || other), summed over the latent dimensions: [B].
  at::Tensor kl_divergence(const DiagonalGaussian& other) const;
  // The same per latent dimension: [B, L].
  at::Tensor kl_divergence_per_dim(const DiagonalGaussian& other) const;

 private:
  // Twice the KL per latent dimension, [B, L] (halved after the sum, as the reference does).
  at::Tensor twice_kl_per_dim(const DiagonalGaussian& other) const;

  at::Tensor mu_, sigma_;
};

}  // namespace psam::prob
