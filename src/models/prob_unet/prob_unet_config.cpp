#include "psam/models/prob_unet/prob_unet_config.h"

#include <fmt/format.h>

#include "psam/util/error.h"

namespace psam::models {

void ProbUnetConfig::validate() const {
  PSAM_CHECK(input_channels == 1 || input_channels == 3,
             fmt::format("model.prob_unet.input_channels must be 1 or 3, got {}", input_channels));
  PSAM_CHECK(!num_filters.empty(), "model.prob_unet.num_filters is empty");
  for (int64_t f : num_filters)
    PSAM_CHECK(f >= 1,
               fmt::format("model.prob_unet.num_filters: every entry must be >= 1, got {}", f));
  PSAM_CHECK(convs_per_block >= 1,
             fmt::format("model.prob_unet.convs_per_block must be >= 1, got {}", convs_per_block));
  PSAM_CHECK(latent_dim >= 1,
             fmt::format("model.prob_unet.latent_dim must be >= 1, got {}", latent_dim));
  PSAM_CHECK(log_sigma_bound >= 0,
             fmt::format("model.prob_unet.log_sigma_bound must be >= 0 (0 = unclamped), got {}",
                         log_sigma_bound));
  PSAM_CHECK(no_convs_fcomb >= 2,
             fmt::format("model.prob_unet.no_convs_fcomb must be >= 2 (at least one 1x1 "
                         "conv+ReLU and the last layer), got {}",
                         no_convs_fcomb));
}

}  // namespace psam::models
