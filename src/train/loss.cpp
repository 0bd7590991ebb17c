#include "psam/train/loss.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ostream.h>

#include <algorithm>
#include <cmath>

#include "psam/util/autocast_state.h"
#include "psam/util/error.h"

namespace psam::train {
namespace {

void check_pair(const at::Tensor& logits, const at::Tensor& target, const char* loss) {
  PSAM_CHECK(
      logits.defined() && target.defined() && logits.dim() >= 2 && logits.sizes() == target.sizes(),
      fmt::format("{} loss: expected logits and target of the same shape [B,...], got {} "
                  "and {}",
                  loss,
                  logits.defined() ? fmt::format("{}", fmt::streamed(logits.sizes())) : "none",
                  target.defined() ? fmt::format("{}", fmt::streamed(target.sizes())) : "none"));
}

// Autocast off on the CPU or CUDA for a scope, restored after.
class JaccardAutocastOff {
 public:
  explicit JaccardAutocastOff(c10::DeviceType device)
      : device_(device), active_(device == c10::kCPU || device == c10::kCUDA) {
    if (!active_) return;
    before_ = autocast_state(device_);
    set_autocast_state(device_, {false, before_.dtype});
  }
  ~JaccardAutocastOff() {
    if (active_) set_autocast_state(device_, before_);
  }
  JaccardAutocastOff(const JaccardAutocastOff&) = delete;
  JaccardAutocastOff& operator=(const JaccardAutocastOff&) = delete;

