// libFuzzer entry points of one fuzzer executable: it links exactly one target file.
#include <cstdio>
#include <cstdlib>

#include "fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  psam::fuzz::init();
  if (psam::fuzz::targets().size() != 1) {
    std::fprintf(stderr, "psam fuzzer: expected one target, %zu linked\n",
                 psam::fuzz::targets().size());
    std::abort();
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  psam::fuzz::run(psam::fuzz::targets().front(), data, size);
  return 0;
}
