#include "psam/data/importers/lidc_masks.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <random>
#include <set>

#include "data/lidc_test_util.h"
#include "psam/data/importers/lidc_xml.h"
#include "psam/util/error.h"

namespace {

using psam::data::LidcPoint;
using psam::data::LidcRoi;
using psam::data::PixelWindow;

LidcRoi roi(std::vector<LidcPoint> edge, bool inclusion = true, double z = 0,
            std::string sop = "s") {
  return {z, std::move(sop), inclusion, std::move(edge)};
}

std::vector<LidcPoint> square(int x0, int y0, int x1, int y1) {
  std::vector<LidcPoint> p;  // every lattice point of the outline, as LIDC writes edges
  for (int x = x0; x < x1; ++x) p.push_back({x, y0});
  for (int y = y0; y < y1; ++y) p.push_back({x1, y});
  for (int x = x1; x > x0; --x) p.push_back({x, y1});
  for (int y = y1; y > y0; --y) p.push_back({x0, y});
  return p;
}

long pixels(const at::Tensor& t) { return t.sum().item<long>(); }

at::Tensor render(const std::vector<LidcRoi>& rois, PixelWindow w, bool outline = true) {
  std::vector<const LidcRoi*> ptrs;
  for (const auto& r : rois) ptrs.push_back(&r);
  return psam::data::reader_slice_mask(ptrs, w, {outline});
}

TEST(LidcMasks, SquareWithAndWithoutOutline) {
  const auto r = roi(square(2, 3, 6, 7));
  const auto with = render({r}, {0, 0, 10, 10});
  const auto without = render({r}, {0, 0, 10, 10}, false);
  EXPECT_EQ(pixels(with), 25);
  EXPECT_EQ(pixels(without), 9);
  EXPECT_EQ(with.index({3, 2}).item<int>(), 1);  // row = y, column = x
  EXPECT_EQ(without.index({3, 2}).item<int>(), 0);
  EXPECT_EQ(pixels(with.index({torch::indexing::Slice(3, 8), torch::indexing::Slice(2, 7)})), 25);
  EXPECT_EQ(pixels(without.index({torch::indexing::Slice(4, 7), torch::indexing::Slice(3, 6)})), 9);
}

TEST(LidcMasks, CornersOnlyPolygonRasterisesItsEdges) {
  // Vertices alone: the segments between them become outline pixels.
  const auto r = roi({{2, 3}, {6, 3}, {6, 7}, {2, 7}});
  EXPECT_TRUE(
      torch::equal(render({r}, {0, 0, 10, 10}), render({roi(square(2, 3, 6, 7))}, {0, 0, 10, 10})));
  const auto tri = roi({{0, 0}, {4, 4}, {0, 4}});  // right triangle: 15 lattice points on/in it
  EXPECT_EQ(pixels(render({tri}, {0, 0, 5, 5})), 15);
  EXPECT_EQ(pixels(render({tri}, {0, 0, 5, 5}, false)), 15 - 12);
}

TEST(LidcMasks, PointsAndLines) {
  EXPECT_EQ(pixels(render({roi({{4, 5}})}, {0, 0, 10, 10})), 1);
  EXPECT_EQ(render({roi({{4, 5}})}, {0, 0, 10, 10}).index({5, 4}).item<int>(), 1);
  EXPECT_EQ(pixels(render({roi({{1, 1}, {5, 3}})}, {0, 0, 10, 10})), 5);
  EXPECT_EQ(pixels(render({roi({{4, 5}})}, {0, 0, 10, 10}, false)), 0);
}

TEST(LidcMasks, ExclusionIsSubtractedWhateverTheOrder) {
  const auto outer = roi(square(0, 0, 10, 10));
  const auto hole = roi(square(3, 3, 7, 7), false);
  const PixelWindow w{0, 0, 11, 11};
  EXPECT_EQ(pixels(render({outer, hole}, w)), 121 - 25);
  EXPECT_TRUE(torch::equal(render({outer, hole}, w), render({hole, outer}, w)));
  // Outlines outside what they bound: the hole's outline stays nodule, its interior goes.
  EXPECT_EQ(pixels(render({outer, hole}, w, false)), 81 - 9);
  EXPECT_EQ(pixels(render({hole}, w)), 0);
}

TEST(LidcMasks, HugeWindowIsAnError) {
  const auto r = roi({{0, 0}, {65535, 65535}});
  EXPECT_THROW(render({r}, psam::data::bounding_window({&r})), psam::Error);
}

TEST(LidcMasks, UnionOfSeveralInclusionsAndWindowClipping) {
  const auto a = roi(square(0, 0, 4, 4));
  const auto b = roi(square(2, 2, 6, 6));
  EXPECT_EQ(pixels(render({a, b}, {0, 0, 8, 8})), 25 + 25 - 9);
  EXPECT_EQ(pixels(render({a, b}, {0, 0, 8, 8}, false)), 9 + 9 - 1);
  const auto full = render({a, b}, {-2, -2, 12, 12});
  const auto part = render({a, b}, {1, 3, 4, 5});
  EXPECT_TRUE(torch::equal(
      part, full.index({torch::indexing::Slice(3, 7), torch::indexing::Slice(5, 10)})));
}

// Exact lattice geometry for the tests below, independent of the scanline fill.
long cross(LidcPoint o, LidcPoint a, LidcPoint b) {
  return static_cast<long>(a.x - o.x) * (b.y - o.y) - static_cast<long>(a.y - o.y) * (b.x - o.x);
}

bool on_segment(LidcPoint p, LidcPoint a, LidcPoint b) {
  return cross(a, b, p) == 0 && std::min(a.x, b.x) <= p.x && p.x <= std::max(a.x, b.x) &&
         std::min(a.y, b.y) <= p.y && p.y <= std::max(a.y, b.y);
}

bool on_boundary(LidcPoint p, const std::vector<LidcPoint>& poly) {
  for (std::size_t i = 0; i < poly.size(); ++i)
    if (on_segment(p, poly[i], poly[(i + 1) % poly.size()])) return true;
  return false;
}

// Ray casting to +x (not on the boundary): odd crossings = inside.
bool inside(LidcPoint p, const std::vector<LidcPoint>& poly) {
  bool in = false;
  for (std::size_t i = 0, j = poly.size() - 1; i < poly.size(); j = i++) {
    const auto a = poly[i], b = poly[j];
    if ((a.y > p.y) != (b.y > p.y)) {
      const double x = a.x + static_cast<double>(p.y - a.y) * (b.x - a.x) / (b.y - a.y);
      if (p.x < x) in = !in;
    }
  }
  return in;
}

// Distance along the minor axis from p to the segment a-b, within its major-axis span.
bool near_segment(LidcPoint p, LidcPoint a, LidcPoint b) {
  const int dx = b.x - a.x, dy = b.y - a.y;
  if (std::abs(dx) >= std::abs(dy)) {
    if (dx == 0) return p.x == a.x && p.y == a.y;
    if (p.x < std::min(a.x, b.x) || p.x > std::max(a.x, b.x)) return false;
    return std::abs(a.y + static_cast<double>(p.x - a.x) * dy / dx - p.y) <= 0.5;
  }
  if (p.y < std::min(a.y, b.y) || p.y > std::max(a.y, b.y)) return false;
  return std::abs(a.x + static_cast<double>(p.y - a.y) * dx / dy - p.x) <= 0.5;
}

TEST(LidcMasks, RandomPolygonsAgreeWithRayCasting) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> coord(0, 24), count(3, 9);
  const PixelWindow w{-1, -1, 27, 27};
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<LidcPoint> poly(count(rng));
    for (auto& p : poly) p = {coord(rng), coord(rng)};
    const auto with = render({roi(poly)}, w);
    const auto without = render({roi(poly)}, w, false);
    const auto a1 = with.accessor<uint8_t, 2>();
    const auto a0 = without.accessor<uint8_t, 2>();
    for (int y = w.row0; y < w.row0 + w.rows; ++y) {
      for (int x = w.col0; x < w.col0 + w.cols; ++x) {
        const LidcPoint p{x, y};
        const bool b = on_boundary(p, poly), in = !b && inside(p, poly);
        bool near = false;
        for (std::size_t i = 0; i < poly.size(); ++i)
          near |= near_segment(p, poly[i], poly[(i + 1) % poly.size()]);
        const int m1 = a1[y - w.row0][x - w.col0];
        const int m0 = a0[y - w.row0][x - w.col0];
        const std::string at = "trial " + std::to_string(trial) + " pixel " + std::to_string(x) +
                               "," + std::to_string(y);
        if (in || b) {
          EXPECT_EQ(m1, 1) << at;
        } else if (m1) {
          EXPECT_TRUE(near) << at;
        }
        if (m0) {
          EXPECT_TRUE(in) << at;
        } else if (in) {
          EXPECT_TRUE(near) << at;
        }
      }
    }
    if (HasFailure()) break;
    // Drawing direction does not matter.
    auto reversed = poly;
    std::reverse(reversed.begin(), reversed.end());
    ASSERT_TRUE(torch::equal(with, render({roi(reversed)}, w))) << "trial " << trial;
    ASSERT_TRUE(torch::equal(without, render({roi(reversed)}, w, false))) << "trial " << trial;
  }
}

