// The autocast switches of one device type (thread-local in ATen), behind one API for libtorch
// 1.13 and 2.x (whose autocast functions moved). Used by run.precision's scope and by activation
// checkpointing, which must recompute under the autocast its forward ran with.
#pragma once

#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>

namespace psam {

struct AutocastState {
  bool enabled = false;
  c10::ScalarType dtype = c10::kBFloat16;
};

// `device`: kCPU or kCUDA.
AutocastState autocast_state(c10::DeviceType device);
void set_autocast_state(c10::DeviceType device, const AutocastState& state);

}  // namespace psam
