// Agreement statistics of a set of annotator masks: the numbers by which the synthetic benchmark
// is matched to real reader disagreement, printed by `psam data synth` and `psam data check`.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace psam::data {

struct AnnotatorStats {
  int64_t samples = 0;
  int64_t annotators = 0;
  double empty_share = 0;      // annotator masks with no marked pixel
  double all_empty_share = 0;  // samples where no annotator marked anything
  // Mean IoU over annotator pairs (k < l) in which both marked something: the agreement of
  // readers on where the boundary is.
  double pairwise_iou_marked = 0;
  int64_t pairs_marked = 0;
  // Mean IoU over all annotator pairs with IoU(empty, empty) = 1 and IoU(empty, marked) = 0;
  // 1 - this is the annotators' own diversity E[d(Y,Y')] (k != l) in the GED sense.
  double pairwise_iou_all = 0;
  double mean_marked_area = 0;  // pixels of a non-empty mask, on average
};

// Accumulates over chunks of a store (masks [n,K,H,W], non-zero = inside).
class AnnotatorStatsAccumulator {
 public:
  void add(const at::Tensor& masks);
  AnnotatorStats result() const;

 private:
  int64_t samples_ = 0, annotators_ = 0, masks_ = 0, empty_ = 0, all_empty_ = 0;
  int64_t pairs_ = 0, pairs_marked_ = 0;
  double iou_all_sum_ = 0, iou_marked_sum_ = 0, area_sum_ = 0;
};

AnnotatorStats annotator_statistics(const at::Tensor& masks);

}  // namespace psam::data