// Pick's theorem on the real outlines: for a simple lattice polygon whose consecutive points are
// 8-neighbours, the boundary lattice points are its B vertices and the interior has
// I = A - B/2 + 1 points (A by the shoelace formula), so the mask has I + B pixels with the
// outline and I without.
bool simple_8connected(const std::vector<LidcPoint>& p) {
  const std::size_t n = p.size();
  if (n < 4) return false;
  std::set<std::pair<int, int>> seen;
  for (std::size_t i = 0; i < n; ++i) {
    const auto a = p[i], b = p[(i + 1) % n];
    if (std::max(std::abs(a.x - b.x), std::abs(a.y - b.y)) != 1) return false;
    if (!seen.insert({a.x, a.y}).second) return false;
  }
  // Two diagonal steps crossing inside one lattice cell also break simplicity.
  std::set<std::array<int, 4>> diagonals;
  for (std::size_t i = 0; i < n; ++i) {
    const auto a = p[i], b = p[(i + 1) % n];
    if (a.x != b.x && a.y != b.y) {
      const int cx = std::min(a.x, b.x), cy = std::min(a.y, b.y);
      const bool main = (a.x - b.x) == (a.y - b.y);
      if (diagonals.count({cx, cy, !main, 0})) return false;
      diagonals.insert({cx, cy, main, 0});
    }
  }
  return true;
}

