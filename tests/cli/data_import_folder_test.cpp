// psam data import-folder on a small fixture: two raters, one missing mask file, one mask that
// went through JPEG (noisy around 0 and 255), one mask without an image. The store must hold
// the fixture's pixels and masks exactly; the report must name what was missing.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>

#include "cli/run_cli.h"
#include "data/data_test_util.h"
#include "psam/data/store/check.h"
#include "psam/data/store/store.h"
#include "psam/io/image.h"

namespace psam::data {
namespace {

namespace fs = std::filesystem;
using torch::indexing::Slice;

class ImportFolderCli : public ::testing::Test {
 protected:
  void SetUp() override {
#ifndef PSAM_HAVE_OPENCV
    GTEST_SKIP() << "built without OpenCV";
#endif
    torch::manual_seed(5);
    for (const char* d : {"images", "masks/r1", "masks/r2"})
      fs::create_directories(test::path_in(tmp_, std::string("ds/") + d));
    // 20 x 30 RGB images; b is a JPEG, a and c PNGs.
    for (const char* name : {"a.png", "b.jpg", "c.png"}) {
      const at::Tensor image = torch::randint(0, 256, {20, 30, 3}).to(torch::kByte);
      io::write_image(file(std::string("images/") + name), image);
      // What a decoder gives back (JPEG is lossy): what the store must hold.
      images_[std::string(name, 1)] = io::read_image_rgb(file(std::string("images/") + name));
    }
    // Rater k outlines rows 4..11+k, columns 5+k..20 of every image.
    for (int k = 1; k <= 2; ++k) {
      at::Tensor m = torch::zeros({20, 30}, torch::kByte);
      m.index_put_({Slice(4, 12 + k), Slice(5 + k, 21)}, 255);
      masks_.push_back(m.ne(0).to(torch::kByte));
      const std::string rater = "masks/r" + std::to_string(k) + "/";
      io::write_image(file(rater + "a.png"), m);
      if (k == 1) {
        io::write_image(file(rater + "b.png"), m);
        io::write_image(file(rater + "c.png"), m);
      } else {
        io::write_image(file(rater + "b.jpg"), m);  // JPEG-noisy; r2 has no c
        io::write_image(file(rater + "d.png"), m);  // no image d
      }
    }
  }
  std::string root() const { return test::path_in(tmp_, "ds"); }
  std::string file(const std::string& name) const { return root() + "/" + name; }

