// Peak memory of a measurement: the CUDA caching allocator's peak on a GPU (reset before each
// measurement), the process's peak resident set on the CPU (which only grows).
#pragma once

#include <c10/core/Device.h>
#include <sys/resource.h>

#include <cstdint>

#if defined(PSAM_TORCH_CUDA)
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace psam::bench {

inline void reset_peak_memory(const c10::Device& device) {
#if defined(PSAM_TORCH_CUDA)
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(device.index() < 0 ? 0 : device.index());
#else
  (void)device;
#endif
}

inline int64_t peak_memory_bytes(const c10::Device& device) {
#if defined(PSAM_TORCH_CUDA)
  if (device.is_cuda()) {
    const auto stats =
        c10::cuda::CUDACachingAllocator::getDeviceStats(device.index() < 0 ? 0 : device.index());
    return stats.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)]
        .peak;
  }
#endif
  (void)device;
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;
}

}  // namespace psam::bench
