#include "psam/data/importers/lidc_masks.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <tuple>

#include "psam/util/error.h"

namespace psam::data {
namespace {

// floor(num / den) for den > 0, also for negative num.
long floor_div(long num, long den) { return num >= 0 ? num / den : -((-num + den - 1) / den); }

// Calls f(x, y) for every pixel of the segment a-b (both ends included): the longer axis is
// stepped, the other coordinate rounded half up in absolute terms, so a-b and b-a agree.
template <typename F>
void for_each_segment_pixel(LidcPoint a, LidcPoint b, F&& f) {
  const long dx = b.x - a.x, dy = b.y - a.y;
  const long n = std::max(std::labs(dx), std::labs(dy));
  if (n == 0) {
    f(a.x, a.y);
    return;
  }
  for (long i = 0; i <= n; ++i) {
    // round((a * n + i * d) / n) = floor((2 (a n + i d) + n) / (2 n))
    const long x = floor_div(2 * (a.x * n + i * dx) + n, 2 * n);
    const long y = floor_div(2 * (a.y * n + i * dy) + n, 2 * n);
    f(static_cast<int>(x), static_cast<int>(y));
  }
}

}  // namespace

PixelWindow bounding_window(const std::vector<const LidcRoi*>& rois, int margin) {
  int r0 = std::numeric_limits<int>::max(), c0 = r0;
  int r1 = std::numeric_limits<int>::min(), c1 = r1;
  for (const auto* roi : rois) {
    for (const auto& p : roi->edge) {
      r0 = std::min(r0, p.y), r1 = std::max(r1, p.y);
      c0 = std::min(c0, p.x), c1 = std::max(c1, p.x);
    }
  }
  if (r0 > r1) return {};
  return {r0 - margin, c0 - margin, r1 - r0 + 1 + 2 * margin, c1 - c0 + 1 + 2 * margin};
}

void fill_polygon(const std::vector<LidcPoint>& polygon, const PixelWindow& w, bool include_outline,
                  std::uint8_t* mask) {
  if (polygon.empty() || w.rows <= 0 || w.cols <= 0) return;
  // The polygon alone first: without include_outline its outline pixels are cleared, which must
  // not erase what earlier polygons set in mask.
  std::vector<std::uint8_t> own(static_cast<std::size_t>(w.rows) * w.cols, 0);

  // Interior: crossings of each pixel-centre row with the edges, half-open in y so a vertex on
  // the row counts once (or twice at a local extreme), then the centres strictly between pairs.
  const int n = static_cast<int>(polygon.size());
  std::vector<std::vector<double>> crossings(w.rows);
  for (int i = 0; i < n; ++i) {
    const LidcPoint a = polygon[i], b = polygon[(i + 1) % n];
    if (a.y == b.y) continue;
    const int lo = std::max(std::min(a.y, b.y), w.row0);
    const int hi = std::min(std::max(a.y, b.y), w.row0 + w.rows);  // exclusive
    for (int y = lo; y < hi; ++y) {
      crossings[y - w.row0].push_back(a.x +
                                      static_cast<double>(y - a.y) * (b.x - a.x) / (b.y - a.y));
    }
  }
  for (int r = 0; r < w.rows; ++r) {
    auto& xs = crossings[r];
    std::sort(xs.begin(), xs.end());
    for (std::size_t k = 0; k + 1 < xs.size(); k += 2) {
      const int first = std::max(static_cast<int>(std::floor(xs[k])) + 1, w.col0);
      const int last = std::min(static_cast<int>(std::ceil(xs[k + 1])) - 1, w.col0 + w.cols - 1);
      for (int x = first; x <= last; ++x)
        own[static_cast<std::size_t>(r) * w.cols + (x - w.col0)] = 1;
    }
  }

  const std::uint8_t outline = include_outline ? 1 : 0;
  for (int i = 0; i < n; ++i) {
    for_each_segment_pixel(polygon[i], polygon[(i + 1) % n], [&](int x, int y) {
      const int r = y - w.row0, c = x - w.col0;
      if (r >= 0 && r < w.rows && c >= 0 && c < w.cols)
        own[static_cast<std::size_t>(r) * w.cols + c] = outline;
    });
  }
  for (std::size_t i = 0; i < own.size(); ++i) mask[i] |= own[i];
}

at::Tensor reader_slice_mask(const std::vector<const LidcRoi*>& rois, const PixelWindow& window,
                             const MaskOptions& options) {
  // Bounded so that a corrupt outline cannot ask for gigabytes.
  PSAM_CHECK(window.rows >= 0 && window.cols >= 0 &&
                 static_cast<long>(window.rows) * window.cols <= (1L << 26),
             fmt::format("mask window {}x{}: expected a non-negative size of at most 2^26 pixels",
                         window.rows, window.cols));
  auto mask = at::zeros({window.rows, window.cols}, at::kByte);
  auto* data = mask.data_ptr<std::uint8_t>();
  for (const auto* roi : rois) {
    if (roi->inclusion) fill_polygon(roi->edge, window, options.include_outline, data);
  }
  // Holes after every inclusion, so the order of rois in the file does not matter.
  if (std::any_of(rois.begin(), rois.end(), [](const LidcRoi* r) { return !r->inclusion; })) {
    auto holes = at::zeros_like(mask);
    for (const auto* roi : rois) {
      if (!roi->inclusion)
        fill_polygon(roi->edge, window, options.include_outline, holes.data_ptr<std::uint8_t>());
    }
    mask.mul_(1 - holes);
  }
  return mask;
}

bool polygon_covers(const std::vector<LidcPoint>& polygon, LidcPoint p) {
  std::uint8_t hit = 0;
  fill_polygon(polygon, {p.y, p.x, 1, 1}, true, &hit);
  return hit != 0;
}

double annotation_distance(const LidcNodule& a, const LidcNodule& b, double pixel_spacing_mm) {
  const double ps2 = pixel_spacing_mm * pixel_spacing_mm;
  double best = std::numeric_limits<double>::infinity();  // squared mm
  for (const auto& ra : a.rois) {
    const auto wa = bounding_window({&ra});
    for (const auto& rb : b.rois) {
      const double dz2 = (ra.z - rb.z) * (ra.z - rb.z);
      if (dz2 >= best) continue;
      if (dz2 < 1e-6 && ((ra.inclusion && polygon_covers(ra.edge, rb.edge.front())) ||
                         (rb.inclusion && polygon_covers(rb.edge, ra.edge.front())))) {
        return 0.0;
      }
      // Box-to-box gap: a lower bound that skips most far-apart pairs.
      const auto wb = bounding_window({&rb});
      const double gr =
          std::max({0, wa.row0 - (wb.row0 + wb.rows - 1), wb.row0 - (wa.row0 + wa.rows - 1)});
      const double gc =
          std::max({0, wa.col0 - (wb.col0 + wb.cols - 1), wb.col0 - (wa.col0 + wa.cols - 1)});
      if (dz2 + (gr * gr + gc * gc) * ps2 >= best) continue;
      for (const auto& p : ra.edge) {
        for (const auto& q : rb.edge) {
          const double dx = p.x - q.x, dy = p.y - q.y;
          best = std::min(best, dz2 + (dx * dx + dy * dy) * ps2);
        }
      }
    }
  }
  return std::sqrt(best);
}

std::vector<PhysicalNodule> group_nodules(const LidcXml& xml, const GroupingOptions& options) {
  PSAM_CHECK(options.max_readers > 0,
             fmt::format("max_readers {}: expected > 0", options.max_readers));
  std::vector<ReaderAnnotation> ann;
  for (int s = 0; s < static_cast<int>(xml.sessions.size()); ++s) {
    const auto& nodules = xml.sessions[s].nodules;
    for (int k = 0; k < static_cast<int>(nodules.size()); ++k) {
      if (nodules[k].has_contour()) ann.push_back({s, k});
    }
  }
  const auto nodule = [&](int i) -> const LidcNodule& {
    return xml.sessions[ann[i].session].nodules[ann[i].nodule];
  };

  std::vector<std::tuple<double, int, int>> pairs;
  for (int i = 0; i < static_cast<int>(ann.size()); ++i) {
    for (int j = i + 1; j < static_cast<int>(ann.size()); ++j) {
      if (ann[i].session == ann[j].session) continue;
      const double d = annotation_distance(nodule(i), nodule(j), options.pixel_spacing_mm);
      if (d <= options.tolerance_mm) pairs.emplace_back(d, i, j);
    }
  }
  std::sort(pairs.begin(), pairs.end());

  // Union-find whose roots keep the member list, to refuse merges that repeat a session.
  std::vector<int> parent(ann.size());
  std::iota(parent.begin(), parent.end(), 0);
  std::vector<std::vector<int>> members(ann.size());
  for (int i = 0; i < static_cast<int>(ann.size()); ++i) members[i] = {i};
  const auto find = [&](int i) {
    while (parent[i] != i) i = parent[i] = parent[parent[i]];
    return i;
  };
  for (const auto& [d, i, j] : pairs) {
    int a = find(i), b = find(j);
    if (a == b) continue;
    const bool clash = std::any_of(members[a].begin(), members[a].end(), [&](int x) {
      return std::any_of(members[b].begin(), members[b].end(),
                         [&](int y) { return ann[x].session == ann[y].session; });
    });
    if (clash) continue;
    if (a > b) std::swap(a, b);  // the root is the earliest annotation: stable group order
    parent[b] = a;
    members[a].insert(members[a].end(), members[b].begin(), members[b].end());
    members[b].clear();
  }

  std::vector<PhysicalNodule> groups;
  for (int i = 0; i < static_cast<int>(ann.size()); ++i) {
    if (find(i) != i) continue;
    auto idx = members[i];
    std::sort(idx.begin(), idx.end());  // annotations are in (session, nodule) order
    PhysicalNodule g;
    for (int k : idx) {
      if (static_cast<int>(g.readers.size()) < options.max_readers) {
        g.readers.push_back(ann[k]);
      } else {
        ++g.dropped_readers;
      }
    }
    groups.push_back(std::move(g));
  }
  return groups;
}

double estimate_slice_step(const LidcXml& xml, double fallback) {
  std::vector<double> z;
  for (const auto& s : xml.sessions) {
    for (const auto& n : s.nodules) {
      for (const auto& r : n.rois) z.push_back(r.z);
    }
  }
  std::sort(z.begin(), z.end());
  double step = std::numeric_limits<double>::infinity();
  for (std::size_t i = 1; i < z.size(); ++i) {
    const double d = z[i] - z[i - 1];
    if (d > 1e-3) step = std::min(step, d);  // equal up to print rounding: the same slice
  }
  return std::isfinite(step) ? step : fallback;
}

}  // namespace psam::data
