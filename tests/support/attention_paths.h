// Tests that run on every attention path this build has (psam/util/attention_path.h): explicit
// always, sdpa with libtorch >= 2.1. Use as
//   INSTANTIATE_TEST_SUITE_P(Attention, Suite, ::testing::ValuesIn(support::attention_paths()),
//                            support::AttentionPathName());
// with a fixture deriving from AttentionPathTest.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "psam/util/attention_path.h"

namespace psam::support {

inline std::vector<AttentionPath> attention_paths() {
  std::vector<AttentionPath> out = {AttentionPath::kExplicit};
  if (sdpa_available()) out.push_back(AttentionPath::kSdpa);
  return out;
}

struct AttentionPathName {
  std::string operator()(const ::testing::TestParamInfo<AttentionPath>& info) const {
    return name_of(info.param);
  }
};

// Sets the test's path for its duration (SetUp first calls use_attention_path()).
class AttentionPathTest : public ::testing::TestWithParam<AttentionPath> {
 protected:
  void use_attention_path() { path_.emplace(GetParam()); }

 private:
  std::optional<ScopedAttentionPath> path_;
};

}  // namespace psam::support
