// import_refuge on a tiny synthetic copy of the REFUGE multi-rater layout the UA-SAM and Medical
// SAM Adapter loaders read: <set>-400/<case>/<case>.jpg with 7 raters' <case>_seg_cup_<k>.png
// and <case>_seg_disc_<k>.png. Checked: the cup (or disc) masks per rater, the set folders as
// the split, and the crop around the disc centre followed by a resize.
#include "psam/data/importers/import_refuge.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "cli/run_cli.h"
#include "data/data_test_util.h"
#include "psam/data/store/check.h"
#include "psam/data/store/store.h"
#include "psam/io/image.h"
#include "psam/util/error.h"

namespace psam::data {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kH = 40, kW = 56, kRaters = 7;

at::Tensor disc(int64_t cy, int64_t cx, double radius) {
  const at::Tensor y = torch::arange(kH).view({-1, 1}), x = torch::arange(kW).view({1, -1});
  return ((y - cy).pow(2) + (x - cx).pow(2)).to(torch::kDouble) <= radius * radius;
}

struct Case {
  std::string set, name;
  int64_t cy, cx;  // disc centre (every rater's disc is symmetric about it)
};

class RefugeLayout : public ::testing::Test {
 protected:
  void SetUp() override {
#ifndef PSAM_HAVE_OPENCV
    GTEST_SKIP() << "built without OpenCV";
#endif
    torch::manual_seed(9);
    // The last case's disc touches the left border: its crop window is kept inside the image.
    cases_ = {{"Training-400", "0826", 20, 30},
              {"Training-400", "0101", 18, 25},
              {"Test-400", "0002", 22, 9}};
    for (const Case& c : cases_) {
      const fs::path dir = fs::path(root()) / c.set / c.name;
      fs::create_directories(dir);
      io::write_image((dir / (c.name + ".jpg")).string(),
                      torch::randint(0, 256, {kH, kW, 3}).to(torch::kByte));
      for (int64_t k = 1; k <= kRaters; ++k) {
        const at::Tensor d = disc(c.cy, c.cx, 7 + k % 2), cup = disc(c.cy, c.cx, 2 + k % 3);
        io::write_image((dir / fmt::format("{}_seg_disc_{}.png", c.name, k)).string(),
                        d.to(torch::kByte) * 255);
        io::write_image((dir / fmt::format("{}_seg_cup_{}.png", c.name, k)).string(),
                        cup.to(torch::kByte) * 255);
      }
    }
  }
  std::string root() const { return test::path_in(tmp_, "REFUGE-Multirater"); }
  std::string path(const std::string& name) const { return test::path_in(tmp_, name); }

