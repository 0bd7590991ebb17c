#include "psam/util/autocast_state.h"

#include <ATen/autocast_mode.h>

#include "psam/util/torch_version.h"

namespace psam {

// One switch per device type from 2.4; before, separate CPU and GPU functions.
AutocastState autocast_state(c10::DeviceType device) {
#if PSAM_TORCH_AT_LEAST(2, 4)
  return {at::autocast::is_autocast_enabled(device), at::autocast::get_autocast_dtype(device)};
#else
  if (device == c10::kCUDA)
    return {at::autocast::is_enabled(), at::autocast::get_autocast_gpu_dtype()};
  return {at::autocast::is_cpu_enabled(), at::autocast::get_autocast_cpu_dtype()};
#endif
}

void set_autocast_state(c10::DeviceType device, const AutocastState& state) {
#if PSAM_TORCH_AT_LEAST(2, 4)
  at::autocast::set_autocast_dtype(device, state.dtype);
  at::autocast::set_autocast_enabled(device, state.enabled);
#else
  if (device == c10::kCUDA) {
    at::autocast::set_autocast_gpu_dtype(state.dtype);
    at::autocast::set_enabled(state.enabled);
  } else {
    at::autocast::set_autocast_cpu_dtype(state.dtype);
    at::autocast::set_cpu_enabled(state.enabled);
  }
#endif
}

}  // namespace psam
