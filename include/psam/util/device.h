// The compute device of a run: RunOptions::Device (auto | cpu | cuda) to a torch::Device, and the
// two rules that keep code device-agnostic (checked on the `meta` device by tests/models/
// device_test.cpp, so that a device bug fails a test on a machine without a GPU).
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/util/Optional.h>

#include "psam/util/run_options.h"

namespace psam {

// kAuto: CUDA when a device is present, else CPU. kCuda without a device: psam::Error.
c10::Device resolve_device(RunOptions::Device device);

// A random draw on `device` takes a generator of that device's type (CUDA refuses a CPU
// generator) or none (the device's default generator). psam::Error naming `what` otherwise.
void check_generator(const c10::optional<at::Generator>& generator, const c10::Device& device,
                     const char* what);

// `t` on the CPU, for host-side logic (picks, metrics, logs, files). A meta tensor has no
// values: zeros of its shape and dtype stand in, so that code paths with host-side steps run
// end to end on the meta device too.
at::Tensor to_host(const at::Tensor& t);

}  // namespace psam
