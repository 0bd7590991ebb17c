#include "psam/models/ua_sam/ua_sam_config.h"

#include <fmt/format.h>

#include "psam/util/error.h"

namespace psam::models {

void UaSamConfig::validate() const {
  PSAM_CHECK(latent_dim >= 1,
             fmt::format("model.ua_sam.latent_dim must be >= 1, got {}", latent_dim));
  PSAM_CHECK(!num_filters.empty(), "model.ua_sam.num_filters is empty");
  for (int64_t f : num_filters)
    PSAM_CHECK(f >= 1, fmt::format("model.ua_sam.num_filters entries must be >= 1, got {}", f));
  PSAM_CHECK(latent_input_size >= 0,
             fmt::format("model.ua_sam.latent_input_size must be >= 0, got {}",
                         latent_input_size));
  PSAM_CHECK(mlp_ratio > 0 && mlp_ratio <= 4,
             fmt::format("model.ua_sam.mlp_ratio must lie in (0, 4], got {}", mlp_ratio));
}

}  // namespace psam::models
