// Helpers for the data-layer tests on top of support/testing.h: the shared reference folders,
// paths in a temporary directory.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "psam/data/store/store.h"
#include "support/testing.h"

namespace psam::test {

using support::TempDir;

inline std::string path_in(const TempDir& dir, const std::string& name) {
  return dir.path() + "/" + name;
}

// ../shared beside the source tree (present in CI, absent in a user's fresh clone).
inline std::filesystem::path shared_dir() {
  return std::filesystem::path(PSAM_SOURCE_DIR) / ".." / "shared";
}

// $PSAM_GOLDEN_DIR (default ../shared/golden) / <stem>_<$PSAM_GOLDEN_NAME, default tiny>.pth
inline std::filesystem::path golden_file(const std::string& stem) {
  const char* dir = std::getenv("PSAM_GOLDEN_DIR");
  const char* name = std::getenv("PSAM_GOLDEN_NAME");
  const std::filesystem::path root = dir ? std::filesystem::path(dir) : shared_dir() / "golden";
  return root / (stem + "_" + (name ? name : "tiny") + ".pth");
}

// A float32 HU store description (the store defaults) of n samples, k annotators, h x w.
inline data::DatasetInfo hu_info(int64_t n, int64_t k, int64_t h, int64_t w) {
  data::DatasetInfo info;
  info.name = "test";
  info.count = n;
  info.annotators = k;
  info.height = h;
  info.width = w;
  return info;
}

}  // namespace psam::test
