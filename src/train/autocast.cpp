#include "psam/train/autocast.h"

#include <ATen/autocast_mode.h>

#include <fmt/format.h>
#include <torch/version.h>

#include "psam/util/error.h"
#include "psam/util/torch_version.h"

namespace psam::train {

bool bf16_autocast_supported(c10::DeviceType device) {
  return device == c10::kCUDA || PSAM_TORCH_AT_LEAST(2, 0);
}

void check_bf16_autocast(c10::DeviceType device) {
  PSAM_CHECK(bf16_autocast_supported(device),
             fmt::format("run.precision bf16 on the {} needs libtorch 2.x; this psam was built "
                         "with libtorch {} (use fp32, or the pip build: docs/gpu.md)",
                         c10::DeviceTypeName(device, /*lower_case=*/true), TORCH_VERSION));
}

// The autocast API moved between libtorch 1.x and 2.x (one switch per device type from 2.4).
Bf16Autocast::Bf16Autocast(bool enabled, c10::DeviceType device)
    : enabled_(enabled), device_(device) {
  if (!enabled_) return;
  check_bf16_autocast(device_);
#if PSAM_TORCH_AT_LEAST(2, 4)
  at::autocast::set_autocast_dtype(device_, at::kBFloat16);
  at::autocast::set_autocast_enabled(device_, true);
#else
  if (device_ == c10::kCUDA) {
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
  } else {
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::set_cpu_enabled(true);
  }
#endif
}

Bf16Autocast::~Bf16Autocast() {
  if (!enabled_) return;
#if PSAM_TORCH_AT_LEAST(2, 4)
  at::autocast::set_autocast_enabled(device_, false);
#else
  if (device_ == c10::kCUDA) {
    at::autocast::set_enabled(false);
  } else {
    at::autocast::set_cpu_enabled(false);
  }
#endif
  at::autocast::clear_cache();
}

}  // namespace psam::train