 private:
  c10::DeviceType device_;
  bool active_;
  AutocastState before_;
};

}  // namespace

DiceMode dice_mode_from_string(const std::string& name) {
  return value_of<DiceMode>(name, "dice mode");
}

std::string to_string(DiceMode mode) { return name_of(mode); }

void LossConfig::validate() const {
  PSAM_CHECK(bce_weight >= 0, fmt::format("loss: bce_weight must be >= 0, got {}", bce_weight));
  PSAM_CHECK(dice_weight >= 0, fmt::format("loss: dice_weight must be >= 0, got {}", dice_weight));
  PSAM_CHECK(dice_smooth >= 0, fmt::format("loss: dice_smooth must be >= 0, got {}", dice_smooth));
  PSAM_CHECK(!beta || *beta >= 0, fmt::format("loss: beta must be >= 0, got {}", beta.value_or(0)));
  PSAM_CHECK(kl_warmup_steps >= 0,
             fmt::format("loss: kl_warmup_steps must be >= 0, got {}", kl_warmup_steps));
  PSAM_CHECK(l2_weight >= 0, fmt::format("loss: l2_weight must be >= 0, got {}", l2_weight));
  PSAM_CHECK(
      free_bits >= 0 && std::isfinite(free_bits),
      fmt::format("loss: free_bits must be >= 0 (nats per latent dimension), got {}", free_bits));
  geco.validate();
  PSAM_CHECK(energy_weight >= 0 && std::isfinite(energy_weight),
             fmt::format("loss: energy_weight must be >= 0, got {}", energy_weight));
  PSAM_CHECK(energy_samples >= 2,
             fmt::format("loss: energy_samples must be >= 2 (the spread term needs a pair), got {}",
                         energy_samples));
}

at::Tensor bce_loss(const at::Tensor& logits, const at::Tensor& target, BceReduction reduction) {
  check_pair(logits, target, "BCE");
  const auto y = target.to(logits.options());
  if (reduction == BceReduction::kMean) return at::binary_cross_entropy_with_logits(logits, y);
  const auto sum = at::binary_cross_entropy_with_logits(logits, y, {}, {}, at::Reduction::Sum);
  return reduction == BceReduction::kSum ? sum : sum / static_cast<double>(logits.size(0));
}

at::Tensor l2_norm_sum(const std::vector<at::Tensor>& parameters) {
  PSAM_CHECK(!parameters.empty(), "L2 term: no parameters");
  at::Tensor total = parameters.front().norm();
  for (size_t i = 1; i < parameters.size(); ++i) total = total + parameters[i].norm();
  return total;
}

at::Tensor dice_loss(const at::Tensor& logits, const at::Tensor& target, DiceMode mode,
                     double smooth) {
  check_pair(logits, target, "Dice");
  const auto p = at::sigmoid(logits);
  const auto y = target.to(logits.options());
  if (mode == DiceMode::kBatch)
    return 1.0 - (2.0 * (p * y).sum() + smooth) / (p.sum() + y.sum() + smooth);
  const auto inter = (p * y).flatten(1).sum(1);
  const auto total = p.flatten(1).sum(1) + y.flatten(1).sum(1);
  return (1.0 - (2.0 * inter + smooth) / (total + smooth)).mean();
}

at::Tensor soft_jaccard_distances(const at::Tensor& a, const at::Tensor& b) {
  PSAM_CHECK(a.defined() && b.defined() && a.dim() == 4 && b.dim() == 4 && a.size(0) == b.size(0) &&
                 a.size(2) == b.size(2) && a.size(3) == b.size(3),
             fmt::format("soft Jaccard: expected maps [B,K,H,W] and [B,A,H,W], got {} and {}",
                         a.defined() ? fmt::format("{}", fmt::streamed(a.sizes())) : "none",
                         b.defined() ? fmt::format("{}", fmt::streamed(b.sizes())) : "none"));
  // Sums over up to a million pixels: in fp32 at least, whatever the autocast (which would run
  // the bmm in fp16 or bf16).
  const bool reduced = a.scalar_type() == at::kHalf || a.scalar_type() == at::kBFloat16;
  const auto x = a.to(reduced ? at::kFloat : a.scalar_type()).flatten(2);
  const auto y = b.to(x.options()).flatten(2);
  const JaccardAutocastOff fp32(x.device().type());
  // Every intersection at once: [B,K,P] x [B,P,A].
  const auto inter = at::bmm(x, y.transpose(1, 2));
  const auto uni = x.sum(2).unsqueeze(2) + y.sum(2).unsqueeze(1) - inter;
  return 1.0 - (inter + 1.0) / (uni + 1.0);
}

at::Tensor energy_score(const at::Tensor& samples, const at::Tensor& observed) {
  PSAM_CHECK(samples.defined() && samples.dim() == 4 && samples.size(1) >= 2,
             "energy score: samples must be [B,K,H,W] with K >= 2");
  const int64_t k = samples.size(1);
  const auto cross = soft_jaccard_distances(samples, observed).mean({1, 2});
  const auto pairs = soft_jaccard_distances(samples, samples);
  // The diagonal (a soft map against itself) is not a pair of independent draws.
  const auto spread = (pairs.sum({1, 2}) - pairs.diagonal(0, 1, 2).sum(1)) /
                      static_cast<double>(k * (k - 1));
  return (cross - 0.5 * spread).mean();
}

at::Tensor kl_loss(const prob::DiagonalGaussian& posterior, const prob::DiagonalGaussian& prior) {
  PSAM_CHECK(posterior.defined() == prior.defined(),
             "KL loss: needs both the posterior and the prior, or neither (deterministic model)");
  return posterior.kl_divergence(prior).mean();
}

at::Tensor free_bits_kl(const prob::DiagonalGaussian& posterior,
                        const prob::DiagonalGaussian& prior, double floor) {
  PSAM_CHECK(posterior.defined() && prior.defined(),
             "free bits: needs both the posterior and the prior");
  // The floor releases the posterior only. The prior still follows it: below the floor it would
  // otherwise get no gradient and be sampled at evaluation as it was initialised. The value is
  // the floored KL; the prior's part adds its gradient and cancels in value.
  const prob::DiagonalGaussian fixed_prior(prior.mu().detach(), prior.sigma().detach());
  const prob::DiagonalGaussian fixed_posterior(posterior.mu().detach(), posterior.sigma().detach());
  const at::Tensor released =
      posterior.kl_divergence_per_dim(fixed_prior).mean(0).clamp_min(floor).sum();
  const at::Tensor followed = fixed_posterior.kl_divergence(prior).mean();
  return released + (followed - followed.detach());
}

double elbo_beta(BceReduction reduction, int64_t batch, int64_t pixels_per_image) {
  PSAM_CHECK(batch > 0 && pixels_per_image > 0,
             fmt::format("loss: ELBO weight of an empty batch ({} images of {} pixels)", batch,
                         pixels_per_image));
  switch (reduction) {
    case BceReduction::kMean:
      return 1.0 / static_cast<double>(pixels_per_image);
    case BceReduction::kImageSum:
      return 1.0;
    case BceReduction::kSum:
      return static_cast<double>(batch);
  }
  throw Error("loss: unknown BCE reduction");
}

double resolved_beta(const LossConfig& config, const at::Tensor& logits) {
  if (config.beta) return *config.beta;
  PSAM_CHECK(logits.dim() == 4, "loss: logits must be [B,1,H,W]");
  return elbo_beta(config.bce_reduction, logits.size(0), logits.size(2) * logits.size(3));
}

double kl_weight(const LossConfig& config, int64_t step, double beta) {
  if (config.kl_warmup_steps <= 0) return beta;
  const double ramp =
      static_cast<double>(std::max<int64_t>(step, 0)) / static_cast<double>(config.kl_warmup_steps);
  return beta * std::min(1.0, ramp);
}

LossTerms prob_sam_loss(const at::Tensor& logits, const at::Tensor& target,
                        const prob::DiagonalGaussian& posterior,
                        const prob::DiagonalGaussian& prior, const LossConfig& config,
                        int64_t step) {
  config.validate();
  LossTerms terms;
  terms.bce = bce_loss(logits, target, config.bce_reduction);
  terms.dice = dice_loss(logits, target, config.dice_mode, config.dice_smooth);
  terms.kl = posterior.defined() || prior.defined() ? kl_loss(posterior, prior)
                                                    : at::zeros({}, logits.options());
  terms.beta = resolved_beta(config, logits);
  terms.kl_weight = kl_weight(config, step, terms.beta);
  terms.reconstruction = config.bce_weight * terms.bce + config.dice_weight * terms.dice;
  const bool floored = config.kl_control == KlControl::kFreeBits && posterior.defined();
  terms.kl_term =
      terms.kl_weight * (floored ? free_bits_kl(posterior, prior, config.free_bits) : terms.kl);
  terms.total = terms.reconstruction + terms.kl_term;
  return terms;
}

}  // namespace psam::train