  test::TempDir tmp_;
  std::vector<Case> cases_;
};

TEST_F(RefugeLayout, ImportsEveryRatersCupWithTheSetFoldersAsSplit) {
  const ImageImportReport r = import_refuge(root(), path("cup"), RefugeImportOptions{});
  EXPECT_EQ(r.samples, 3);
  EXPECT_EQ(r.raters.size(), 7u);
  const DatasetStore store = DatasetStore::open(path("cup"));
  EXPECT_EQ(store.info().annotators, kRaters);
  EXPECT_EQ(store.info().height, kH);
  EXPECT_EQ(store.info().width, kW);
  EXPECT_EQ(store.info().channels, 3);
  // Sorted by set folder (Training, Validation, Test), then case.
  const std::vector<std::string> ids = {"Training-400/0101", "Training-400/0826", "Test-400/0002"};
  const std::vector<const Case*> order = {&cases_[1], &cases_[0], &cases_[2]};
  for (int64_t i = 0; i < 3; ++i) {
    const Case& c = *order[i];
    EXPECT_EQ(store.meta()[i].id, ids[i]);
    const fs::path dir = fs::path(root()) / c.set / c.name;
    EXPECT_TRUE(
        torch::equal(store.images()[i], io::read_image_rgb((dir / (c.name + ".jpg")).string())));
    for (int64_t k = 1; k <= kRaters; ++k)
      EXPECT_TRUE(
          torch::equal(store.masks()[i][k - 1], disc(c.cy, c.cx, 2 + k % 3).to(torch::kByte)))
          << ids[i] << " rater " << k;
  }
  EXPECT_EQ(store.splits().unit, "patient");
  ASSERT_EQ(store.splits().sets.size(), 2u);
  EXPECT_EQ(store.splits().sets[0], (std::pair<std::string, std::vector<std::string>>{
                                        "train", {"Training-400/0101", "Training-400/0826"}}));
  EXPECT_EQ(store.splits().sets[1].first, "test");
  EXPECT_TRUE(check_store(path("cup")).ok());

  RefugeImportOptions o;
  o.target = "disc";
  import_refuge(root(), path("disc"), o);
  const DatasetStore discs = DatasetStore::open(path("disc"));
  EXPECT_TRUE(torch::equal(discs.masks()[0][1], disc(18, 25, 7).to(torch::kByte)));  // rater 2
}

// --crop 25 around the disc centre (the centroid of the raters' mean disc), then --resize 50:
// the window's rows are cy - 12 .. cy + 12 (kept inside the image), scaled by 2.
TEST_F(RefugeLayout, CropsAroundTheDiscCentreThenResizes) {
  RefugeImportOptions o;
  o.crop = ImageSize{25, 25};
  import_refuge(root(), path("crop"), o);
  const DatasetStore cropped = DatasetStore::open(path("crop"));
  const std::vector<const Case*> order = {&cases_[1], &cases_[0], &cases_[2]};
  for (int64_t i = 0; i < 3; ++i) {
    const Case& c = *order[i];
    const int64_t y0 = std::clamp<int64_t>(c.cy - 12, 0, kH - 25);
    const int64_t x0 = std::clamp<int64_t>(c.cx - 12, 0, kW - 25);
    const at::Tensor expected =
        disc(c.cy, c.cx, 2 + 1 % 3).slice(0, y0, y0 + 25).slice(1, x0, x0 + 25);
    EXPECT_TRUE(torch::equal(cropped.masks()[i][0], expected.to(torch::kByte))) << c.name;
  }
  EXPECT_EQ(cases_[2].cx - 12, -3);  // the border case really is clamped

  o.resize = ImageSize{50, 50};
  import_refuge(root(), path("crop_resized"), o);
  const DatasetStore resized = DatasetStore::open(path("crop_resized"));
  EXPECT_EQ(resized.info().height, 50);
  // Upscaled 2x, a mask keeps its area (4x) up to its outline.
  for (int64_t i = 0; i < 3; ++i) {
    const double ratio =
        resized.masks()[i][0].sum().item<double>() / cropped.masks()[i][0].sum().item<double>();
    EXPECT_NEAR(ratio, 4.0, 0.8) << i;
  }
}

TEST_F(RefugeLayout, CommandLineAndErrors) {
  const auto r = test::run_cli(
      {"data", "import-refuge", root(), path("cli"), "--crop", "25", "--resize", "32"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("wrote 3 images of 3 patients, 7 raters (rater1, rater2, rater3, rater4, "
                       "rater5, rater6, rater7), 32x32, 3 channel(s), 8-bit to " +
                       path("cli")),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("split: the split folders of the source, by patient"), std::string::npos);

  fs::remove(fs::path(root()) / "Test-400" / "0002" / "0002_seg_cup_4.png");
  RefugeImportOptions o;
  o.missing = MissingMask::kError;
  EXPECT_THROW(import_refuge(root(), path("refused"), o), Error);
  EXPECT_FALSE(fs::exists(path("refused")));
  o.missing = MissingMask::kSkip;
  const ImageImportReport skipped = import_refuge(root(), path("skipped"), o);
  EXPECT_EQ(skipped.samples, 2);
  ASSERT_EQ(skipped.missing_masks.size(), 1u);
  EXPECT_NE(skipped.missing_masks[0].find("rater4: "), std::string::npos);
  EXPECT_THROW(import_refuge(path("nowhere"), path("n"), RefugeImportOptions{}), Error);
  o.target = "rim";
  EXPECT_THROW(import_refuge(root(), path("n"), o), Error);
}

}  // namespace
}  // namespace psam::data
