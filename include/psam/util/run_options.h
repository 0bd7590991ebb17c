// Options every psam run shares: where outputs go, the seed, threads, device and precision.
// Plain data; the command line fills it from the `run:` section of a config.
#pragma once

#include <cstdint>
#include <string>

#include "psam/util/names.h"

namespace psam {

struct RunOptions {
  enum class Device { kAuto, kCpu, kCuda };  // kAuto: CUDA when present, else CPU
  // kBf16: bf16 autocast of the loss (CPU, CUDA); kFp16: fp16 autocast with a dynamic gradient
  // scaler (CUDA).
  enum class Precision { kFp32, kBf16, kFp16 };

  std::string name;              // run name; empty: the CLI derives it from the config file name
  std::string out_dir = "runs";  // the run directory is out_dir/name
  int64_t seed = 0;
  int threads = 0;  // libtorch CPU threads; 0 = OMP_NUM_THREADS if set, else every core
  Device device = Device::kAuto;
  Precision precision = Precision::kFp32;
};

inline constexpr NameTable<RunOptions::Device, 3> kDeviceNames = {{
    {RunOptions::Device::kAuto, "auto"},
    {RunOptions::Device::kCpu, "cpu"},
    {RunOptions::Device::kCuda, "cuda"},
}};
constexpr const auto& enum_names(RunOptions::Device) { return kDeviceNames; }
inline constexpr NameTable<RunOptions::Precision, 3> kPrecisionNames = {{
    {RunOptions::Precision::kFp32, "fp32"},
    {RunOptions::Precision::kBf16, "bf16"},
    {RunOptions::Precision::kFp16, "fp16"},
}};
constexpr const auto& enum_names(RunOptions::Precision) { return kPrecisionNames; }

}  // namespace psam