TEST(LidcMasks, RealOutlinesObeyPicksTheorem) {
  PSAM_REQUIRE_REALDATA("lidc_xml_annotations/examples/185_071.xml");
  int checked = 0, total = 0;
  for (const char* name : {"185_069.xml", "185_071.xml", "186_195.xml", "189_110.xml"}) {
    const auto xml = psam::data::read_lidc_xml(psam::testing::lidc_example(name));
    for (const auto& s : xml.sessions) {
      for (const auto& n : s.nodules) {
        for (const auto& r : n.rois) {
          if (r.edge.size() < 2) continue;
          ++total;
          auto poly = r.edge;
          if (poly.size() > 1 && poly.front().x == poly.back().x && poly.front().y == poly.back().y)
            poly.pop_back();
          if (!simple_8connected(poly)) continue;
          long twice_area = 0;
          for (std::size_t i = 0; i < poly.size(); ++i)
            twice_area += cross({0, 0}, poly[i], poly[(i + 1) % poly.size()]);
          const long b = static_cast<long>(poly.size());
          const long interior = (std::labs(twice_area) - b + 2) / 2;
          const auto w = psam::data::bounding_window({&r}, 1);
          LidcRoi inc = r;
          inc.inclusion = true;
          EXPECT_EQ(pixels(render({inc}, w)), interior + b) << name << " z " << r.z;
          EXPECT_EQ(pixels(render({inc}, w, false)), interior) << name << " z " << r.z;
          ++checked;
        }
      }
    }
  }
  // Most LIDC outlines are simple 8-connected chains; the check must cover them.
  EXPECT_GT(checked, total / 2) << checked << " of " << total;
  std::cout << "Pick's theorem checked on " << checked << " of " << total << " outlines\n";
}

psam::data::LidcNodule nodule(std::vector<LidcRoi> rois, std::string id = "n") {
  psam::data::LidcNodule n;
  n.id = std::move(id);
  n.rois = std::move(rois);
  return n;
}

psam::data::LidcXml reads(std::vector<std::vector<psam::data::LidcNodule>> sessions) {
  psam::data::LidcXml xml;
  for (auto& s : sessions) {
    psam::data::LidcReadingSession rs;
    rs.nodules = std::move(s);
    xml.sessions.push_back(std::move(rs));
  }
  return xml;
}

TEST(LidcMasks, AnnotationDistance) {
  const auto a = nodule({roi(square(0, 0, 4, 4), true, 0)});
  const auto b = nodule({roi(square(10, 0, 14, 4), true, 0)});
  EXPECT_DOUBLE_EQ(psam::data::annotation_distance(a, b, 0.5), 3.0);  // 6 px * 0.5 mm
  const auto c = nodule({roi(square(0, 0, 4, 4), true, 2.0)});
  EXPECT_DOUBLE_EQ(psam::data::annotation_distance(a, c, 0.5), 2.0);  // next slice
  const auto big = nodule({roi(square(-20, -20, 24, 24), true, 0)});
  EXPECT_DOUBLE_EQ(psam::data::annotation_distance(a, big, 0.7), 0.0);  // nested
  EXPECT_DOUBLE_EQ(psam::data::annotation_distance(big, a, 0.7), 0.0);
}

