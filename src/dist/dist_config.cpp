#include "psam/dist/dist_config.h"

#include <fmt/format.h>

#include "psam/util/error.h"

namespace psam::dist {

void DistConfig::validate() const {
  PSAM_CHECK(timeout_s > 0, fmt::format("dist.timeout_s must be > 0, got {}", timeout_s));
  PSAM_CHECK(master_port >= 0 && master_port <= 65535,
             fmt::format("dist.master_port must be in [0, 65535], got {}", master_port));
  PSAM_CHECK(bucket_mb > 0, fmt::format("dist.bucket_mb must be > 0, got {}", bucket_mb));
}

}  // namespace psam::dist
