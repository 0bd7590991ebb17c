#include "psam/util/build_info.h"

#include <fmt/format.h>
#include <torch/cuda.h>
#include <torch/version.h>

#if defined(PSAM_TORCH_CUDA)
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/csrc/cuda/nccl.h>
#endif

namespace psam {

namespace {

// CUDA encodes its version as major * 1000 + minor * 10, cuDNN 9 as major * 10000 + minor * 100
// + patch, and libtorch packs NCCL's as major << 32 | minor << 16 | patch.
[[maybe_unused]] std::string cuda_dotted(long v) {
  return fmt::format("{}.{}", v / 1000, (v % 1000) / 10);
}
[[maybe_unused]] std::string cudnn_dotted(long v) {
  return fmt::format("{}.{}.{}", v / 10000, (v % 10000) / 100, v % 100);
}
[[maybe_unused]] std::string nccl_dotted(uint64_t v) {
  return fmt::format("{}.{}.{}", v >> 32, (v >> 16) & 0xFFFF, v & 0xFFFF);
}

}  // namespace

BuildInfo build_info() {
  BuildInfo b;
  b.psam = PSAM_VERSION;
  b.libtorch = TORCH_VERSION;
#if defined(PSAM_TORCH_CUDA)
  b.cuda = true;
  const auto& hooks = at::detail::getCUDAHooks();
  b.cuda_version = cuda_dotted(hooks.versionCUDART());
  if (hooks.compiledWithCuDNN()) b.cudnn_version = cudnn_dotted(hooks.versionCuDNN());
  b.nccl_version = nccl_dotted(torch::cuda::nccl::version());
#endif
  b.cuda_devices = static_cast<int>(torch::cuda::device_count());
  return b;
}

}  // namespace psam
