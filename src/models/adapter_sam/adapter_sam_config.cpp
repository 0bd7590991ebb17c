#include "psam/models/adapter_sam/adapter_sam_config.h"

#include <fmt/format.h>

#include "psam/util/error.h"

namespace psam::models {

void AdapterSamConfig::validate() const {
  PSAM_CHECK(
      adapters.mlp_ratio > 0 && adapters.mlp_ratio <= 4,
      fmt::format("model.adapter_sam.mlp_ratio must lie in (0, 4], got {}", adapters.mlp_ratio));
  PSAM_CHECK(adapters.scale >= 0,
             fmt::format("model.adapter_sam.scale must be >= 0, got {}", adapters.scale));
}

}  // namespace psam::models
