#include "psam/util/device.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
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

void check_generator(const c10::optional<at::Generator>& generator, const c10::Device& device,
                     const char* what) {
  if (!generator.has_value() || !generator->defined()) return;
  PSAM_CHECK(generator->device().type() == device.type(),
             fmt::format("{}: a {} generator for a draw on {} (internal error: pass the "
                         "device's own generator or none)",
                         what, generator->device().str(), device.str()));
}

at::Tensor to_host(const at::Tensor& t) {
  if (t.is_meta()) return at::zeros(t.sizes(), t.options().device(c10::kCPU));
  return t.to(c10::kCPU);
}

}  // namespace psam
