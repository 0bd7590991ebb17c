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

void check_fp16_autocast(c10::DeviceType device) {
  PSAM_CHECK(device == c10::kCUDA,
             fmt::format("run.precision fp16 trains on CUDA only (its gradient scaler guards "
                         "fp16's narrow range); on the {} use bf16 or fp32",
                         c10::DeviceTypeName(device, /*lower_case=*/true)));
}

PrecisionAutocast::PrecisionAutocast(RunOptions::Precision precision, c10::DeviceType device)
    : enabled_(precision != RunOptions::Precision::kFp32), device_(device) {
  if (!enabled_) return;
  const bool half = precision == RunOptions::Precision::kFp16;
  if (half) {
    check_fp16_autocast(device_);
  } else {
    check_bf16_autocast(device_);
  }
  set_autocast_state(device_, {true, half ? at::kHalf : at::kBFloat16});
}

PrecisionAutocast::~PrecisionAutocast() {
  if (!enabled_) return;
  set_autocast_state(device_, {false, autocast_state(device_).dtype});
  at::autocast::clear_cache();
}

}  // namespace psam::train
