#include "psam/train/autocast.h"

#include <ATen/autocast_mode.h>

#include <fmt/format.h>
#include <torch/version.h>

#include "psam/util/autocast_state.h"
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

Bf16Autocast::Bf16Autocast(bool enabled, c10::DeviceType device)
    : enabled_(enabled), device_(device) {
  if (!enabled_) return;
  check_bf16_autocast(device_);
  set_autocast_state(device_, {true, at::kBFloat16});
}

Bf16Autocast::~Bf16Autocast() {
  if (!enabled_) return;
  set_autocast_state(device_, {false, at::kBFloat16});
  at::autocast::clear_cache();
}

}  // namespace psam::train
