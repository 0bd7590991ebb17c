#include "psam/data/importers/import_lidc_png.h"

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
using torch::indexing::Slice;

// A DeepMind-style tree: images/<patient>/z-<z>_c<crop>.png, gt/<patient>/z-<z>_c<crop>_l<k>.png
class LidcPngTree : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(3);
    add("LIDC-IDRI-0002", "z-12.5_c0");
    add("LIDC-IDRI-0001", "z-100.0_c1");
    add("LIDC-IDRI-0001", "z-97.5_c0");
    add("LIDC-IDRI-0001", "z-100.0_c0");
  }
  void add(const std::string& patient, const std::string& stem) {
    const at::Tensor image = torch::randint(0, 256, {20, 20}).to(torch::kByte);
    fs::create_directories(root() + "/images/" + patient);
    fs::create_directories(root() + "/gt/" + patient);
    io::write_image(root() + "/images/" + patient + "/" + stem + ".png", image);
    std::vector<at::Tensor> masks;
    for (int k = 0; k < 4; ++k) {
      at::Tensor m = torch::zeros({20, 20}, torch::kByte);
      if (k < 3) m.index_put_({Slice(5 + k, 12), Slice(6, 14 - k)}, 255);
      io::write_image(root() + "/gt/" + patient + "/" + stem + "_l" + std::to_string(k) + ".png",
                      m);
      masks.push_back(m.ne(0).to(torch::kByte));
    }
    images_[patient + "/" + stem] = image;
    masks_[patient + "/" + stem] = torch::stack(masks);
  }
  std::string root() const { return test::path_in(tmp_, "lidc"); }
  test::TempDir tmp_;
  std::map<std::string, at::Tensor> images_, masks_;
};

TEST_F(LidcPngTree, ImportsSortedWithMetaAndCentreCrop) {
  const std::string out = test::path_in(tmp_, "store");
  auto r = test::run_cli({"data", "import-lidc-png", root(), out, "--crop", "12"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("wrote 4 crops of 2 patients (4 annotators, 12x12)"), std::string::npos);
  const DatasetStore store = DatasetStore::open(out);
  const std::vector<std::string> ids{"LIDC-IDRI-0001/z-97.5_c0", "LIDC-IDRI-0001/z-100.0_c0",
                                     "LIDC-IDRI-0001/z-100.0_c1", "LIDC-IDRI-0002/z-12.5_c0"};
  ASSERT_EQ(store.size(), 4);
  for (int64_t i = 0; i < 4; ++i) {
    const SampleMeta& m = store.meta()[i];
    EXPECT_EQ(m.id, ids[i]);
    EXPECT_EQ(m.patient_id, ids[i].substr(0, 14));
    // Centre crop 20 -> 12: rows and columns 4..15.
    EXPECT_TRUE(torch::equal(store.images()[i], images_[m.id].index({Slice(4, 16), Slice(4, 16)})));
    EXPECT_TRUE(
        torch::equal(store.masks()[i], masks_[m.id].index({Slice(), Slice(4, 16), Slice(4, 16)})));
  }
  EXPECT_EQ(*store.meta()[0].z, 97.5);
  EXPECT_EQ(nlohmann::json::parse(store.meta()[2].extra_json)["crop_index"], 1);
  EXPECT_EQ(store.info().intensity, Intensity::kUint8);
  EXPECT_EQ(store.masks()[0][3].sum().item<int64_t>(), 0);  // the fourth reader marked nothing
  EXPECT_TRUE(check_store(out).ok());

  LidcPngImportOptions full;
  const LidcPngImportResult whole = import_lidc_png(root(), test::path_in(tmp_, "full"), full);
  EXPECT_EQ(whole.height, 20);
  full.crop = 21;
  EXPECT_THROW(import_lidc_png(root(), test::path_in(tmp_, "too_big"), full), Error);
  EXPECT_FALSE(fs::exists(test::path_in(tmp_, "too_big")));
}

TEST_F(LidcPngTree, MissingMaskOrColourImageIsAnErrorAndWritesNothing) {
  fs::remove(root() + "/gt/LIDC-IDRI-0002/z-12.5_c0_l2.png");
  const std::string out = test::path_in(tmp_, "store");
  auto r = test::run_cli({"data", "import-lidc-png", root(), out});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("z-12.5_c0_l2.png: missing"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));
  io::write_image(root() + "/gt/LIDC-IDRI-0002/z-12.5_c0_l2.png",
                  torch::randint(0, 256, {20, 20, 3}).to(torch::kByte));
  r = test::run_cli({"data", "import-lidc-png", root(), out});
  EXPECT_NE(r.err.find("a colour image"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));
}

