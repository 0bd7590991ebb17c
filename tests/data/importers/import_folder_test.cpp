// import_folder: 16-bit images and 0/1 label-map masks, raters named in file names, patients
// from a regular expression, images of different sizes refused or resized, crops, and one-line
// errors that leave nothing behind.
#include "psam/data/importers/import_folder.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "data/data_test_util.h"
#include "psam/data/store/check.h"
#include "psam/data/store/store.h"
#include "psam/io/image.h"
#include "psam/util/error.h"

#ifdef PSAM_HAVE_OPENCV
#include <opencv2/imgcodecs.hpp>
#endif

namespace psam::data {
namespace {

namespace fs = std::filesystem;
using torch::indexing::Slice;

#ifdef PSAM_HAVE_OPENCV
// A 16-bit grey PNG of int32 values 0..65535 [H,W].
void write_png16(const std::string& path, const at::Tensor& values) {
  fs::create_directories(fs::path(path).parent_path());
  const at::Tensor v = values.to(torch::kInt).contiguous();
  cv::Mat m(static_cast<int>(v.size(0)), static_cast<int>(v.size(1)), CV_16U);
  for (int y = 0; y < m.rows; ++y)
    for (int x = 0; x < m.cols; ++x)
      m.at<uint16_t>(y, x) = static_cast<uint16_t>(v[y][x].item<int>());
  ASSERT_TRUE(cv::imwrite(path, m));
}
#endif

void write_png(const std::string& path, const at::Tensor& image) {
  fs::create_directories(fs::path(path).parent_path());
  io::write_image(path, image);
}

class ImportFolder : public ::testing::Test {
 protected:
  void SetUp() override {
#ifndef PSAM_HAVE_OPENCV
    GTEST_SKIP() << "built without OpenCV";
#endif
  }
  std::string path(const std::string& name) const { return test::path_in(tmp_, name); }
  test::TempDir tmp_;
};

#ifdef PSAM_HAVE_OPENCV
// 16-bit grey microscopy-like images, masks as 0/1 label maps in the file names of the raters
// (gt/<stem>_l<rater>.png), patients from the stem's prefix.
TEST_F(ImportFolder, SixteenBitImagesLabelMapsRatersInNamesAndPatients) {
  torch::manual_seed(2);
  std::map<std::string, at::Tensor> images;
  for (const char* stem : {"P01_a", "P01_b", "P02_a", "P03_a"}) {
    const at::Tensor v = torch::randint(0, 65536, {12, 16}, torch::kInt);
    write_png16(path(std::string("ds/img/") + stem + ".tif"), v);
    images[stem] = v;
    for (int k = 0; k < 3; ++k) {
      at::Tensor m = torch::zeros({12, 16}, torch::kByte);
      m.index_put_({Slice(2, 8), Slice(3, 9 + k)}, 1);  // 0/1 values: a label map
      write_png(path("ds/gt/") + stem + "_l" + std::to_string(k) + ".png", m);
    }
  }
  FolderImportOptions o;
  o.images = "img/{stem}.*";
  o.masks = "gt/{stem}_l{rater}.png";
  o.patient_regex = "^(P[0-9]+)_";
  const ImageImportReport r = import_folder(path("ds"), path("store"), o);
  EXPECT_EQ(r.samples, 4);
  EXPECT_EQ(r.patients, 3);
  EXPECT_EQ(r.bits, 16);
  EXPECT_EQ(r.raters, (std::vector<std::string>{"0", "1", "2"}));
  const DatasetStore store = DatasetStore::open(path("store"));
  EXPECT_EQ(store.info().intensity, Intensity::kUnit);
  EXPECT_EQ(store.info().image_dtype, at::kFloat);
  EXPECT_EQ(store.info().channels, 1);
  for (int64_t i = 0; i < store.size(); ++i) {
    const SampleMeta& m = store.meta()[i];
    EXPECT_EQ(m.patient_id, m.id.substr(0, 3));
    EXPECT_TRUE(
        torch::allclose(store.images()[i], images[m.id].to(torch::kFloat) / 65535.0f, 0, 1e-7));
    for (int k = 0; k < 3; ++k)
      EXPECT_EQ(store.masks()[i][k].sum().item<int64_t>(), 6 * (6 + k)) << m.id << " " << k;
  }
  EXPECT_EQ(store.splits().unit, "patient");
  EXPECT_TRUE(check_store(path("store")).ok());

  o.patient_regex = "^Q";
  try {
    import_folder(path("ds"), path("bad"), o);
    FAIL() << "a stem the regex misses was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--patient-regex '^Q' does not match 'P01_a'"),
              std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(fs::exists(path("bad")));
}
#endif

// Images of two sizes: refused without --resize (naming the file, nothing written); resized
// (bilinear, antialiased) with it, masks alike; a centre crop first when asked.
TEST_F(ImportFolder, DifferentSizesAreRefusedOrResized) {
  // Constant grey images, a mask covering exactly the left half.
  for (const auto& [stem, w] : {std::pair<std::string, int64_t>{"a", 40}, {"b", 60}}) {
    write_png(path("ds/images/" + stem + ".png"), torch::full({20, w}, 77, torch::kByte));
    at::Tensor m = torch::zeros({20, w}, torch::kByte);
    m.slice(1, 0, w / 2).fill_(255);
    write_png(path("ds/masks/one/" + stem + ".png"), m);
  }
  FolderImportOptions o;
  try {
    import_folder(path("ds"), path("refused"), o);
    FAIL() << "two sizes accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), path("ds/images/b.png") + ": 20x60, but " +
                                         path("ds/images/a.png") +
                                         " is 20x40; give --resize HxW (or --crop HxW)");
  }
  EXPECT_FALSE(fs::exists(path("refused")));

