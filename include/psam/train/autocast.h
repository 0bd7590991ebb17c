// Autocast of the training loss for the duration of a scope (run.precision): bf16 on the CPU
// or CUDA, fp16 on CUDA (with train::GradScaler).
#pragma once

#include <c10/core/DeviceType.h>

#include "psam/util/run_options.h"

namespace psam::train {

// Whether this build autocasts to bf16 on `device`: CUDA always; the CPU from libtorch 2.0 (1.13's
// CPU autocast leaves layer_norm's fp32 weights against bf16 inputs, which it refuses).
bool bf16_autocast_supported(c10::DeviceType device);
// psam::Error naming run.precision and the libtorch version where it is not.
void check_bf16_autocast(c10::DeviceType device);

// psam::Error unless `device` is CUDA: fp16's range needs the gradient scaler, and psam trains
// fp16 on CUDA only (bf16 on the CPU).
void check_fp16_autocast(c10::DeviceType device);

// run.precision's autocast: nothing for fp32; psam::Error where the build or device lacks it.
class PrecisionAutocast {
 public:
  PrecisionAutocast(RunOptions::Precision precision, c10::DeviceType device);
  ~PrecisionAutocast();
  PrecisionAutocast(const PrecisionAutocast&) = delete;
  PrecisionAutocast& operator=(const PrecisionAutocast&) = delete;

 private:
  bool enabled_;
  c10::DeviceType device_;
};

// bf16 when `enabled`, else nothing (the benchmarks' and tests' switch).
class Bf16Autocast : public PrecisionAutocast {
 public:
  Bf16Autocast(bool enabled, c10::DeviceType device)
      : PrecisionAutocast(enabled ? RunOptions::Precision::kBf16 : RunOptions::Precision::kFp32,
                          device) {}
};

}  // namespace psam::train
