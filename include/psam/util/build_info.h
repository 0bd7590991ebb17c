// What this psam binary was built with: LibTorch, CUDA, cuDNN, NCCL (`psam info --build`).
#pragma once

#include <string>

namespace psam {

struct BuildInfo {
  std::string psam;      // psam's version
  std::string libtorch;  // TORCH_VERSION of the headers psam was compiled against
  bool cuda = false;     // libtorch with CUDA linked in, so psam compiled its CUDA paths
  std::string cuda_version;   // CUDA runtime libtorch was built with ("13.0"); empty without CUDA
  std::string cudnn_version;  // cuDNN libtorch was built with ("9.19.0"); empty without it
  std::string nccl_version;   // NCCL of libtorch ("2.28.9"); empty without it
  int cuda_devices = 0;       // CUDA devices visible now (0 on a machine without a GPU)
};

BuildInfo build_info();

}  // namespace psam
