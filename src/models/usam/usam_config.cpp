#include "psam/models/usam/usam_config.h"

#include <fmt/format.h>

#include "psam/util/error.h"

namespace psam::models {

void UsamConfig::validate() const {
  PSAM_CHECK(token >= -1, fmt::format("model.usam.token must be -1 or a mask token index, got {}",
                                      token));
  PSAM_CHECK(annotator >= -1,
             fmt::format("model.usam.annotator must be -1 (each in turn) or an index, got {}",
                         annotator));
  PSAM_CHECK(dense_points >= 0,
             fmt::format("model.usam.dense_points must be >= 0, got {}", dense_points));
  PSAM_CHECK(hidden > 0, fmt::format("model.usam.hidden must be > 0, got {}", hidden));
}

}  // namespace psam::models