TEST(LidcMasks, GroupingJoinsReadersNotSessions) {
  using psam::data::group_nodules;
  const auto near1 = [](int dx) { return nodule({roi(square(dx, 0, dx + 4, 4))}); };
  const auto far1 = [](int dx) { return nodule({roi(square(100 + dx, 100, 104 + dx, 104))}); };
  // Two lesions, three readers; reader 2 saw only the first. Reader 0 has two outlines close
  // to each other, which must stay separate nodules.
  auto xml = reads({{near1(0), far1(0), near1(5)}, {far1(1), near1(1)}, {near1(2)}});
  const auto groups = group_nodules(xml, {0.7, 2.5, 4});
  ASSERT_EQ(groups.size(), 3u);
  ASSERT_EQ(groups[0].readers.size(), 3u);  // first outline of session 0 + sessions 1 and 2
  EXPECT_EQ(groups[0].readers[0].session, 0);
  EXPECT_EQ(groups[0].readers[0].nodule, 0);
  EXPECT_EQ(groups[0].readers[1].session, 1);
  EXPECT_EQ(groups[0].readers[1].nodule, 1);
  EXPECT_EQ(groups[0].readers[2].session, 2);
  ASSERT_EQ(groups[1].readers.size(), 2u);  // the far lesion, sessions 0 and 1
  EXPECT_EQ(groups[1].readers[0].nodule, 1);
  EXPECT_EQ(groups[1].readers[1].nodule, 0);
  ASSERT_EQ(groups[2].readers.size(), 1u);  // session 0's second near outline on its own
  EXPECT_EQ(groups[2].readers[0].nodule, 2);

  // A gap larger than the tolerance separates; within it joins.
  auto two = reads({{near1(0)}, {near1(8)}});               // 4 px gap
  EXPECT_EQ(group_nodules(two, {0.7, 2.5, 4}).size(), 2u);  // 2.8 mm
  EXPECT_EQ(group_nodules(two, {0.7, 3.0, 4}).size(), 1u);

  // Points (nodules < 3 mm) are not grouped.
  auto points = reads({{nodule({roi({{1, 1}})})}, {near1(0)}});
  ASSERT_EQ(group_nodules(points, {0.7, 2.5, 4}).size(), 1u);
}

TEST(LidcMasks, GroupingCapsReaders) {
  std::vector<std::vector<psam::data::LidcNodule>> sessions;
  for (int s = 0; s < 6; ++s) sessions.push_back({nodule({roi(square(s, 0, s + 4, 4))})});
  const auto groups = psam::data::group_nodules(reads(sessions), {0.7, 2.5, 4});
  ASSERT_EQ(groups.size(), 1u);
  ASSERT_EQ(groups[0].readers.size(), 4u);
  EXPECT_EQ(groups[0].dropped_readers, 2);
  EXPECT_EQ(groups[0].readers[3].session, 3);
}

TEST(LidcMasks, RealFilesGroupIntoPhysicalNodules) {
  PSAM_REQUIRE_REALDATA("lidc_xml_annotations/examples/186_195.xml");
  // LIDC-IDRI-0221: the one nodule all four radiologists outlined (lidc0221_crops_4readers).
  const auto xml = psam::data::read_lidc_xml(psam::testing::lidc_example("186_195.xml"));
  const double step = psam::data::estimate_slice_step(xml);
  EXPECT_DOUBLE_EQ(step, 2.5);
  const auto groups = psam::data::group_nodules(xml, {0.7, step, 4});
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0].readers.size(), 4u);

  // 188/011 (LIDC-IDRI-0566) has 8 sessions: no group may exceed 4 readers.
  const auto eight = psam::data::read_lidc_xml(psam::testing::lidc_example("188_011.xml"));
  for (const auto& g :
       psam::data::group_nodules(eight, {0.7, psam::data::estimate_slice_step(eight), 4})) {
    EXPECT_LE(g.readers.size(), 4u);
    std::set<int> sessions;
    for (const auto& r : g.readers) EXPECT_TRUE(sessions.insert(r.session).second);
  }
}

}  // namespace
