// The command line's own mistakes: every error is one line starting "psam: error:", exit status
// 1; numbers are checked with a readable message; a training setting given as an option gets the
// override that sets it; the global options work after the subcommand too.
#include <gtest/gtest.h>

#include <algorithm>

#include "cli/run_cli.h"
#include "support/testing.h"

namespace psam::cli {
namespace {

using test::run_cli;

void expect_one_line_error(const test::CliResult& r, const std::string& part) {
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.err.rfind("psam: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(part), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(CommandLine, ArgumentErrorsAreOneLine) {
  // (The tests run in the source tree: any existing file passes the existence checks.)
  expect_one_line_error(run_cli({"predict", "--checkpoint", "README.md", "--image", "README.md",
                                 "--out", "o", "--box", "1,1,5,5", "--samples", "0"}),
                        "must be a number > 0, got 0");
  expect_one_line_error(run_cli({"--threads", "-2", "info", "--models"}),
                        "must be a number >= 0, got -2");
  expect_one_line_error(run_cli({"eval", "--bogus"}), "(see psam eval --help)");
  expect_one_line_error(run_cli({"nonsense"}), "'nonsense' is not a psam command (the commands: train");
  const auto missing = run_cli({"predict", "--checkpoint", "README.md", "--image", "README.md"});
  expect_one_line_error(missing, "required");
  expect_one_line_error(run_cli({"predict", "--checkpoint", "README.md", "--out", "o"}),
                        "give one of --image FILE, --images DIR --boxes CSV, or --store DIR");
}

TEST(CommandLine, SettingsGivenAsOptionsGetTheirOverride) {
  expect_one_line_error(run_cli({"train", "configs/probsam_synthetic_tiny.yaml", "--epochs", "1"}),
                        "did you mean train.epochs=1?");
  expect_one_line_error(run_cli({"train", "configs/probsam_synthetic_tiny.yaml", "--lr=3e-4"}),
                        "did you mean train.lr=3e-4?");
}

TEST(CommandLine, UnknownKeysSuggestTheKeyMeant) {
  support::TempDir dir;
  const std::string config = dir.write("c.yaml", "run: {name: x}\n");
  for (const char* key : {"train.learning_rate=1e-3", "train.learnig_rate=1e-3"}) {
    const auto r = run_cli({"train", config, key});
    expect_one_line_error(r, "did you mean 'train.lr'?");
  }
}

TEST(CommandLine, GlobalOptionsGoBeforeOrAfterTheSubcommand) {
  const auto before = run_cli({"--threads", "1", "--log-level", "warn", "info", "--models"});
  const auto after = run_cli({"info", "--models", "--threads", "1", "--log-level", "warn"});
  ASSERT_EQ(before.rc, 0) << before.err;
  ASSERT_EQ(after.rc, 0) << after.err;
  EXPECT_EQ(before.out, after.out);
  EXPECT_NE(after.out.find("prob_sam"), std::string::npos) << after.out;
  EXPECT_EQ(run_cli({"--help"}).rc, 0);
  EXPECT_EQ(run_cli({"train", "--help"}).rc, 0);
}

}  // namespace
}  // namespace psam::cli
