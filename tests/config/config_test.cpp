// The top-level Config and its run section, and the configs shipped in configs/.
#include <gtest/gtest.h>

#include <filesystem>

#include "config/bench.h"
#include "config/config.h"
#include "config/config_error.h"
#include "psam/util/error.h"
#include "support/testing.h"

namespace psam::config {
namespace {

using config_test::load_error;

// The exact text pins the written format: run directories and checkpoints keep this file and
// its hash, so a format change must be deliberate. Other sections follow `run:`.
TEST(Config, DefaultsWrittenInFull) {
  const std::string run_yaml =
      "run:\n"
      "  name: \"\"\n"
      "  out_dir: runs\n"
      "  seed: 0\n"
      "  threads: 0\n"
      "  device: auto\n"
      "  precision: fp32\n";
  const Config defaults;  // named: a temporary Config trips gcc 12's -Wmaybe-uninitialized
  EXPECT_EQ(to_yaml(defaults).substr(0, run_yaml.size()), run_yaml);
  const std::string run_lines =
      "run.name=\"\"\nrun.out_dir=runs\nrun.seed=0\nrun.threads=0\nrun.device=auto\n"
      "run.precision=fp32\n";
  EXPECT_EQ(to_key_values(defaults).substr(0, run_lines.size()), run_lines);
}

TEST(Config, RunSection) {
  support::TempDir dir;
  const std::string path = dir.write("exp.yaml", R"(
run:
  name: lidc_probsam
  out_dir: /scratch/runs
  seed: 42
  threads: 8
  device: cuda
  precision: bf16
)");
  const Config c = load<Config>(path, {"run.seed=7"});
  EXPECT_EQ(c.run.name, "lidc_probsam");
  EXPECT_EQ(c.run.out_dir, "/scratch/runs");
  EXPECT_EQ(c.run.seed, 7);
  EXPECT_EQ(c.run.threads, 8);
  EXPECT_EQ(c.run.device, RunOptions::Device::kCuda);
  EXPECT_EQ(c.run.precision, RunOptions::Precision::kBf16);
  EXPECT_EQ(load<Config>(dir.write("back.yaml", to_yaml(c))).run.seed, 7);

  EXPECT_EQ(load_error(path, {"run.device=gpu"}),
            "command line: key 'run.device' expects one of auto, cpu, cuda, got 'gpu'");
  EXPECT_EQ(load_error(path, {"run.precision=fp8"}),
            "command line: key 'run.precision' expects one of fp32, bf16, fp16, got 'fp8'");
  EXPECT_EQ(load_error(path, {"run.sed=1"}),
            "command line: unknown key 'run.sed' (did you mean 'run.seed'?)");
  EXPECT_EQ(load_error(path, {"seed=1"}),
            "command line: unknown key 'seed' (did you mean 'run.seed'?)");
  const std::string typo = dir.write("typo.yaml", "run:\n  thread: 2\n");
  EXPECT_EQ(load_error(typo, {}), typo + ": unknown key 'run.thread' (did you mean 'run.threads'?)");
}

// data.test_split overlapped eval.split and was never read: a run's old config.yaml still
// loads, with a warning naming the key and what to use, and the key is not written again.
TEST(Config, RetiredKeysLoadWithAWarning) {
  support::TempDir dir;
  const std::string path = dir.write("old.yaml", "data:\n  test_split: holdout\n");
  ::testing::internal::CaptureStderr();
  const Config c = load<Config>(path);
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("key 'data.test_split' is no longer used (psam eval scores eval.split)"),
            std::string::npos)
      << log;
  EXPECT_EQ(to_yaml(c).find("test_split"), std::string::npos);
  EXPECT_NE(load_error(path, {"data.test_splitt=x"}).find("unknown key 'data.test_splitt'"),
            std::string::npos);
}

TEST(Config, HelpCommentsDescribeEveryField) {
  const Config defaults;
  const std::string text = to_yaml(defaults, /*with_help=*/true);
  EXPECT_NE(text.find("run:  # run-level options\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  seed: 0  # seed for every random generator [int]\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("  device: auto  # where to compute; auto = CUDA when present "
                      "[auto|cpu|cuda]\n"),
            std::string::npos)
      << text;
}

// Every YAML file under configs/ loads: a config that names a key psam does not know, or one
// whose bases are missing, fails here rather than in a user's first run. configs/bench/ holds
// benchmark files (psam compare), whose method configs must load too.
TEST(Config, ShippedConfigsLoad) {
  const std::filesystem::path dir = std::filesystem::path(PSAM_SOURCE_DIR) / "configs";
  if (!std::filesystem::is_directory(dir)) GTEST_SKIP() << "no configs/ directory yet";
  int count = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.path().extension() != ".yaml") continue;
    if (entry.path().parent_path().filename() == "bench") {
      Benchmark bench;
      ASSERT_NO_THROW(bench = load_benchmark(entry.path().string())) << entry.path();
      for (const auto& method : bench.methods) {
        if (method.config.empty()) continue;
        EXPECT_NO_THROW(load<Config>(method.config, method.overrides)) << method.config;
      }
    } else {
      EXPECT_NO_THROW(load<Config>(entry.path().string())) << entry.path();
    }
    ++count;
  }
  if (count == 0) GTEST_SKIP() << "no configs/*.yaml yet";
}

}  // namespace
}  // namespace psam::config
