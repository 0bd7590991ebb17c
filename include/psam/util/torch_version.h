// The one place that names LibTorch versions: psam builds against Debian's libtorch 1.13 and a
// pip libtorch 2.x, and every API difference between them is guarded with this macro.
#pragma once

#include <torch/version.h>

// True when the LibTorch psam is compiled against is at least major.minor.
#define PSAM_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) ||       \
   (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

// Modules move to the meta device (shape-only tensors; the device tests use it) from 2.0 on.
#define PSAM_TORCH_HAS_META_MODULES PSAM_TORCH_AT_LEAST(2, 0)
// at::scaled_dot_product_attention with an explicit scale (fused flash / memory-efficient kernels
// on CUDA, a flash kernel on the CPU) from 2.1 on.
#define PSAM_TORCH_HAS_SDPA PSAM_TORCH_AT_LEAST(2, 1)
