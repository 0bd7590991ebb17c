#include "psam/data/store/store.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "data/data_test_util.h"
#include "data/store/small_store.h"
#include "psam/data/store/check.h"
#include "psam/data/store/splits.h"
#include "psam/io/npy.h"
#include "psam/util/error.h"
#include "psam/util/fs.h"
#include "psam/util/hash.h"

namespace psam::data {
namespace {

namespace fs = std::filesystem;
using namespace test_store;  // NOLINT(google-build-using-namespace)


TEST(Store, WriteThenOpenRoundTrips) {
  test::TempDir tmp;
  const std::string dir = test::path_in(tmp, "store");
  const Written w = write_small_store(dir);
  const DatasetStore store = DatasetStore::open(dir);
  EXPECT_EQ(store.size(), 5);
  EXPECT_EQ(store.info().annotators, 3);
  EXPECT_EQ(store.info().intensity, Intensity::kHu);
  EXPECT_TRUE(torch::equal(store.images(), w.images));
  EXPECT_TRUE(torch::equal(store.masks(), w.masks));
  EXPECT_FALSE(store.has_oracle());
  ASSERT_EQ(store.meta().size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(store.meta()[i].id, w.meta[i].id);
    EXPECT_EQ(store.meta()[i].patient_id, w.meta[i].patient_id);
    EXPECT_EQ(store.meta()[i].series_uid, w.meta[i].series_uid);
    EXPECT_EQ(store.meta()[i].z, w.meta[i].z);
    EXPECT_EQ(nlohmann::json::parse(store.meta()[i].extra_json),
              nlohmann::json::parse(w.meta[i].extra_json));
  }
  EXPECT_EQ(store.split_indices("train"), (std::vector<int64_t>{0, 1, 3, 4}));
  EXPECT_EQ(store.split_indices("test"), (std::vector<int64_t>{2}));
  EXPECT_THROW(store.split_indices("val"), Error);
  EXPECT_EQ(store.index_of("s3"), 3);
  EXPECT_THROW(store.index_of("nope"), Error);
  EXPECT_EQ(nlohmann::json::parse(store.info().provenance_json)["source"], "store_test");
  // Nothing but the store itself is left beside it.
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.path()), fs::directory_iterator()), 1);
}

TEST(Store, FingerprintIsStableAndTracksContent) {
  test::TempDir tmp;
  write_small_store(test::path_in(tmp, "a"));
  const std::string fp = DatasetStore::open(test::path_in(tmp, "a")).fingerprint();
  EXPECT_EQ(fp.size(), 64u);
  EXPECT_EQ(fp, DatasetStore::open(test::path_in(tmp, "a")).fingerprint());
  // Re-splitting changes no image: same fingerprint.
  resplit_store(test::path_in(tmp, "a"), SplitOptions{});
  EXPECT_EQ(fp, DatasetStore::open(test::path_in(tmp, "a")).fingerprint());
  // Different pixels with identical headers and meta: different fingerprint.
  write_small_store(test::path_in(tmp, "b"));
  EXPECT_NE(fp, DatasetStore::open(test::path_in(tmp, "b")).fingerprint());
}

// The split fingerprint is a function of the split's set of case ids: the order a split lists
// them in and the other splits do not matter; moving one case between splits changes it.
TEST(Store, SplitFingerprintChangesExactlyWhenTheCasesDo) {
  test::TempDir tmp;
  const std::string dir = test::path_in(tmp, "a");
  write_small_store(dir);  // train: p0 (s0, s1), p2 (s3, s4); test: p1 (s2)
  const auto open = [&] { return DatasetStore::open(dir); };
  const DatasetStore before = open();
  EXPECT_EQ(before.split_fingerprint("test"), sha256_hex("s2\n"));
  EXPECT_EQ(before.cases_fingerprint({0, 1, 3, 4}), before.cases_fingerprint({4, 3, 1, 0}));
  EXPECT_EQ(before.split_fingerprint("train"), before.cases_fingerprint({0, 1, 3, 4}));
  const std::string test_fp = before.split_fingerprint("test");
  const std::string train_fp = before.split_fingerprint("train");

  const auto write_splits = [&](const std::string& json) {
    std::ofstream(dir + "/splits.json") << json;
  };
  write_splits(R"({"unit": "patient", "sets": {"train": ["p2", "p0"], "test": ["p1"]}})");
  EXPECT_EQ(open().split_fingerprint("test"), test_fp);
  EXPECT_EQ(open().split_fingerprint("train"), train_fp);
  write_splits(R"({"unit": "patient", "sets": {"train": ["p0"], "test": ["p1", "p2"]}})");
  EXPECT_NE(open().split_fingerprint("test"), test_fp);
  EXPECT_NE(open().split_fingerprint("train"), train_fp);
  EXPECT_EQ(open().split_fingerprint("test"), open().cases_fingerprint({2, 3, 4}));
}

