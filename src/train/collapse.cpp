#include "psam/train/collapse.h"

#include <fmt/format.h>

namespace psam::train {

std::vector<std::string> collapse_warnings(double mean_kl, std::optional<double> diversity) {
  std::vector<std::string> out;
  if (mean_kl < kCollapsedKl) {
    out.push_back(fmt::format(
        "train: mean KL {:.3g} nats this epoch: the posterior has collapsed onto the prior, so "
        "samples will barely differ. Lower loss.beta (or leave it unset: the per-image ELBO "
        "weight, 1/pixels for bce_reduction mean), raise loss.kl_warmup_steps, or score the "
        "prior's samples with loss.energy_weight (docs/train.md)",
        mean_kl));
  }
  if (diversity && *diversity < kIdenticalSamples) {
    out.push_back(fmt::format("train: validation samples barely differ (diversity {:.3g}): the "
                              "model draws one mask for every z",
                              *diversity));
  }
  return out;
}

}  // namespace psam::train
