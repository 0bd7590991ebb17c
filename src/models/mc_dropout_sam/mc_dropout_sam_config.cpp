#include "psam/models/mc_dropout_sam/mc_dropout_sam_config.h"

#include <fmt/format.h>

#include "psam/util/error.h"

namespace psam::models {

void McDropoutSamConfig::validate() const {
  PSAM_CHECK(rate >= 0 && rate < 1,
             fmt::format("model.mc_dropout_sam.rate must lie in [0, 1), got {}", rate));
}

}  // namespace psam::models
