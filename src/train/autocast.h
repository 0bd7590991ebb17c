// bf16 autocast on the CPU or CUDA for the duration of a scope (run.precision: bf16); the API
// moved between libtorch 1.x and 2.x.
#pragma once

#include <ATen/autocast_mode.h>
#include <c10/core/DeviceType.h>

#include "psam/util/torch_version.h"

namespace psam::train {

class Bf16Autocast {
 public:
  Bf16Autocast(bool enabled, c10::DeviceType device) : enabled_(enabled), device_(device) {
    if (!enabled_) return;
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
  ~Bf16Autocast() {
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
  Bf16Autocast(const Bf16Autocast&) = delete;
  Bf16Autocast& operator=(const Bf16Autocast&) = delete;

 private:
  bool enabled_;
  c10::DeviceType device_;
};

}  // namespace psam::train
