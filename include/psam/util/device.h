// The compute device of a run: RunOptions::Device (auto | cpu | cuda) to a torch::Device.
#pragma once

#include <c10/core/Device.h>

#include "psam/util/run_options.h"

namespace psam {

// kAuto: CUDA when a device is present, else CPU. kCuda without a device: psam::Error.
c10::Device resolve_device(RunOptions::Device device);

}  // namespace psam