  test::TempDir tmp_;
  std::map<std::string, at::Tensor> images_;
  std::vector<at::Tensor> masks_;  // rater 1, rater 2 (uint8 0/1)
};

TEST_F(ImportFolderCli, StoreMatchesTheFixtureAndTheReportNamesTheMissingFile) {
  // The JPEG mask is really noisy: not just 0 and 255.
  const at::Tensor noisy = io::read_image_rgb(file("masks/r2/b.jpg")).select(2, 0);
  EXPECT_GT(((noisy > 0) & (noisy < 255)).sum().item<int64_t>(), 0);

  const std::string out = test::path_in(tmp_, "store");
  const auto r = test::run_cli({"data", "import-folder", root(), out});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("wrote 2 images of 2 patients, 2 raters (r1, r2), 20x30, 3 channel(s), "
                       "8-bit to " +
                       out),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("missing mask files (1):\n  r2: " + file("masks/r2/c.*")), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("skipped images (1):\n  c: no mask from r2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("masks without images (1):\n  " + file("masks/r2/d.png")), std::string::npos)
      << r.out;

  const DatasetStore store = DatasetStore::open(out);
  ASSERT_EQ(store.size(), 2);
  EXPECT_EQ(store.info().annotators, 2);
  EXPECT_EQ(store.info().intensity, Intensity::kUint8);
  EXPECT_EQ(store.info().channels, 3);
  for (int64_t i = 0; i < 2; ++i) {
    const std::string id = store.meta()[i].id;
    EXPECT_EQ(id, i == 0 ? "a" : "b");
    EXPECT_EQ(store.meta()[i].patient_id, id);
    EXPECT_TRUE(torch::equal(store.images()[i], images_[id])) << id;
    for (int k = 0; k < 2; ++k) EXPECT_TRUE(torch::equal(store.masks()[i][k], masks_[k])) << id;
  }
  EXPECT_TRUE(check_store(out).ok());

  // --missing-mask empty keeps c with an empty mask for r2.
  const std::string all = test::path_in(tmp_, "all");
  ASSERT_EQ(test::run_cli({"data", "import-folder", root(), all, "--missing-mask", "empty"}).rc, 0);
  const DatasetStore with_c = DatasetStore::open(all);
  ASSERT_EQ(with_c.size(), 3);
  EXPECT_TRUE(torch::equal(with_c.masks()[2][0], masks_[0]));
  EXPECT_EQ(with_c.masks()[2][1].sum().item<int64_t>(), 0);

  // --missing-mask error: a one-line error naming the file, nothing written.
  const std::string refused = test::path_in(tmp_, "refused");
  const auto e =
      test::run_cli({"data", "import-folder", root(), refused, "--missing-mask", "error"});
  EXPECT_EQ(e.rc, 1);
  EXPECT_EQ(e.err, "psam: error: " + file("masks/r2/c.*") + ": missing (the mask of r2 for " +
                       file("images/c.png") + "); --missing-mask skip or empty to go on\n");
  EXPECT_FALSE(fs::exists(refused));
  // ... and what it found is listed first, every missing file included.
  EXPECT_NE(e.out.find("missing mask files (1):\n  r2: " + file("masks/r2/c.*")),
            std::string::npos)
      << e.out;
  EXPECT_NE(e.out.find("masks without images (1):\n  " + file("masks/r2/d.png")),
            std::string::npos)
      << e.out;
}

// Every image failing is when the report matters most: the lists come before the error. Masks in
// a format psam cannot read (the GIFs the DRIVE dataset ships) are named as such.
TEST_F(ImportFolderCli, WhenNothingImportsTheReportStillShows) {
  const std::string out = test::path_in(tmp_, "never");
  const auto none = test::run_cli({"data", "import-folder", root(), out, "--masks",
                                   "masks/{rater}/{stem}_manual.*"});
  EXPECT_EQ(none.rc, 1);
  EXPECT_NE(none.err.find("no mask files match"), std::string::npos) << none.err;
  EXPECT_FALSE(fs::exists(out));

  for (const char* name : {"a_manual.gif", "b_manual.gif"})
    tmp_.write(std::string("ds/masks/r1/") + name, "GIF89a");
  const auto gif = test::run_cli({"data", "import-folder", root(), out, "--masks",
                                  "masks/{rater}/{stem}_manual.*"});
  EXPECT_EQ(gif.rc, 1);
  EXPECT_NE(gif.err.find("2 GIF file(s) match it"), std::string::npos) << gif.err;
  EXPECT_NE(gif.err.find("a format psam does not read; convert them to PNG"), std::string::npos)
      << gif.err;
  EXPECT_EQ(std::count(gif.err.begin(), gif.err.end(), '\n'), 1) << gif.err;

  // Every image skipped: the found lists, then the error.
  const auto skipped = test::run_cli({"data", "import-folder", root(), out, "--raters",
                                      "r1,r2", "--images", "images/{stem}.jpg", "--masks",
                                      "masks/{rater}/{stem}.png", "--missing-mask", "skip"});
  EXPECT_EQ(skipped.rc, 1);
  EXPECT_NE(skipped.err.find("no image is left to import"), std::string::npos) << skipped.err;
  EXPECT_NE(skipped.out.find("skipped images (1):\n  b: no mask from r2"), std::string::npos)
      << skipped.out;
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace psam::data
