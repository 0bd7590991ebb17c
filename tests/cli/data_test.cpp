// `psam data check | split | synth`: the commands over the store and the synthetic generator,
// in-process, against the library's own results.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <ostream>

#include "cli/run_cli.h"
#include "data/data_test_util.h"
#include "data/store/small_store.h"
#include "psam/data/store/check.h"
#include "psam/data/store/store.h"
#include "psam/data/synthetic/synthetic.h"
#include "psam/util/fs.h"

namespace psam::data {
namespace {

TEST(DataCheck, ReportsAndFails) {
  test::TempDir tmp;
  const std::string dir_ = test::path_in(tmp, "store");
  test_store::write_small_store(dir_);
  auto ok = test::run_cli({"data", "check", dir_});
  EXPECT_EQ(ok.rc, 0) << ok.err;
  EXPECT_NE(ok.out.find(": OK"), std::string::npos);
  EXPECT_NE(ok.out.find("5 samples from 3 patients, 3 annotators, 6x8"), std::string::npos);
  write_file_atomic(dir_ + "/splits.json", [](std::ostream& out) {
    out << R"({"unit": "patient", "sets": {"train": ["p0"]}})";
  });
  auto bad = test::run_cli({"data", "check", dir_});
  EXPECT_EQ(bad.rc, 1);
  EXPECT_NE(bad.err.find("error: 2 patients are in no split"), std::string::npos);
}

TEST(DataSplit, RewritesTheSplitOfAStore) {
  test::TempDir tmp;
  const std::string dir = test::path_in(tmp, "synth");
  auto made = test::run_cli(
      {"data", "synth", dir, "--n", "24", "--oracle", "0", "--size", "32", "--per-patient", "2"});
  ASSERT_EQ(made.rc, 0) << made.err;
  auto split = test::run_cli({"data", "split", dir, "--split-by", "image", "--fractions", "0.5,0.5",
                              "--split-names", "a,b", "--split-seed", "3"});
  ASSERT_EQ(split.rc, 0) << split.err;
  const DatasetStore store = DatasetStore::open(dir);
  EXPECT_EQ(store.splits().unit, "image");
  EXPECT_EQ(store.split_indices("a").size(), 12u);
  EXPECT_EQ(store.split_indices("b").size(), 12u);
  const CheckReport report = check_store(dir);
  EXPECT_TRUE(report.ok());
  ASSERT_EQ(report.warnings.size(), 1u);  // the leak
  auto bad = test::run_cli({"data", "split", dir, "--fractions", "0.5,x", "--split-names", "a,b"});
  EXPECT_NE(bad.rc, 0);
  EXPECT_NE(bad.err.find("'x' is not a number"), std::string::npos);
}

TEST(DataSynth, WritesACheckedStoreAndPrintsStatistics) {
  test::TempDir tmp;
  const std::string dir = test::path_in(tmp, "synth");
  auto r = test::run_cli({"data", "synth", dir, "--n", "12", "--seed", "3", "--size", "32",
                          "--annotators", "3", "--oracle", "5", "--radius-max", "6"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("pairwise IoU, both marked"), std::string::npos);
  const DatasetStore store = DatasetStore::open(dir);
  EXPECT_EQ(store.size(), 12);
  EXPECT_EQ(store.info().annotators, 3);
  EXPECT_EQ(store.oracle_masks().size(1), 5);
  EXPECT_EQ(store.info().intensity, Intensity::kHu);
  const auto provenance = nlohmann::json::parse(store.info().provenance_json);
  EXPECT_EQ(provenance["options"]["seed"], 3);
  EXPECT_TRUE(provenance["statistics"].contains("pairwise_iou_marked"));
  EXPECT_TRUE(check_store(dir).ok());
  // The store holds exactly synth_sample's output.
  SynthOptions o;
  o.count = 12;
  o.seed = 3;
  o.size = 32;
  o.annotators = 3;
  o.oracle_draws = 5;
  o.radius_max = 6;
  const SynthSample s7 = synth_sample(o, 7);
  EXPECT_TRUE(torch::equal(store.images()[7], s7.image));
  EXPECT_TRUE(torch::equal(store.masks()[7], s7.masks));
  EXPECT_TRUE(torch::equal(store.oracle_masks()[7], s7.oracle));
  auto again = test::run_cli({"data", "synth", dir, "--n", "12"});
  EXPECT_NE(again.rc, 0);
  EXPECT_NE(again.err.find("already exists"), std::string::npos);
}

}  // namespace
}  // namespace psam::data
