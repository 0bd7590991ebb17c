// A method that learns nothing (box_ellipse, the prompt-only baseline) on the command line:
// psam eval --kind and psam predict --kind run it without a checkpoint, on non-square images;
// psam train refuses it before writing anything.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/run_cli.h"
#include "psam/data/store/store.h"
#include "psam/eval/evaluator.h"
#include "psam/io/image.h"
#include "psam/models/box_ellipse/box_ellipse_model.h"
#include "psam/models/registry.h"
#include "support/testing.h"

namespace psam::cli {
namespace {
namespace fs = std::filesystem;

nlohmann::json json_file(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

TEST(UnlearnedMethod, EvalRunsItByKindOnANonSquareStore) {
  support::TempDir dir;
  const std::string store = dir.file("store");
  ASSERT_EQ(test::run_cli({"data", "synth", store, "--n", "16", "--height", "24", "--width", "40",
                           "--per-patient", "1", "--oracle", "0"})
                .rc,
            0);
  const auto r = test::run_cli({"eval", "--kind", "box_ellipse", "--store", store, "--out",
                                dir.file("report"), "eval.bootstrap_resamples=50"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const nlohmann::json summary = json_file(dir.file("report/summary.json"));
  EXPECT_EQ(summary["model"]["model_kind"], "box_ellipse");
  EXPECT_EQ(summary["deterministic"], true);
  // The same numbers as the library's evaluation of the registry's method.
  const data::DatasetStore s = data::DatasetStore::open(store);
  auto model = models::build_unlearned("box_ellipse", torch::kCPU);
  eval::EvalConfig config;
  config.bootstrap_resamples = 50;
  const eval::EvalResult expected = eval::evaluate(*model, s, s.split_indices("test"), config);
  EXPECT_DOUBLE_EQ(summary["metrics"]["dsc"]["mean"].get<double>(), expected.stat("dsc").mean);
  EXPECT_DOUBLE_EQ(summary["metrics"]["ged"]["mean"].get<double>(), expected.stat("ged").mean);

  // A method that learns needs its weights.
  const auto learned = test::run_cli({"eval", "--kind", "prob_sam", "--store", store});
  EXPECT_EQ(learned.rc, 1);
  EXPECT_NE(learned.err.find("learns its weights from data"), std::string::npos) << learned.err;
  const auto both = test::run_cli({"eval", "--kind", "box_ellipse", "--checkpoint", store});
  EXPECT_EQ(both.rc, 1);
}

TEST(UnlearnedMethod, PredictDrawsTheEllipseOnTheImagesPixels) {
  support::TempDir dir;
  // 30 rows x 52 columns: the mask must keep that orientation.
  io::write_image(dir.file("image.png"), torch::full({30, 52, 3}, 90, torch::kByte));
  const auto r =
      test::run_cli({"predict", "--kind", "box_ellipse", "--image", dir.file("image.png"), "--box",
                     "30,14,44,26", "--samples", "2", "--out", dir.file("out")});
  ASSERT_EQ(r.rc, 0) << r.err;
  const at::Tensor png = io::read_image_rgb(dir.file("out/sample_1.png")).select(2, 0);
  EXPECT_TRUE(torch::equal(png > 127, models::box_ellipse_mask({30, 14, 44, 26}, {30, 52})));
  EXPECT_EQ(json_file(dir.file("out/summary.json"))["original_size"], nlohmann::json({30, 52}));

  // Without --samples, the method's own output: one mask for a deterministic method.
  const auto no_samples =
      test::run_cli({"predict", "--kind", "box_ellipse", "--image", dir.file("image.png"), "--box",
                     "1,1,5,5", "--out", dir.file("out2")});
  ASSERT_EQ(no_samples.rc, 0) << no_samples.err;
  EXPECT_EQ(json_file(dir.file("out2/summary.json"))["samples"], 1);
  EXPECT_TRUE(torch::equal(io::read_image_rgb(dir.file("out2/sample_0.png")).select(2, 0) > 127,
                           models::box_ellipse_mask({1, 1, 5, 5}, {30, 52})));
  EXPECT_FALSE(fs::exists(dir.file("out2/sample_1.png")));
}

TEST(UnlearnedMethod, TrainRefusesItAndWritesNothing) {
  support::TempDir dir;
  const std::string config = dir.write("c.yaml", "model: {kind: box_ellipse}\n");
  const auto r = test::run_cli(
      {"train", config, "data.store=" + dir.file("store"), "run.out_dir=" + dir.file("runs")});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err,
            "psam: error: model.kind box_ellipse learns nothing from data, so there is nothing "
            "to train; evaluate it directly: psam eval --kind box_ellipse --store DIR\n");
  EXPECT_FALSE(fs::exists(dir.file("runs")));
}

}  // namespace
}  // namespace psam::cli