  o.resize = ImageSize{10, 16};
  const ImageImportReport r = import_folder(path("ds"), path("resized"), o);
  EXPECT_EQ(r.source_sizes, (std::map<std::string, int64_t>{{"20x40", 1}, {"20x60", 1}}));
  const DatasetStore resized = DatasetStore::open(path("resized"));
  ASSERT_EQ(resized.info().height, 10);
  ASSERT_EQ(resized.info().width, 16);
  at::Tensor left = torch::zeros({10, 16}, torch::kByte);
  left.slice(1, 0, 8).fill_(1);
  for (int64_t i = 0; i < 2; ++i) {
    EXPECT_TRUE(torch::equal(resized.images()[i], torch::full({10, 16}, 77, torch::kByte)));
    EXPECT_TRUE(torch::equal(resized.masks()[i][0], left)) << i;
  }

  // Centre crop 20x40 of both: a's whole image, b's columns 10..49 (mask: columns 10..29).
  o.resize.reset();
  o.crop = ImageSize{20, 40};
  import_folder(path("ds"), path("cropped"), o);
  const DatasetStore cropped = DatasetStore::open(path("cropped"));
  EXPECT_EQ(cropped.masks()[1][0].sum().item<int64_t>(), 20 * 20);
  EXPECT_EQ(cropped.masks()[1][0].slice(1, 0, 20).sum().item<int64_t>(), 20 * 20);
  o.crop = ImageSize{30, 40};
  EXPECT_THROW(import_folder(path("ds"), path("too_big"), o), Error);
  EXPECT_FALSE(fs::exists(path("too_big")));
}

TEST_F(ImportFolder, ChannelMixesAndBadPatternsAreOneLineErrors) {
  write_png(path("ds/images/a.png"), torch::full({8, 8}, 10, torch::kByte));
  at::Tensor rgb = torch::zeros({8, 8, 3}, torch::kByte);
  rgb.select(2, 0).fill_(200);
  write_png(path("ds/images/b.png"), rgb);
  for (const char* stem : {"a", "b"})
    write_png(path("ds/masks/x/") + stem + ".png", torch::full({8, 8}, 255, torch::kByte));
  FolderImportOptions o;
  try {
    import_folder(path("ds"), path("s"), o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              path("ds/images/b.png") + ": a colour image in a set whose first image is grey");
  }
  // A grey image saved as RGB joins a grey set.
  write_png(path("ds/images/b.png"), torch::full({8, 8, 3}, 60, torch::kByte));
  EXPECT_EQ(import_folder(path("ds"), path("s"), o).channels, 1);

  o.masks = "masks/{stem}.png";
  EXPECT_THROW(import_folder(path("ds"), path("t"), o), Error);  // no {rater}
  o.masks = "masks/{rater}/{stem}.png";
  o.images = "images/*.png";
  EXPECT_THROW(import_folder(path("ds"), path("t"), o), Error);  // no {stem}
  o.images = "nothing/{stem}.png";
  EXPECT_THROW(import_folder(path("ds"), path("t"), o), Error);  // no images
  o.images = "images/{stem}.png";
  o.raters = {"x", "y"};
  EXPECT_THROW(import_folder(path("ds"), path("t"), o), Error);  // rater y has no files
  EXPECT_FALSE(fs::exists(path("t")));
}

}  // namespace
}  // namespace psam::data