TEST(Store, NumpyOpensTheArrays) {
  if (!support::python_has("numpy")) GTEST_SKIP() << PSAM_PYTHON " with numpy not available";
  test::TempDir tmp;
  const std::string dir = test::path_in(tmp, "store");
  const Written w = write_small_store(dir);
  const std::string script = test::path_in(tmp, "check.py");
  std::ofstream(script) << R"(import json, sys
import numpy as np
d = sys.argv[1]
info = json.load(open(d + "/dataset.json"))
im = np.load(d + "/images.npy", mmap_mode="r")
mk = np.load(d + "/masks.npy", mmap_mode="r")
meta = [json.loads(l) for l in open(d + "/meta.jsonl")]
splits = json.load(open(d + "/splits.json"))
assert im.dtype == np.float32 and im.shape == (5, 6, 8), (im.dtype, im.shape)
assert mk.dtype == np.uint8 and mk.shape == (5, 3, 6, 8), (mk.dtype, mk.shape)
assert info["count"] == 5 and info["annotators"] == 3 and info["intensity"] == "hu"
assert [m["id"] for m in meta] == ["s0", "s1", "s2", "s3", "s4"]
assert meta[2]["z"] == -21.0 and meta[2]["nodule"] == 2 and "z" not in meta[1]
assert splits["unit"] == "patient" and splits["sets"]["test"] == ["p1"]
print(float(im.astype(np.float64).sum()), int(mk.sum()), int(mk[1, 2].sum()))
)";
  std::istringstream out(support::run_python(script + " " + dir));
  double image_sum = 0;
  int64_t mask_sum = -1, empty_sum = -1;
  out >> image_sum >> mask_sum >> empty_sum;
  EXPECT_NEAR(image_sum, w.images.to(torch::kDouble).sum().item<double>(), 1e-6 * 5 * 48 * 800);
  EXPECT_EQ(mask_sum, w.masks.sum().item<int64_t>());
  EXPECT_EQ(empty_sum, 0);
}

TEST(Store, FailedWriteLeavesNothing) {
  test::TempDir tmp;
  const std::string dir = test::path_in(tmp, "store");
  {
    DatasetWriter writer(dir, grey_info(3, 2, 4, 4));
    writer.add(torch::zeros({4, 4}), torch::zeros({2, 4, 4}), sample_meta(0, "p"));
    EXPECT_THROW(writer.commit(two_set_split({"p"}, {})), Error);  // 1 of 3 samples
  }
  {
    DatasetWriter writer(dir, grey_info(1, 2, 4, 4));
    EXPECT_THROW(writer.add(torch::zeros({4, 5}), torch::zeros({2, 4, 4}), sample_meta(0, "p")),
                 Error);
    EXPECT_THROW(writer.add(torch::zeros({4, 4}), torch::zeros({3, 4, 4}), sample_meta(0, "p")),
                 Error);
    EXPECT_THROW(writer.add(torch::zeros({4, 4}, torch::kByte), torch::zeros({2, 4, 4}),
                            sample_meta(0, "p")),
                 Error);
  }
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.path()), fs::directory_iterator()), 0);
}

