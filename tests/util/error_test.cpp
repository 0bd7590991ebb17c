#include <gtest/gtest.h>

#include "psam/util/error.h"

TEST(Error, CheckThrowsWithMessage) {
  EXPECT_NO_THROW(PSAM_CHECK(1 + 1 == 2, "never"));
  try {
    PSAM_CHECK(false, "file x.pth: expected a zip archive");
    FAIL() << "no throw";
  } catch (const psam::Error& e) {
    EXPECT_STREQ(e.what(), "file x.pth: expected a zip archive");
  }
}
