#include "psam/train/geco.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "psam/util/error.h"

namespace psam::train {

void GecoConfig::validate() const {
  PSAM_CHECK(std::isfinite(kappa), fmt::format("loss: geco_kappa must be finite, got {}", kappa));
  PSAM_CHECK(alpha >= 0 && alpha < 1,
             fmt::format("loss: geco_alpha must be in [0, 1), got {}", alpha));
  PSAM_CHECK(speed > 0 && std::isfinite(speed),
             fmt::format("loss: geco_speed must be > 0, got {}", speed));
  PSAM_CHECK(lambda_min > 0 && lambda_min <= 1,
             fmt::format("loss: geco_lambda_min must be in (0, 1], got {}", lambda_min));
  PSAM_CHECK(lambda_max >= 1 && std::isfinite(lambda_max),
             fmt::format("loss: geco_lambda_max must be >= 1 and finite, got {}", lambda_max));
}

void geco_update(GecoState& state, const GecoConfig& config, double constraint) {
  state.c_ma =
      state.updates == 0 ? constraint : config.alpha * state.c_ma + (1 - config.alpha) * constraint;
  ++state.updates;
  state.lambda = std::clamp(state.lambda * std::exp(config.speed * state.c_ma), config.lambda_min,
                            config.lambda_max);
}

}  // namespace psam::train
