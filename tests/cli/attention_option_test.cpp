// The global --attention option: checked, reported by `psam info --build`, and refused where
// the build cannot honour it.
#include <gtest/gtest.h>

#include "cli/run_cli.h"
#include "psam/util/attention_path.h"

namespace {

using psam::test::run_cli;

TEST(CliAttentionOption, InfoReportsThePathsOfTheBuild) {
  const auto r = run_cli({"info", "--build"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find(psam::sdpa_available() ? "attention paths: explicit, sdpa (auto: sdpa)"
                                              : "attention paths: explicit (auto: explicit)"),
            std::string::npos)
      << r.out;
}

TEST(CliAttentionOption, UnknownPathIsAOneLineError) {
  const auto r = run_cli({"--attention", "flash", "info", "--build"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("--attention"), std::string::npos) << r.err;
}

TEST(CliAttentionOption, SdpaIsRefusedOnlyWhereTheBuildLacksIt) {
  const auto r = run_cli({"info", "--build", "--attention", "sdpa"});
  if (psam::sdpa_available()) {
    EXPECT_EQ(r.rc, 0) << r.err;
  } else {
    EXPECT_EQ(r.rc, 1);
    EXPECT_NE(r.err.find("attention path sdpa needs libtorch >= 2.1"), std::string::npos) << r.err;
  }
  // Each command line sets the path afresh.
  ASSERT_EQ(run_cli({"info", "--build", "--attention", "explicit"}).rc, 0);
  EXPECT_EQ(psam::attention_path(), psam::AttentionPath::kExplicit);
  ASSERT_EQ(run_cli({"info", "--build"}).rc, 0);
  EXPECT_EQ(psam::attention_path(), psam::sdpa_available() ? psam::AttentionPath::kSdpa
                                                           : psam::AttentionPath::kExplicit);
}

}  // namespace
