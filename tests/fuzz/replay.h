// Replays a fuzz target over its committed inputs (tests/fuzz/regressions/TARGET, inputs that
// once crashed, leaked, hung or blew up memory, and tests/fuzz/seeds/TARGET): each must be read
// or refused with a psam::Error, nothing else.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz/fuzz_target.h"

namespace psam::fuzz {

inline std::filesystem::path fuzz_source_dir() {
  return std::filesystem::path(PSAM_SOURCE_DIR) / "tests" / "fuzz";
}

inline std::vector<std::filesystem::path> committed_inputs(const std::string& target) {
  std::vector<std::filesystem::path> files;
  for (const char* kind : {"regressions", "seeds"}) {
    const auto dir = fuzz_source_dir() / kind / target;
    if (!std::filesystem::is_directory(dir)) continue;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      if (entry.is_regular_file()) files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

inline void replay_inputs(const std::string& name) {
  init();
  const Target* target = find_target(name);
  ASSERT_NE(target, nullptr) << "fuzz target " << name << " is not linked into this test binary";
  const auto files = committed_inputs(name);
  ASSERT_FALSE(files.empty()) << "no committed inputs for fuzz target " << name;
  for (const auto& file : files) {
    SCOPED_TRACE(file.string());
    std::ifstream in(file, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_NO_THROW(run(*target, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  }
}

}  // namespace psam::fuzz
