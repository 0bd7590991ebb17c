// The command-line side of issue 28: eval.tta and predict --tta (the mirror-equivariant
// prompt-only ellipse gets exactly its own result back; the setting is recorded), and
// `psam data preview` (the grid's layout, and one-line errors). Tall, wide and square stores.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/run_cli.h"
#include "psam/eval/label_text.h"
#include "psam/eval/tiles.h"
#include "psam/io/image.h"
#include "psam/util/fs.h"
#include "support/testing.h"

namespace psam::cli {
namespace {

nlohmann::json summary_of(const std::string& path) { return nlohmann::json::parse(read_file(path)); }

std::string make_store(const support::TempDir& dir, const std::string& name, int64_t h, int64_t w) {
  const std::string store = dir.file(name);
  EXPECT_EQ(test::run_cli({"data", "synth", store, "--n", "12", "--height", std::to_string(h),
                           "--width", std::to_string(w), "--per-patient", "1", "--oracle", "0"})
                .rc,
            0);
  return store;
}

constexpr std::array<std::array<int64_t, 2>, 3> kShapes = {{{40, 24}, {24, 40}, {32, 32}}};

TEST(TtaCli, EvalAndPredictMapTheViewsBack) {
  support::TempDir dir;
  const std::string config =
      dir.write("eval.yaml", "eval: {samples: 2, bootstrap_resamples: 20}\n");
  for (const auto& [h, w] : kShapes) {
    const std::string name = std::to_string(h) + "x" + std::to_string(w);
    const std::string store = make_store(dir, name, h, w);
    auto eval = [&](const std::string& tta) {
      const std::string out = dir.file(name + "_eval_" + tta);
      const auto r = test::run_cli({"eval", "--kind", "box_ellipse", "--store", store, "--config",
                                    config, "--out", out, "eval.tta=" + tta});
      EXPECT_EQ(r.rc, 0) << r.err;
      return summary_of(out + "/summary.json");
    };
    const nlohmann::json plain = eval("none"), flipped = eval("flips");
    EXPECT_EQ(flipped["tta"], "flips");
    EXPECT_EQ(plain["tta"], "none");
    EXPECT_EQ(flipped["metrics"], plain["metrics"]) << name;

    auto predict = [&](const std::string& tta) {
      const std::string out = dir.file(name + "_predict_" + tta);
      const auto r = test::run_cli({"predict", "--kind", "box_ellipse", "--store", store, "--split",
                                    "test", "--out", out, "--tta", tta});
      EXPECT_EQ(r.rc, 0) << r.err;
      return out;
    };
    const std::string a = predict("none"), b = predict("flips");
    const nlohmann::json index = summary_of(b + "/batch.json");
    EXPECT_EQ(index["tta"], "flips");
    for (const auto& c : index["cases"]) {
      const std::string folder = "/" + c["folder"].get<std::string>() + "/";
      for (const char* file : {"sample_0.png", "prior_mean.png", "mean_probability.npy"})
        EXPECT_EQ(read_file(a + folder + file), read_file(b + folder + file)) << name << file;
    }
  }
}

TEST(PreviewCli, DrawsEverySampleAsStoredAndAugmented) {
  support::TempDir dir;
  const std::string config = dir.write("aug.yaml", R"(
data:
  augment:
    flip_x: 0.5
    affine: {p: 0.8, rotate: 20}
    gamma: {p: 0.5}
)");
  for (const auto& [h, w] : kShapes) {
    const std::string name = std::to_string(h) + "x" + std::to_string(w);
    const std::string store = make_store(dir, name, h, w);
    const std::string png = dir.file(name + ".png");
    const auto r = test::run_cli({"data", "preview", store, "--augment", config, "--out", png,
                                  "--cases", "3", "--draws", "4"});
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_NE(r.out.find("3 samples"), std::string::npos) << r.out;
    const at::Tensor grid = io::read_image(png);
    const int64_t f = eval::tile_factor(std::max(h, w));
    // A label strip, then three rows of five tiles, with gaps between.
    EXPECT_EQ(grid.size(0), eval::kLabelStripHeight + 3 * (h * f + eval::kTileGap));
    EXPECT_EQ(grid.size(1), 5 * w * f + 4 * eval::kTileGap);
    EXPECT_EQ(grid.size(2), 3);
  }
  const std::string store = dir.file("32x32");
  const std::string off = dir.write("off.yaml", "data: {loader: {batch_size: 2}}\n");
  const auto none =
      test::run_cli({"data", "preview", store, "--augment", off, "--out", dir.file("none.png")});
  EXPECT_NE(none.rc, 0);
  EXPECT_NE(none.err.find("data.augment sets no transformation"), std::string::npos) << none.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("none.png")));
  const auto bad = test::run_cli({"data", "preview", store, "--augment", config, "--out",
                                  dir.file("bad.png"), "data.augment.flip_x=2"});
  EXPECT_NE(bad.rc, 0);
  EXPECT_NE(bad.err.find("data.augment.flip_x"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace psam::cli
