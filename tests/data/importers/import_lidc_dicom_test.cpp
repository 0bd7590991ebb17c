#include "psam/data/importers/import_lidc_dicom.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <map>
#include <set>

#include "data/lidc_series_fixture.h"
#include "data/lidc_test_util.h"
#include "data/synthetic_dicom.h"
#include "psam/io/dicom.h"
#include "psam/util/error.h"

namespace {

using psam::data::LidcImporter;
using psam::data::LidcPatch;
using psam::data::LidcXml;
using psam::testing::kSpacing;
using psam::testing::outlines_at;
using psam::testing::write_series;
using torch::indexing::Slice;

// Area centroid (x, y) of inclusion polygons by the shoelace formula: continuous geometry,
// independent of any pixel rule.
std::array<double, 2> polygon_centroid(const std::vector<const psam::data::LidcRoi*>& rois) {
  double a = 0, cx = 0, cy = 0;
  for (const auto* r : rois) {
    const auto& p = r->edge;
    for (std::size_t i = 0; i < p.size(); ++i) {
      const auto& u = p[i];
      const auto& v = p[(i + 1) % p.size()];
      const double c = static_cast<double>(u.x) * v.y - static_cast<double>(v.x) * u.y;
      a += c, cx += (u.x + v.x) * c, cy += (u.y + v.y) * c;
    }
  }
  return {cx / (3 * a), cy / (3 * a)};
}

std::vector<LidcPatch> run(const LidcImporter& importer) {
  std::vector<LidcPatch> out;
  importer.run([&](LidcPatch&& p) { out.push_back(std::move(p)); });
  return out;
}

class ImportLidc0001 : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(psam::testing::lidc_example("185_069.xml")))
      GTEST_SKIP() << "needs ../shared/realdata/lidc_xml_annotations (present in CI)";
    xml_ = psam::data::read_lidc_xml(psam::testing::lidc_example("185_069.xml"));
    write_series(xml_, dir_.path(), -130.0, -100.0, 2.5);
  }
  LidcXml xml_;
  psam::testing::TempDir dir_;
};

TEST_F(ImportLidc0001, PatchesMasksAndMetaEndToEnd) {
  psam::data::LidcImporter importer({xml_}, psam::data::index_dicom_tree(dir_.path()));
  const auto& report = importer.report();
  EXPECT_EQ(report.xml_reads, 1);
  EXPECT_EQ(report.series_found, 1);
  EXPECT_EQ(report.nodules, 1);  // the one nodule all four radiologists outlined
  EXPECT_EQ(report.rois_by_sop, 8 + 7 + 8 + 9);
  EXPECT_EQ(report.rois_by_z + report.rois_unmatched, 0);
  ASSERT_EQ(importer.planned(), 9);  // z = -125.0 ... -105.0

  const auto patches = run(importer);
  ASSERT_EQ(patches.size(), 9u);
  std::set<std::string> ids;
  for (std::size_t i = 0; i < patches.size(); ++i) {
    const auto& p = patches[i];
    const auto& info = p.info;
    SCOPED_TRACE(info.id);
    EXPECT_TRUE(ids.insert(info.id).second);
    EXPECT_DOUBLE_EQ(info.z, -125.0 + 2.5 * i);
    EXPECT_EQ(info.patient_id, "LIDC-IDRI-0001");
    EXPECT_EQ(info.series_uid, xml_.series_uid);
    EXPECT_EQ(info.nodule, 1);
    EXPECT_EQ(info.readers, 4);
    EXPECT_DOUBLE_EQ(info.patch_spacing, 0.5);
    ASSERT_EQ(p.image.sizes(), (std::vector<int64_t>{128, 128}));
    ASSERT_EQ(p.masks.sizes(), (std::vector<int64_t>{4, 128, 128}));
    EXPECT_EQ(p.masks.dtype(), torch::kByte);
    ASSERT_EQ(info.reader_ids.size(), 4u);
    EXPECT_EQ(info.reader_ids[0], "540461523");
    EXPECT_EQ(info.reader_nodule_ids[0], "Nodule 001");
    EXPECT_EQ(info.malignancy[0], 5);

    // Which readers drew this slice, straight from the XML: their masks are non-empty, the
    // others' empty.
    const auto edges = outlines_at(xml_, info.z);
    EXPECT_EQ(info.readers_on_slice, static_cast<int>(edges.size()));
    for (int k = 0; k < 4; ++k) {
      const auto mask = p.masks[k];
      if (!edges.count(k)) {
        EXPECT_EQ(mask.sum().item<long>(), 0) << "reader " << k;
        continue;
      }
      ASSERT_GT(mask.sum().item<long>(), 0) << "reader " << k;
      // The mask centroid, mapped back to CT pixels, sits on the centroid of the reader's polygon.
      const auto idx = mask.nonzero().to(torch::kDouble).mean(0);
      const double step = 0.5 / kSpacing;
      const double row = info.centre[0] + (idx[0].item<double>() - 64) * step;
      const double col = info.centre[1] + (idx[1].item<double>() - 64) * step;
      const auto [ex, ey] = polygon_centroid(edges.at(k));
      EXPECT_NEAR(row, ey, 0.5) << "reader " << k;
      EXPECT_NEAR(col, ex, 0.5) << "reader " << k;
      // Mask pixels lie on the bright disc drawn around the outlines.
      const auto hu_inside = p.image.masked_select(mask.to(torch::kBool));
      EXPECT_GT(hu_inside.gt(-500).to(torch::kFloat).mean().item<float>(), 0.95) << "reader " << k;
    }
    EXPECT_GT(p.image.index({64, 64}).item<float>(), 0);          // nodule at the centre
    EXPECT_FLOAT_EQ(p.image.index({0, 0}).item<float>(), -1000);  // air in the corner
  }
  // z = -125: reader 1 did not draw it; z = -105: only reader 3 did.
  EXPECT_EQ(patches.front().info.readers_on_slice, 3);
  EXPECT_EQ(patches.back().info.readers_on_slice, 1);
}

