// reuse_freed_memory (called by the test main as by psam's CLI): a large tensor freed and made
// again reuses the same resident memory instead of faulting in fresh pages from the kernel.
#include "psam/util/allocator.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <torch/torch.h>

namespace psam {
namespace {

long minor_faults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

TEST(Allocator, LargeTensorsReuseFreedMemory) {
  if (!reuse_freed_memory()) GTEST_SKIP() << "not glibc, or malloc tuned in the environment";
  constexpr int64_t kFloats = int64_t{16} << 20;  // 64 MB: above glibc's largest mmap threshold
  // Warm-up: libtorch's 64-byte-aligned blocks leave small remainders that glibc's per-thread
  // cache keeps, so the heap grows for the first few blocks (at most 7 per remainder size) and
  // reuses freed memory after that.
  for (int i = 0; i < 16; ++i) torch::empty({kFloats}).fill_(1.0f);
  const long before = minor_faults();
  for (int i = 0; i < 4; ++i) torch::empty({kFloats}).fill_(static_cast<float>(i));
  const long faults = minor_faults() - before;
  // Fresh pages each time would be 4 x 16,384 faults (4 KiB pages).
  EXPECT_LT(faults, 1000) << faults << " page faults for 4 reused 64 MB tensors";
}

}  // namespace
}  // namespace psam
