// The larger SAM of USAM's model gap (model.usam.model_gap_from): read when targets are first
// needed, never part of the USAM model's weights (it would double a checkpoint's size for a
// model that only computes targets).
#pragma once

#include <c10/core/Device.h>

#include <string>

#include "psam/sam/config.h"
#include "psam/sam/sam.h"

namespace psam::models {

// The plain SAM in `path` (official SAM / MedSAM weights, or a psam run directory, checkpoint or
// export whose SAM part has no parts of its own), frozen and in eval mode on `device`. Its shape
// is read off the weights, except that it runs on `frame`: this SAM's input size (position
// tables resized, as model.init_from does) and pixel statistics, so both SAMs see the very same
// input. psam::Error naming model.usam.model_gap_from and the file otherwise.
sam::Sam load_larger_sam(const std::string& path, const sam::SamConfig& frame,
                         const c10::Device& device);

}  // namespace psam::models
