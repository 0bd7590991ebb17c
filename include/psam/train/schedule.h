// Learning-rate schedules as pure functions of the optimiser step, so a resumed run needs only
// the step count to continue the schedule exactly.
#pragma once

#include <cstdint>

#include "psam/train/train_config.h"

namespace psam::train {

// The learning rate for optimiser step `step` (0-based) of a run of total_steps steps:
// config.schedule (constant | step | cosine from lr to min_lr over total_steps), multiplied
// during the first warmup_steps steps by (step + 1) / warmup_steps.
double scheduled_lr(const TrainConfig& config, int64_t step, int64_t total_steps);

}  // namespace psam::train
