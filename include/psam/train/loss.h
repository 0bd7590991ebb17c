// The training losses: BCE + Dice on the mask logits (z drawn from the posterior) plus
// beta * KL(posterior || prior), with an optional linear KL warm-up, and an optional L2 term on
// the latent-variable parts. Each term is returned separately so runs can log them.
//
// The references differ in how they reduce the reconstruction BCE and weigh the KL:
//   Probabilistic SAM   mean over pixels and batch, beta 10                    (bce_reduction mean)
//   Prob. U-Net, Kohl   sum over each image's pixels, mean over batch, beta 1  (image_sum)
//   Prob. U-Net, Knegt  sum over pixels and batch, beta 10; KL batch mean      (sum)
// The reduction is Probabilistic SAM's by default. beta is not: unset, it is the weight that
// makes the loss the negative ELBO per image for the reduction in use (elbo_beta). The
// reference's 10 on a per-pixel mean weighs one nat of KL above everything z can explain, and
// the posterior collapses onto the prior (docs/train.md); configs that reproduce a paper set it.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "psam/prob/gaussian.h"
#include "psam/train/geco.h"
#include "psam/util/names.h"

namespace psam::train {

enum class DiceMode {
  // The reference: one ratio over every pixel of the whole batch.
  kBatch,
  // One ratio per sample, averaged over the batch (small lesions weigh as much as large ones).
  kPerSample,
};
inline constexpr NameTable<DiceMode, 2> kDiceModeNames = {{
    {DiceMode::kBatch, "batch"},
    {DiceMode::kPerSample, "per_sample"},
}};
constexpr const auto& enum_names(DiceMode) { return kDiceModeNames; }
DiceMode dice_mode_from_string(const std::string& name);  // batch | per_sample
std::string to_string(DiceMode mode);

enum class BceReduction {
  kMean,      // mean over every pixel of the batch (Probabilistic SAM)
  kSum,       // sum over every pixel of the batch (Knegt's Probabilistic U-Net port)
  kImageSum,  // sum over each image's pixels, mean over the batch (Kohl et al. 2018)
};
inline constexpr NameTable<BceReduction, 3> kBceReductionNames = {{
    {BceReduction::kMean, "mean"},
    {BceReduction::kSum, "sum"},
    {BceReduction::kImageSum, "image_sum"},
}};
constexpr const auto& enum_names(BceReduction) { return kBceReductionNames; }

// What keeps the latent from collapsing onto the prior (docs/train.md, "The KL term's control").
enum class KlControl {
  kNone,      // kl_weight * KL, as configured
  kGeco,      // the KL weight divided by GECO's multiplier (train/geco.h), updated per step
  kFreeBits,  // kl_weight * sum over latent dimensions of max(free_bits, batch-mean KL_j)
};
inline constexpr NameTable<KlControl, 3> kKlControlNames = {{
    {KlControl::kNone, "none"},
    {KlControl::kGeco, "geco"},
    {KlControl::kFreeBits, "free_bits"},
}};
constexpr const auto& enum_names(KlControl) { return kKlControlNames; }

struct LossConfig {
  double bce_weight = 1.0;
  BceReduction bce_reduction = BceReduction::kMean;
  double dice_weight = 1.0;
  DiceMode dice_mode = DiceMode::kBatch;
  double dice_smooth = 1.0;  // added to numerator and denominator
  // KL weight once warmed up; unset: elbo_beta for the logits of each step.
  std::optional<double> beta;
  // The KL weight rises linearly from 0 at step 0 to beta at this step; 0 = beta throughout.
  int64_t kl_warmup_steps = 0;
  // Weight of the sum of L2 norms (not squared) of every parameter tensor of a method's
  // latent-variable parts (prior, posterior, combiner; see each method): Knegt's Probabilistic
  // U-Net and UA-SAM use 1e-5; 0 = off (Probabilistic SAM's reference has none).
  double l2_weight = 0.0;
  KlControl kl_control = KlControl::kNone;
  // kl_control free_bits: the floor in nats per latent dimension below which the KL costs
  // nothing (Kingma et al. 2016).
  double free_bits = 0.25;
  GecoConfig geco;  // kl_control geco
  // Weight of the energy score of the prior's samples against the batch's masks (energy_score):
  // it trains the draws that evaluation makes, which the posterior's reconstruction does not;
  // 0 = off.
  double energy_weight = 0.0;
  // Prior draws per image for the energy score (>= 2: its spread term needs a pair).
  int64_t energy_samples = 4;

