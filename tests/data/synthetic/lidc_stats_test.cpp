#include "psam/data/synthetic/lidc_stats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "data/lidc_test_util.h"

namespace {

using psam::data::LidcNodule;
using psam::data::LidcPoint;
using psam::data::LidcRoi;

constexpr double kPi = 3.14159265358979323846;

std::vector<LidcPoint> square(int x0, int y0, int x1, int y1) {
  return {{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}};
}

LidcNodule outlined(std::vector<LidcRoi> rois) {
  LidcNodule n;
  n.id = "n";
  n.rois = std::move(rois);
  return n;
}

// Readers 0 and 1 outline the same 5x5-pixel square on slices z = 0 and 1, reader 2 a shifted
// square on z = 0 only, reader 3 marks the lesion as a point (< 3 mm).
psam::data::LidcXml four_readers() {
  psam::data::LidcXml xml;
  xml.sessions.resize(4);
  for (int s = 0; s < 2; ++s) {
    xml.sessions[s].nodules.push_back(
        outlined({{0, "a", true, square(0, 0, 4, 4)}, {1, "b", true, square(0, 0, 4, 4)}}));
  }
  xml.sessions[2].nodules.push_back(outlined({{0, "a", true, square(2, 2, 6, 6)}}));
  xml.sessions[3].nodules.push_back(outlined({{0, "a", true, {{2, 2}}}}));
  return xml;
}

TEST(LidcStats, HandComputedFourReaderCase) {
  psam::data::LidcStatsAccumulator acc({0.7, {}, 4});
  acc.add(four_readers());
  const auto st = acc.finish();
  EXPECT_EQ(st.series, 1);
  EXPECT_EQ(st.sessions, 4);
  EXPECT_EQ(st.annotations, 3);
  EXPECT_EQ(st.physical_nodules, 1);
  EXPECT_EQ(st.slices, 2);
  EXPECT_EQ(st.nodules_by_readers[3], 1);
  EXPECT_EQ(st.slices_by_readers[3], 1);
  EXPECT_EQ(st.slices_by_readers[2], 1);
  EXPECT_DOUBLE_EQ(st.nodule_missing_share, 1.0 / 4);
  EXPECT_DOUBLE_EQ(st.slice_empty_share, 3.0 / 8);
  EXPECT_DOUBLE_EQ(st.missing_marked_as_point_share, 1.0);  // reader 3's point is inside

  // z = 0: squares of 25 px overlapping in 3x3 = 9 px, IoU 9/41; identical squares IoU 1.
  EXPECT_EQ(st.slice_iou.count, 4);
  EXPECT_NEAR(st.slice_iou.mean, (2 + 18.0 / 41) / 4, 1e-12);
  EXPECT_NEAR(st.slice_iou.median, (9.0 / 41 + 1) / 2, 1e-12);
  EXPECT_EQ(st.slice_iou_all.count, 12);  // 6 pairs of 4 readers on 2 slices
  EXPECT_NEAR(st.slice_iou_all.mean, (3 + 18.0 / 41) / 12, 1e-12);
  // Volumes of 50, 50 and 25 voxels; reader 2 meets the others in 9.
  EXPECT_EQ(st.nodule_iou.count, 3);
  EXPECT_NEAR(st.nodule_iou.mean, (1 + 2 * 9.0 / 66) / 3, 1e-12);
  EXPECT_NEAR(st.slice_centroid_offset_px.mean, std::sqrt(8.0) / 2, 1e-12);
  EXPECT_DOUBLE_EQ(st.slice_area_ratio.min, 1.0);
  EXPECT_EQ(st.slice_area_px.count, 5);
  EXPECT_DOUBLE_EQ(st.slice_area_px.max, 25);
  EXPECT_NEAR(st.slice_diameter_px.max, 2 * std::sqrt(41 / kPi), 1e-12);
  const double v = 0.7 * 0.7 * 1.0;  // voxel (mm^3): nominal spacing, slice step 1 mm
  const auto d = [&](double voxels) { return std::cbrt(6 * voxels * v / kPi); };
  EXPECT_NEAR(st.nodule_diameter_mm.mean, (2 * d(50) + d(25)) / 3, 1e-12);
  EXPECT_NEAR(st.nodule_max_slice_diameter_mm.mean, 2 * std::sqrt(25 / kPi) * 0.7, 1e-12);
  EXPECT_DOUBLE_EQ(st.slices_per_nodule.mean, 2);

  const auto j = nlohmann::json::parse(st.json());
  EXPECT_EQ(j["counts"]["physical_nodules"], 1);
  EXPECT_EQ(j["nodules_by_readers"][3], 1);
  const std::string md = st.markdown("a test");
  EXPECT_NE(md.find("| physical nodules | 1 |"), std::string::npos) << md;
}

TEST(LidcStats, DistributionQuantilesInterpolate) {
  const auto d = psam::data::Distribution::of({4, 1, 3, 2, 5});
  EXPECT_EQ(d.count, 5);
  EXPECT_DOUBLE_EQ(d.mean, 3);
  EXPECT_DOUBLE_EQ(d.median, 3);
  EXPECT_DOUBLE_EQ(d.p25, 2);
  EXPECT_DOUBLE_EQ(d.p10, 1.4);
  EXPECT_DOUBLE_EQ(d.min, 1);
  EXPECT_DOUBLE_EQ(d.max, 5);
  EXPECT_EQ(psam::data::Distribution::of({}).count, 0);
}

// LIDC-IDRI-0221 (186/195.xml): one nodule that all four radiologists outlined, on 9 slices; per
// ElementTree, all four drew z = -121.0 ... -103.5 and only the first drew z = -123.5.
TEST(LidcStats, Lidc0221ReaderCountsPerSlice) {
  PSAM_REQUIRE_REALDATA("lidc_xml_annotations/examples/186_195.xml");
  psam::data::LidcStatsAccumulator acc;
  acc.add(psam::data::read_lidc_xml(psam::testing::lidc_example("186_195.xml")));
  const auto st = acc.finish();
  EXPECT_EQ(st.physical_nodules, 1);
  EXPECT_EQ(st.nodules_by_readers[4], 1);
  EXPECT_EQ(st.slices, 9);
  EXPECT_EQ(st.slices_by_readers[1], 1);
  EXPECT_EQ(st.slices_by_readers[4], 8);
  EXPECT_DOUBLE_EQ(st.slice_empty_share, 3 / 36.0);
  EXPECT_EQ(st.slice_iou.count, 8 * 6);
  EXPECT_GT(st.slice_iou.median, 0.5);  // the readers agree on where the nodule is
  EXPECT_DOUBLE_EQ(st.slices_per_nodule.mean, 9);
}

}  // namespace