TEST_F(ImportLidc0001, NativeSpacingIsAnExactCrop) {
  psam::data::LidcImportOptions options;
  options.patch_spacing_mm = 0;
  options.patch_size = 64;
  const auto index = psam::data::index_dicom_tree(dir_.path());
  psam::data::LidcImporter importer({xml_}, index, options);
  const auto patches = run(importer);
  ASSERT_EQ(patches.size(), 9u);
  const auto& series = index.series.begin()->second;
  for (const auto& p : patches) {
    SCOPED_TRACE(p.info.id);
    EXPECT_DOUBLE_EQ(p.info.patch_spacing, kSpacing);
    const int r0 = p.info.centre[0] - 32, c0 = p.info.centre[1] - 32;
    const auto slice = psam::io::read_dicom(series.slices[p.info.slice_index].path);
    EXPECT_TRUE(torch::equal(p.image, slice.hu.index({Slice(r0, r0 + 64), Slice(c0, c0 + 64)})));
    // Each slot equals that reader's mask rendered straight on the CT grid.
    for (int k = 0; k < 4; ++k) {
      std::vector<const psam::data::LidcRoi*> rois;
      for (const auto& n : xml_.sessions[k].nodules)
        for (const auto& r : n.rois)
          if (n.has_contour() && r.sop_uid == p.info.sop_uid) rois.push_back(&r);
      const auto expected = psam::data::reader_slice_mask(rois, {r0, c0, 64, 64});
      EXPECT_TRUE(torch::equal(p.masks[k], expected)) << "reader " << k;
    }
  }
}

TEST_F(ImportLidc0001, MissingSeriesAndRoisOffTheGridAreReported) {
  LidcXml other = xml_;
  other.series_uid = "1.2.3.4";
  other.path = "other.xml";
  // Drop the SOP UIDs of one session: its rois must be matched by z instead.
  LidcXml by_z = xml_;
  for (auto& n : by_z.sessions[2].nodules)
    for (auto& r : n.rois) r.sop_uid = "unknown";
  psam::data::LidcImporter importer({by_z, other}, psam::data::index_dicom_tree(dir_.path()));
  const auto& report = importer.report();
  EXPECT_EQ(report.xml_reads, 2);
  EXPECT_EQ(report.series_found, 1);
  ASSERT_EQ(report.missing_series.size(), 1u);
  EXPECT_EQ(report.missing_series[0], "1.2.3.4");
  EXPECT_EQ(report.rois_by_z, 8);
  EXPECT_EQ(importer.planned(), 9);
}

// More sessions than mask slots (as 188/011.xml has 8): the nodule keeps its first K readers,
// which fill the slots in session order.
TEST_F(ImportLidc0001, MoreSessionsThanSlots) {
  LidcXml six = xml_;
  for (int s : {3, 1}) {
    six.sessions.push_back(xml_.sessions[s]);
    six.sessions.back().radiologist_id = "copy of " + xml_.sessions[s].radiologist_id;
  }
  psam::data::LidcImportOptions options;
  options.max_readers = 3;
  psam::data::LidcImporter importer({six}, psam::data::index_dicom_tree(dir_.path()), options);
  EXPECT_EQ(importer.report().nodules, 1);
  EXPECT_EQ(importer.report().dropped_readers, 3);
  const auto patches = run(importer);
  ASSERT_EQ(patches.size(), 8u);  // z = -105 was drawn by session 3 only, now dropped
  for (const auto& p : patches) {
    EXPECT_EQ(p.masks.size(0), 3);
    EXPECT_EQ(p.info.readers, 3);
    EXPECT_EQ(p.info.reader_ids, (std::vector<std::string>{xml_.sessions[0].radiologist_id,
                                                           xml_.sessions[1].radiologist_id,
                                                           xml_.sessions[2].radiologist_id}));
  }
}

TEST(ResamplePatch, NativeHalfAndOutside) {
  const auto src = torch::arange(30, torch::kFloat32).view({1, 5, 6});
  // step 1 with an integer centre: an exact crop (pixel (size/2, size/2) = the centre).
  const auto crop = psam::data::resample_patch(src, 10, 20, {12, 23}, {1, 1}, 2, -7);
  EXPECT_TRUE(torch::equal(crop[0], src[0].index({Slice(1, 3), Slice(2, 4)})));
  // step 0.5: midpoints are the means of neighbours.
  const auto half = psam::data::resample_patch(src, 0, 0, {2, 2}, {0.5, 0.5}, 4, 0);
  EXPECT_NEAR(half.index({0, 2, 3}).item<float>(),
              (src.index({0, 2, 2}).item<float>() + src.index({0, 2, 3}).item<float>()) / 2, 1e-5);
  EXPECT_NEAR(half.index({0, 2, 2}).item<float>(), src.index({0, 2, 2}).item<float>(), 1e-5);
  // Far outside: the outside value.
  const auto off = psam::data::resample_patch(src, 0, 0, {100, 100}, {1, 1}, 2, -1024);
  EXPECT_TRUE(torch::all(off.eq(-1024)).item<bool>());
}

}  // namespace