TEST(Store, RefusesAnExistingOutputUnlessOverwriting) {
  test::TempDir tmp;
  const std::string dir = test::path_in(tmp, "store");
  write_small_store(dir);
  const std::string before = DatasetStore::open(dir).fingerprint();
  EXPECT_THROW(DatasetWriter(dir, grey_info(1, 1, 2, 2)), Error);
  {
    DatasetWriter writer(dir, grey_info(1, 1, 2, 2), 0, /*overwrite=*/true);
    writer.add(torch::ones({2, 2}), torch::ones({1, 2, 2}), sample_meta(0, "p"));
    // Not committed: the old store must survive.
  }
  EXPECT_EQ(DatasetStore::open(dir).fingerprint(), before);
  DatasetWriter writer(dir, grey_info(1, 1, 2, 2), 0, true);
  writer.add(torch::ones({2, 2}), torch::ones({1, 2, 2}), sample_meta(0, "p"));
  writer.commit(two_set_split({"p"}, {}));
  EXPECT_EQ(DatasetStore::open(dir).size(), 1);
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.path()), fs::directory_iterator()), 1);
}

TEST(Store, RgbUint8AndOracleMasks) {
  test::TempDir tmp;
  const std::string dir = test::path_in(tmp, "rgb");
  DatasetInfo info = grey_info(2, 1, 3, 4);
  info.channels = 3;
  info.image_dtype = at::kByte;
  info.intensity = Intensity::kUint8;
  const at::Tensor images = torch::randint(0, 256, {2, 3, 4, 3}).to(torch::kByte);
  const at::Tensor oracle = torch::randint(0, 2, {2, 5, 3, 4}).to(torch::kByte);
  {
    DatasetWriter writer(dir, info, 5);
    // Masks in any dtype: non-zero is inside.
    writer.add_batch(images, torch::full({2, 1, 3, 4}, 0.7),
                     {sample_meta(0, "a"), sample_meta(1, "b")}, oracle);
    writer.commit(two_set_split({"a"}, {"b"}));
  }
  const DatasetStore store = DatasetStore::open(dir);
  EXPECT_TRUE(torch::equal(store.images(), images));
  EXPECT_TRUE(torch::equal(store.masks(), torch::ones({2, 1, 3, 4}, torch::kByte)));
  ASSERT_TRUE(store.has_oracle());
  EXPECT_TRUE(torch::equal(store.oracle_masks(), oracle));
  EXPECT_TRUE(check_store(dir).ok());
  // uint8 images must be declared as such.
  info.intensity = Intensity::kUnit;
  EXPECT_THROW(DatasetWriter(test::path_in(tmp, "bad"), info), Error);
}

// A store broken after the fact, as a hand edit or a foreign tool might leave it.
class BrokenStore : public ::testing::Test {
 protected:
  void SetUp() override { written_ = write_small_store(dir_); }
  void write_text(const std::string& name, const std::string& text) {
    write_file_atomic(dir_ + "/" + name, [&](std::ostream& out) { out << text; });
  }
  // The first problem `psam data check` reports (pixel values are its job alone).
  std::string value_error() {
    const CheckReport report = check_store(dir_);
    EXPECT_FALSE(report.ok());
    return report.errors.empty() ? "" : report.errors.front();
  }
  // The same for structural problems, which DatasetStore::open refuses too.
  std::string first_error() {
    EXPECT_THROW(DatasetStore::open(dir_), Error);
    return value_error();
  }
  test::TempDir tmp_;
  std::string dir_ = test::path_in(tmp_, "store");
  Written written_;
};

TEST_F(BrokenStore, CleanStorePasses) {
  const CheckReport report = check_store(dir_);
  EXPECT_TRUE(report.ok()) << report.errors.front();
  EXPECT_TRUE(report.warnings.empty());
}

TEST_F(BrokenStore, MaskValuesOtherThanZeroOne) {
  at::Tensor masks = written_.masks.clone();
  masks[0][0][0][0] = 255;
  io::write_npy(dir_ + "/masks.npy", masks);
  const CheckReport report = check_store(dir_);
  ASSERT_EQ(report.errors.size(), 1u);
  EXPECT_NE(report.errors[0].find("1 values are neither 0 nor 1"), std::string::npos);
  EXPECT_NO_THROW(DatasetStore::open(dir_));  // open() checks structure only
}

