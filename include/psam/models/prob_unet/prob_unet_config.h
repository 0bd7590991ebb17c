// The model.prob_unet section: the shape of the Probabilistic U-Net (Kohl et al. 2018; names and
// defaults of the PyTorch port stefanknegt/Probabilistic-Unet-Pytorch, with Kohl's latent
// dimension). The method reads this section only, none of the SAM fields at model.*.
#pragma once

#include <cstdint>
#include <vector>

namespace psam::models {

struct ProbUnetConfig {
  // Image channels the nets read: 1 = grey (the mean of the loader's three channels, which are
  // equal for a grey store), 3 = RGB.
  int64_t input_channels = 1;
  // Channels of each U-Net level (and of the prior/posterior encoders); the first is also the
  // width of the feature map and of Fcomb.
  std::vector<int64_t> num_filters = {32, 64, 128, 192};
  int64_t convs_per_block = 3;  // 3x3 conv+ReLU layers per level (the reference: 3)
  int64_t latent_dim = 6;       // Kohl: 6 (Knegt's train script: 2)
  int64_t no_convs_fcomb = 4;   // Fcomb: no_convs_fcomb - 1 1x1 conv+ReLU, then the last 1x1
  // Training decodes the posterior mean instead of a posterior draw (both references' option,
  // off by default; Knegt's port fails when it is on, psam's works).
  bool use_posterior_mean = false;
  // sigma = exp(clamp(log sigma, -bound, bound)) in the prior and posterior; 0 = unclamped, as
  // both references. A bound keeps exp from overflowing when a fast schedule drives a log sigma
  // far out, which makes the KL (and so the loss) NaN.
  double log_sigma_bound = 0;

  // psam::Error naming the first invalid field.
  void validate() const;
};

template <class B>
void describe(B& b, ProbUnetConfig& c) {
  b.field("input_channels", c.input_channels, "1: grey (mean of the channels), 3: RGB");
  b.field("num_filters", c.num_filters, "channels of each U-Net level and latent-net block");
  b.field("convs_per_block", c.convs_per_block, "3x3 conv+ReLU layers per level");
  b.field("latent_dim", c.latent_dim, "dimension of z");
  b.field("no_convs_fcomb", c.no_convs_fcomb,
          "Fcomb: 1x1 convolutions including the last (reference: 4)");
  b.field("use_posterior_mean", c.use_posterior_mean,
          "training decodes the posterior mean instead of a posterior draw");
  b.field("log_sigma_bound", c.log_sigma_bound,
          "prior and posterior sigma = exp(clamp(log sigma, -bound, bound)); 0 = unclamped "
          "(the references)");
}

}  // namespace psam::models
