#include "psam/util/device.h"

#include <torch/cuda.h>

#include "psam/util/error.h"

namespace psam {

c10::Device resolve_device(RunOptions::Device device) {
  switch (device) {
    case RunOptions::Device::kCpu:
      return c10::kCPU;
    case RunOptions::Device::kCuda:
      PSAM_CHECK(torch::cuda::is_available(), "run.device is cuda, but no CUDA device is available");
      return c10::kCUDA;
    case RunOptions::Device::kAuto:
      break;
  }
  return torch::cuda::is_available() ? c10::kCUDA : c10::kCPU;
}

}  // namespace psam
