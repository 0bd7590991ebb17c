#include <gtest/gtest.h>

#include "psam/util/allocator.h"
#include "psam/util/threads.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  psam::set_num_threads(0);
  psam::reuse_freed_memory();
  return RUN_ALL_TESTS();
}
