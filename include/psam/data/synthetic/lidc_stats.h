// Reader-disagreement statistics of LIDC-IDRI from the XML reads alone: how many of the
// radiologists outlined each physical nodule, how their per-slice and per-nodule masks overlap,
// and how large the nodules are. They set the defaults of the synthetic generator and are
// published in docs/lidc_reader_stats.md (`psam data lidc-stats`).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "psam/data/importers/lidc_masks.h"
#include "psam/data/importers/lidc_xml.h"

namespace psam::data {

struct LidcStatsOptions {
  // The XML carries no pixel spacing: millimetre sizes use this nominal value (LIDC series
  // span about 0.46-0.98 mm), pixel sizes are exact.
  double pixel_spacing_mm = 0.7;
  MaskOptions masks;
  int max_readers = 4;
};

// Quantiles of a sample (all 0 when empty).
struct Distribution {
  std::int64_t count = 0;
  double mean = 0, min = 0, p10 = 0, p25 = 0, median = 0, p75 = 0, p90 = 0, max = 0;
  static Distribution of(std::vector<double> values);
};

struct LidcReaderStats {
  LidcStatsOptions options;
  std::int64_t series = 0, sessions = 0;
  std::int64_t annotations = 0;          // reader-nodule outlines (>= 3 mm)
  std::int64_t physical_nodules = 0;     // groups of annotations
  std::int64_t dropped_annotations = 0;  // beyond max_readers in one group
  std::int64_t slices = 0;               // (nodule, slice) pairs with >= 1 non-empty reader mask

  // Index k: nodules (slices) that exactly k readers outlined. Readers = the file's sessions,
  // at most max_readers.
  std::array<std::int64_t, 9> nodules_by_readers{};
  std::array<std::int64_t, 9> slices_by_readers{};
  double nodule_missing_share = 0;  // reader slots without an outline, over nodules
  double slice_empty_share = 0;     // empty reader masks, over slices
  // Of the readers who did not outline a nodule, the share who marked it as a point: a nodule
  // < 3 mm or a non-nodule within the grouping tolerance.
  double missing_marked_as_point_share = 0;

  Distribution slice_iou;      // pairs of readers who both outlined the slice
  Distribution slice_iou_all;  // every reader pair of the slice, empty masks included
                               // (IoU of two empty masks = 1, of empty and non-empty = 0)
  Distribution nodule_iou;     // per-nodule volume IoU, pairs who both outlined the nodule
  Distribution slice_centroid_offset_px;  // centroid distance, pairs who both outlined the slice
  Distribution slice_area_ratio;          // smaller / larger area, same pairs
  Distribution slice_area_px;             // non-empty reader masks
  Distribution slice_diameter_px;   // equivalent-circle diameter of the union of readers' masks
  Distribution nodule_diameter_mm;  // equivalent-sphere diameter, mean over the nodule's readers
  Distribution nodule_max_slice_diameter_mm;  // largest equivalent-circle diameter, same mean
  Distribution slices_per_nodule;

  // The report in Markdown (docs/lidc_reader_stats.md) and as JSON.
  std::string markdown(const std::string& source) const;
  std::string json() const;
};

// Feed one CT read per series (LidcArchive::reads), then finish().
class LidcStatsAccumulator {
 public:
  explicit LidcStatsAccumulator(LidcStatsOptions options = {});
  ~LidcStatsAccumulator();
  LidcStatsAccumulator(const LidcStatsAccumulator&) = delete;
  LidcStatsAccumulator& operator=(const LidcStatsAccumulator&) = delete;

  void add(const LidcXml& xml);
  LidcReaderStats finish() const;

 private:
  struct Samples;
  LidcStatsOptions options_;
  LidcReaderStats counts_;
  std::unique_ptr<Samples> samples_;
  double missing_slots_ = 0, missing_marked_ = 0, empty_masks_ = 0;
  double nodule_slots_ = 0, slice_slots_ = 0;
};

}  // namespace psam::data
