// Per-reader masks from LIDC outlines and the grouping of readers' annotations into physical
// nodules.
//
// Pixel-centre rule. An <edgeMap> point (x, y) is the centre of pixel (row y, column x). A pixel
// belongs to an outlined region when its centre lies strictly inside the closed polygon through
// the points (last joined to first; even-odd rule) or, with include_outline (the default), when
// it is an outline pixel: an edge point or a pixel that the straight segment between consecutive
// points passes through (the segment is stepped along its longer axis and the other coordinate
// is rounded half up). A one-point roi (a nodule < 3 mm) is that one pixel, a two-point roi a
// line. Without include_outline outline pixels never belong, which follows the LIDC instruction
// to draw outlines just outside the nodule.
//
// A reader's mask on a slice is the union of their inclusion polygons minus the union of their
// exclusion (inclusion = FALSE) polygons, both filled by the same rule.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "psam/data/importers/lidc_xml.h"

namespace psam::data {

struct MaskOptions {
  bool include_outline = true;
};

// A rectangle of the slice grid: rows [row0, row0 + rows), columns [col0, col0 + cols).
struct PixelWindow {
  int row0 = 0, col0 = 0, rows = 0, cols = 0;
};

// The smallest window holding every edge point of the rois, grown by margin pixels.
PixelWindow bounding_window(const std::vector<const LidcRoi*>& rois, int margin = 0);

// Sets to 1 the pixels of `window` that one polygon covers (by the rule above), leaving the
// others as they are. mask is row-major with window.cols columns; pixels outside the window are
// ignored.
void fill_polygon(const std::vector<LidcPoint>& polygon, const PixelWindow& window,
                  bool include_outline, std::uint8_t* mask);

// One reader's mask on one slice from that reader's rois on it: uint8 [window.rows,
// window.cols], 1 inside. No rois gives an empty mask.
at::Tensor reader_slice_mask(const std::vector<const LidcRoi*>& rois, const PixelWindow& window,
                             const MaskOptions& options = {});

// Whether one polygon (by the rule above, outline included) covers the pixel p.
bool polygon_covers(const std::vector<LidcPoint>& polygon, LidcPoint p);

// One reader's annotation: indices into LidcXml::sessions and that session's nodules.
struct ReaderAnnotation {
  int session = 0;
  int nodule = 0;
};

// The annotations of different readers that outline the same lesion, ordered by session.
struct PhysicalNodule {
  std::vector<ReaderAnnotation> readers;
  int dropped_readers = 0;  // annotations beyond max_readers (files with more sessions)
};

struct GroupingOptions {
  double pixel_spacing_mm = 0.7;  // in-plane; LIDC spans about 0.46-0.98 mm
  double tolerance_mm = 2.5;      // the series' slice thickness
  int max_readers = 4;
};

// Minimum 3-D distance (mm) between the edge points of two annotations; 0 when an outline of one
// lies inside an outline of the other on the same slice (nested outlines of one lesion).
double annotation_distance(const LidcNodule& a, const LidcNodule& b, double pixel_spacing_mm);

// Groups the outlined nodules (LidcNodule::has_contour) of every session into physical nodules:
// single linkage over pairs whose annotation_distance <= tolerance_mm, closest pairs first,
// never merging two annotations of the same session. A group with more than max_readers
// annotations keeps those of the first max_readers sessions. Groups are ordered by their first
// annotation (session, then nodule order).
std::vector<PhysicalNodule> group_nodules(const LidcXml& xml, const GroupingOptions& options);

// The series' z step estimated from the XML alone: the smallest positive difference between
// roi z positions (mm), or fallback when no two rois lie on different slices.
double estimate_slice_step(const LidcXml& xml, double fallback = 2.5);

}  // namespace psam::data
