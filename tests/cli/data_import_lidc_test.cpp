// `psam data import-lidc` end to end: a synthetic CT series carrying the SOP UIDs of a real XML
// read (185_069.xml, LIDC-IDRI-0001) through the CLI into a store, checked by `psam data check`
// and compared patch by patch with LidcImporter's own output.
#include "psam/data/importers/import_lidc_store.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <filesystem>

#include "cli/run_cli.h"
#include "data/data_test_util.h"
#include "data/lidc_series_fixture.h"
#include "data/lidc_test_util.h"
#include "psam/data/store/store.h"

namespace psam::data {
namespace {

namespace fs = std::filesystem;

class ImportLidcStore : public ::testing::Test {
 protected:
  void SetUp() override {
    PSAM_REQUIRE_REALDATA("lidc_xml_annotations/examples/185_069.xml");
    fs::create_directories(xml_dir());
    fs::create_directories(dicom_dir());
    fs::copy_file(testing::lidc_example("185_069.xml"), xml_dir() + "/185_069.xml");
    xml_ = read_lidc_xml(xml_dir() + "/185_069.xml");
    testing::write_series(xml_, dicom_dir(), -130.0, -100.0, 2.5);
  }
  std::string xml_dir() const { return test::path_in(tmp_, "xml"); }
  std::string dicom_dir() const { return test::path_in(tmp_, "dicom"); }
  test::TempDir tmp_;
  LidcXml xml_;
};

TEST_F(ImportLidcStore, CliWritesAStoreThatChecksAndMatchesTheImporter) {
  const std::string out = test::path_in(tmp_, "store");
  const auto r = test::run_cli(
      {"data", "import-lidc", "--dicom-root", dicom_dir(), "--xml-root", xml_dir(), out});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("wrote 9 patches of 1 patients (1 nodules, 4 readers per patch)"),
            std::string::npos)
      << r.out;
  const auto check = test::run_cli({"data", "check", out});
  EXPECT_EQ(check.rc, 0) << check.out << check.err;
  EXPECT_NE(check.out.find(": OK"), std::string::npos);

  const DatasetStore store = DatasetStore::open(out);
  EXPECT_EQ(store.info().intensity, Intensity::kHu);
  EXPECT_EQ(store.info().annotators, 4);
  ASSERT_EQ(store.images().sizes(), (std::vector<int64_t>{9, 128, 128}));
  EXPECT_EQ(store.splits().unit, "patient");
  const auto provenance = nlohmann::json::parse(store.info().provenance_json);
  EXPECT_EQ(provenance["report"]["rois_by_sop"].get<int>(), 8 + 7 + 8 + 9);
  EXPECT_EQ(provenance["patch_size"].get<int>(), 128);

  // The same patches, straight from the importer, in the same order.
  LidcImporter importer({xml_}, index_dicom_tree(dicom_dir()));
  int64_t i = 0;
  importer.run([&](LidcPatch&& p) {
    ASSERT_LT(i, store.size());
    SCOPED_TRACE(p.info.id);
    const SampleMeta& m = store.meta()[i];
    EXPECT_EQ(m.id, p.info.id);
    EXPECT_EQ(m.patient_id, "LIDC-IDRI-0001");
    EXPECT_EQ(m.series_uid, xml_.series_uid);
    ASSERT_TRUE(m.z.has_value());
    EXPECT_DOUBLE_EQ(*m.z, p.info.z);
    const auto extra = nlohmann::json::parse(m.extra_json);
    EXPECT_EQ(extra["nodule"].get<int>(), 1);
    EXPECT_EQ(extra["slice_index"].get<int>(), p.info.slice_index);
    EXPECT_EQ(extra["sop_uid"].get<std::string>(), p.info.sop_uid);
    EXPECT_EQ(extra["reader_ids"].get<std::vector<std::string>>(), p.info.reader_ids);
    EXPECT_EQ(extra["reader_ids"][0].get<std::string>(), "540461523");
    EXPECT_TRUE(torch::equal(store.images()[i], p.image));
    EXPECT_TRUE(torch::equal(store.masks()[i], p.masks));
    ++i;
  });
  EXPECT_EQ(i, store.size());
}

TEST_F(ImportLidcStore, NoMatchingSeriesWritesNothing) {
  const std::string empty_dicom = test::path_in(tmp_, "no_dicom");
  fs::create_directories(empty_dicom);
  const std::string out = test::path_in(tmp_, "store");
  const auto r = test::run_cli(
      {"data", "import-lidc", "--dicom-root", empty_dicom, "--xml-root", xml_dir(), out});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("0 of 1 XML reads have their DICOM series"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace psam::data