TEST_F(BrokenStore, WrongShapeOrDtype) {
  io::write_npy(dir_ + "/masks.npy", written_.masks.slice(1, 0, 2).contiguous());
  EXPECT_NE(first_error().find("masks.npy has shape [5,2,6,8], expected [5,3,6,8]"),
            std::string::npos);
  io::write_npy(dir_ + "/masks.npy", written_.masks.to(torch::kFloat));
  EXPECT_NE(first_error().find("masks.npy has dtype"), std::string::npos);
}

TEST_F(BrokenStore, MetaLinesMissingOrDuplicated) {
  std::string meta = read_file(dir_ + "/meta.jsonl");
  write_text("meta.jsonl", meta.substr(0, meta.rfind('\n', meta.size() - 2) + 1));
  EXPECT_NE(first_error().find("meta.jsonl has 4 lines, dataset.json says 5"), std::string::npos);
  const size_t first_end = meta.find('\n') + 1;
  write_text("meta.jsonl",
             meta.substr(0, first_end) + meta.substr(0, meta.rfind('\n', meta.size() - 2) + 1));
  const CheckReport report = check_store(dir_);
  bool duplicate = false;
  for (const auto& e : report.errors)
    duplicate |= e.find("duplicate sample ids (s0)") != std::string::npos;
  EXPECT_TRUE(duplicate);
  write_text("meta.jsonl", "{\"id\": \"x\"}\n");
  EXPECT_NE(first_error().find("missing key 'patient_id'"), std::string::npos);
}

TEST_F(BrokenStore, PatientInTwoSetsOrInNone) {
  write_text("splits.json",
             R"({"unit": "patient", "sets": {"train": ["p0", "p1"], "test": ["p1"]}})");
  const CheckReport report = check_store(dir_);
  ASSERT_EQ(report.errors.size(), 2u);
  EXPECT_NE(report.errors[0].find("puts 1 patients in two sets (p1 (train and test))"),
            std::string::npos);
  EXPECT_NE(report.errors[1].find("1 patients are in no split (p2)"), std::string::npos);
  write_text("splits.json", R"({"unit": "patient", "sets": {"train": ["p0", "p1", "p2", "p9"]}})");
  EXPECT_NE(first_error().find("not in meta.jsonl (train:p9)"), std::string::npos);
}

TEST_F(BrokenStore, ImageSplitIsAllowedButLeakIsReported) {
  write_text("splits.json",
             R"({"unit": "image", "sets": {"train": ["s0", "s2", "s3"], "test": ["s1", "s4"]}})");
  const CheckReport report = check_store(dir_);
  EXPECT_TRUE(report.ok());
  ASSERT_EQ(report.warnings.size(), 1u);
  EXPECT_NE(report.warnings[0].find("2 of 3 patients have samples in more than one set"),
            std::string::npos);
  const DatasetStore store = DatasetStore::open(dir_);
  EXPECT_EQ(store.split_indices("test"), (std::vector<int64_t>{1, 4}));
}

TEST_F(BrokenStore, IntensityOutOfItsDeclaredRange) {
  std::string info = read_file(dir_ + "/dataset.json");
  info.replace(info.find("\"hu\""), 4, "\"unit\"");
  write_text("dataset.json", info);
  EXPECT_NE(value_error().find("intensity 'unit' promises values in [0, 1]"), std::string::npos);
  at::Tensor images = written_.images.clone();
  images[3][1][1] = std::nanf("");
  io::write_npy(dir_ + "/images.npy", images.sigmoid());
  EXPECT_NE(value_error().find("1 values are NaN or infinite"), std::string::npos);
}

TEST_F(BrokenStore, UnreadableFilesAreNamed) {
  fs::remove(dir_ + "/splits.json");
  EXPECT_NE(first_error().find("splits.json"), std::string::npos);
  write_text("splits.json", "{not json");
  EXPECT_NE(first_error().find("splits.json: invalid JSON"), std::string::npos);
  write_text("dataset.json", R"({"format": "psam-dataset", "version": 2})");
  EXPECT_NE(first_error().find("format version 2 is not supported"), std::string::npos);
  EXPECT_NE(check_store(test::path_in(tmp_, "missing")).errors.at(0).find("no such directory"),
            std::string::npos);
}

}  // namespace
}  // namespace psam::data
