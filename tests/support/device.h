// The device the device tests run on: PSAM_TEST_DEVICE (cuda, cuda:1, cpu; tools/gpu_check.sh
// sets it), else CUDA where a device is present, else none (the tests that need another device
// than the CPU skip; the meta-device tests cover device bugs there).
#pragma once

#include <c10/core/Device.h>
#include <torch/cuda.h>

#include <cstdlib>
#include <optional>
#include <string>

namespace psam::support {

inline std::optional<c10::Device> device_under_test() {
  const char* name = std::getenv("PSAM_TEST_DEVICE");
  if (name != nullptr && *name != '\0') return c10::Device(std::string(name));
  if (torch::cuda::is_available()) return c10::Device(c10::kCUDA);
  return std::nullopt;
}

}  // namespace psam::support
