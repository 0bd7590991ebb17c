#include "psam/util/allocator.h"

#include <unistd.h>  // environ (declared with _GNU_SOURCE, which g++ defines)

#include <climits>
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace psam {
namespace {

bool user_tuned_malloc() {
  for (char** e = environ; e && *e; ++e) {
    if (std::strncmp(*e, "MALLOC_", 7) == 0 || std::strncmp(*e, "GLIBC_TUNABLES=", 15) == 0)
      return true;
  }
  return false;
}

}  // namespace

bool reuse_freed_memory() {
#if defined(__GLIBC__)
  static const bool applied = [] {
    if (user_tuned_malloc()) return false;
    // The largest trim threshold mallopt takes: the heap is not shrunk back to the kernel.
    return mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, INT_MAX) == 1 &&
           mallopt(M_TOP_PAD, 64 << 20) == 1;  // grow the heap in 64 MB steps, not per tensor
  }();
  return applied;
#else
  return false;
#endif
}

}  // namespace psam
