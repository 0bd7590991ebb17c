// The library's fuzz targets replayed over their committed inputs (see fuzz/replay.h); built into
// psam_tests and, for the io targets, into psam_asan_tests under AddressSanitizer + UBSan.
#include <gtest/gtest.h>

#include <set>

#include "fuzz/replay.h"

namespace psam::fuzz {
namespace {

const std::set<std::string> kAllTargets = {"pickle", "pth",   "safetensors", "npy",  "config",
                                           "lidc_xml", "dicom", "image",     "store"};

std::vector<std::string> linked_targets() {
  std::vector<std::string> names;
  for (const Target& t : targets()) names.push_back(t.name);
  return names;
}

class FuzzInputs : public ::testing::TestWithParam<std::string> {};

TEST_P(FuzzInputs, ReadOrRefused) { replay_inputs(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Targets, FuzzInputs, ::testing::ValuesIn(linked_targets()),
                         [](const auto& info) { return info.param; });

// Every folder of inputs belongs to a target, so no regression input is silently left out.
TEST(FuzzInputsLayout, EveryFolderNamesATarget) {
  for (const char* kind : {"regressions", "seeds"}) {
    const auto dir = fuzz_source_dir() / kind;
    ASSERT_TRUE(std::filesystem::is_directory(fuzz_source_dir() / "seeds"));
    if (!std::filesystem::is_directory(dir)) continue;
    for (const auto& entry : std::filesystem::directory_iterator(dir))
      EXPECT_EQ(kAllTargets.count(entry.path().filename().string()), 1u) << entry.path();
  }
  for (const Target& t : targets()) EXPECT_EQ(kAllTargets.count(t.name), 1u) << t.name;
}

}  // namespace
}  // namespace psam::fuzz
