// Options every psam run shares: where outputs go, the seed, threads, device and precision.
// Plain data; the command line fills it from the `run:` section of a config.
#pragma once

#include <cstdint>
#include <string>

namespace psam {

struct RunOptions {
  enum class Device { kAuto, kCpu, kCuda };  // kAuto: CUDA when present, else CPU
  enum class Precision { kFp32, kBf16 };     // kBf16: bf16 autocast on CUDA

  std::string name;              // run name; empty: the CLI derives it from the config file name
  std::string out_dir = "runs";  // the run directory is out_dir/name
  int64_t seed = 0;
  int threads = 0;  // libtorch CPU threads; 0 = every core
  Device device = Device::kAuto;
  Precision precision = Precision::kFp32;
};

}  // namespace psam
