#include "psam/train/schedule.h"

#include <algorithm>
#include <cmath>

namespace psam::train {

double scheduled_lr(const TrainConfig& config, int64_t step, int64_t total_steps) {
  double lr = config.lr;
  switch (config.schedule) {
    case ScheduleKind::kConstant:
      break;
    case ScheduleKind::kStep:
      lr *= std::pow(config.gamma, static_cast<double>(step / config.step_size));
      break;
    case ScheduleKind::kCosine: {
      // The cosine runs over the steps after the warm-up, reaching min_lr at the last step.
      const int64_t span = std::max<int64_t>(1, total_steps - config.warmup_steps - 1);
      const double t =
          std::clamp(static_cast<double>(step - config.warmup_steps) / span, 0.0, 1.0);
      lr = config.min_lr + 0.5 * (config.lr - config.min_lr) * (1 + std::cos(M_PI * t));
      break;
    }
  }
  if (step < config.warmup_steps) {
    lr *= static_cast<double>(step + 1) / static_cast<double>(config.warmup_steps);
  }
  return lr;
}

}  // namespace psam::train