// As distributed: train/ val/ test/ folders, each with images/ and gt/.
TEST(LidcPngFolders, SplitFoldersBecomeTheSplitUnlessResplit) {
  test::TempDir tmp;
  const std::string root = test::path_in(tmp, "lidc_crops");
  auto add = [&](const std::string& split, const std::string& patient, const std::string& stem) {
    const std::string base = root + "/" + split;
    fs::create_directories(base + "/images/" + patient);
    fs::create_directories(base + "/gt/" + patient);
    io::write_image(base + "/images/" + patient + "/" + stem + ".png",
                    torch::full({8, 8}, 100, torch::kByte));
    for (int k = 0; k < 2; ++k)
      io::write_image(base + "/gt/" + patient + "/" + stem + "_l" + std::to_string(k) + ".png",
                      torch::full({8, 8}, k * 255, torch::kByte));
  };
  add("train", "P1", "z-1.0_c0");
  add("train", "P2", "z-1.0_c0");
  add("val", "P3", "z-2.0_c0");
  add("test", "P4", "z-3.0_c0");
  add("test", "P4", "z-4.0_c0");
  auto r = test::run_cli({"data", "import-lidc-png", root, test::path_in(tmp, "kept")});
  ASSERT_EQ(r.rc, 0) << r.err;
  const DatasetStore kept = DatasetStore::open(test::path_in(tmp, "kept"));
  EXPECT_EQ(kept.splits().unit, "patient");
  ASSERT_EQ(kept.splits().sets.size(), 3u);
  EXPECT_EQ(kept.splits().sets[0].first, "train");
  EXPECT_EQ(kept.split_indices("test"), (std::vector<int64_t>{0, 1}));  // "test" sorts first
  EXPECT_EQ(kept.meta()[0].id, "test/P4/z-3.0_c0");
  EXPECT_EQ(nlohmann::json::parse(kept.meta()[4].extra_json)["source_split"], "val");
  // A patient in two folders: the folders still rule, by image, and the check warns.
  add("val", "P1", "z-9.0_c0");
  ASSERT_EQ(test::run_cli({"data", "import-lidc-png", root, test::path_in(tmp, "leaky")}).rc, 0);
  const CheckReport report = check_store(test::path_in(tmp, "leaky"));
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(DatasetStore::open(test::path_in(tmp, "leaky")).splits().unit, "image");
  ASSERT_EQ(report.warnings.size(), 1u);
  r = test::run_cli({"data", "import-lidc-png", root, test::path_in(tmp, "fresh"), "--resplit"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("split: patient-level split"), std::string::npos) << r.out;
  EXPECT_TRUE(check_store(test::path_in(tmp, "fresh")).warnings.empty());
}

// The LIDC-0221 crops in ../shared/realdata use another layout (images/z-<Z>.png, false-colour
// outlines in gt/gt-<Z><k>.png): the importer must say so rather than import garbage.
TEST(LidcPngRealData, OtherLayoutIsRejectedClearly) {
  const auto root = test::shared_dir() / "realdata" / "lidc0221_crops_4readers";
  if (!fs::exists(root)) GTEST_SKIP() << root << " absent";
  test::TempDir tmp;
  try {
    import_lidc_png(root.string(), test::path_in(tmp, "out"), LidcPngImportOptions{});
    FAIL() << "imported a folder of another layout";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no images/<patient>/z-<z>_c<crop>.png files found"),
              std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(fs::exists(test::path_in(tmp, "out")));
}

}  // namespace
}  // namespace psam::data