  void validate() const;  // psam::Error naming the first invalid field
};

// What a training step minimises, and the terms it logs.
struct StepLoss {
  at::Tensor total;                                        // scalar that is minimised
  std::vector<std::pair<std::string, at::Tensor>> terms;  // scalars to log, e.g. bce, dice, kl
  std::optional<double> beta;  // a latent method's KL weight after the warm-up, for the log
  // A latent method's parts of `total`, for the KL control: the weighted KL term (with its
  // gradient; GECO rescales it) and the reconstruction bce_weight * BCE + dice_weight * Dice
  // (detached; GECO's constraint reads it). Undefined for a method without a latent KL.
  at::Tensor kl_term;
  at::Tensor reconstruction;
};

struct LossTerms {
  at::Tensor bce;    // scalar
  at::Tensor dice;   // scalar
  at::Tensor kl;     // scalar: batch mean of KL(posterior || prior)
  at::Tensor reconstruction;  // bce_weight * bce + dice_weight * dice
  // kl_weight * kl; under free bits kl_weight * free_bits_kl(...) instead
  at::Tensor kl_term;
  at::Tensor total;        // reconstruction + kl_term
  double kl_weight = 0.0;  // at this step
  double beta = 0.0;       // after the warm-up (loss.beta, or elbo_beta when unset)
};

// Binary cross-entropy of logits [B,1,H,W] against targets in [0,1] of the same shape, reduced
// as `reduction` says.
at::Tensor bce_loss(const at::Tensor& logits, const at::Tensor& target,
                    BceReduction reduction = BceReduction::kMean);
// 1 - (2 sum(p y) + smooth) / (sum(p) + sum(y) + smooth) with p = sigmoid(logits).
at::Tensor dice_loss(const at::Tensor& logits, const at::Tensor& target, DiceMode mode,
                     double smooth = 1.0);
// Batch mean of KL(posterior || prior), each summed over the latent dimensions.
at::Tensor kl_loss(const prob::DiagonalGaussian& posterior, const prob::DiagonalGaussian& prior);
// Free bits per latent dimension: sum over j of max(floor, batch mean of KL_j(posterior ||
// prior)). Per dimension, so no dimension is squeezed onto the prior once it carries `floor`
// nats; the batch mean first (Kingma et al.), so an image may leave a dimension unused. The floor
// frees the posterior only: the prior always gets the gradient of KL(posterior || prior), so it
// keeps following the posterior (a prior left at its initialisation would be what evaluation
// samples).
at::Tensor free_bits_kl(const prob::DiagonalGaussian& posterior,
                        const prob::DiagonalGaussian& prior, double floor);
// Soft Jaccard distances between every map of a [B,K,H,W] and every map of b [B,A,H,W], values
// in [0,1]: 1 - (sum(a b) + 1) / (sum(a) + sum(b) - sum(a b) + 1), [B,K,A]. The one pixel of
// smoothing puts two empty maps at distance 0, as the metrics do (eval/metrics.h).
at::Tensor soft_jaccard_distances(const at::Tensor& a, const at::Tensor& b);
// The energy score of samples [B,K,H,W] (probabilities, K >= 2) against observed masks
// [B,A,H,W] (A >= 1), batch mean of E d(S, Y) - 1/2 E d(S, S') over the pairs k != k', with d the
// soft Jaccard distance. It is the part of the GED that the samples control: low when the samples
// match the raters and spread as much as they do (Gneiting & Raftery 2007).
at::Tensor energy_score(const at::Tensor& samples, const at::Tensor& observed);
// Sum over the tensors of their L2 (Frobenius) norms, as the references' l2_regularisation.
at::Tensor l2_norm_sum(const std::vector<at::Tensor>& parameters);
// The KL weight under which BCE + beta * KL is the negative ELBO per image (the KL being a batch
// mean): 1 / pixels_per_image for `mean`, 1 for `image_sum`, the batch size for `sum`.
double elbo_beta(BceReduction reduction, int64_t batch, int64_t pixels_per_image);
// config.beta, or elbo_beta for logits [B,1,H,W] when it is unset.
double resolved_beta(const LossConfig& config, const at::Tensor& logits);
// beta scaled by the warm-up at this (0-based) optimisation step.
double kl_weight(const LossConfig& config, int64_t step, double beta);

// logits: the decoder output upsampled to the target's size. posterior and prior both undefined
// (the deterministic model, latent_net none): kl is 0.
LossTerms prob_sam_loss(const at::Tensor& logits, const at::Tensor& target,
                        const prob::DiagonalGaussian& posterior,
                        const prob::DiagonalGaussian& prior, const LossConfig& config,
                        int64_t step);

}  // namespace psam::train
