#include "psam/data/synthetic/annotator_stats.h"

#include <torch/torch.h>

#include <vector>

#include "data/mask_bytes.h"
#include "psam/util/error.h"

namespace psam::data {

void AnnotatorStatsAccumulator::add(const at::Tensor& masks) {
  PSAM_CHECK(masks.dim() == 4, "annotator statistics: expected masks [N,K,H,W]");
  PSAM_CHECK(annotators_ == 0 || masks.size(1) == annotators_,
             "annotator statistics: annotator count changed between chunks");
  const int64_t n = masks.size(0), k = masks.size(1), hw = masks.size(2) * masks.size(3);
  annotators_ = k;
  // Byte loops over each sample: exact counts, and no [n,K,H,W]-sized temporaries.
  const at::Tensor bytes = binary_bytes(masks);
  std::vector<int64_t> area(k);
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* m = bytes.data_ptr<uint8_t>() + i * k * hw;
    int64_t marked = 0;
    for (int64_t a = 0; a < k; ++a) {
      area[a] = 0;
      for (int64_t q = 0; q < hw; ++q) area[a] += m[a * hw + q];
      if (area[a] > 0) {
        ++marked;
        area_sum_ += static_cast<double>(area[a]);
      }
    }
    empty_ += k - marked;
    all_empty_ += marked == 0;
    for (int64_t a = 0; a < k; ++a) {
      for (int64_t b = a + 1; b < k; ++b) {
        ++pairs_;
        if (area[a] == 0 || area[b] == 0) {
          iou_all_sum_ += area[a] == area[b] ? 1.0 : 0.0;  // both empty: 1, one empty: 0
          continue;
        }
        int64_t inter = 0;
        for (int64_t q = 0; q < hw; ++q) inter += m[a * hw + q] & m[b * hw + q];
        const double iou =
            static_cast<double>(inter) / static_cast<double>(area[a] + area[b] - inter);
        iou_all_sum_ += iou;
        iou_marked_sum_ += iou;
        ++pairs_marked_;
      }
    }
  }
  samples_ += n;
  masks_ += n * k;
}

AnnotatorStats AnnotatorStatsAccumulator::result() const {
  AnnotatorStats s;
  s.samples = samples_;
  s.annotators = annotators_;
  auto ratio = [](double a, int64_t b) { return b > 0 ? a / static_cast<double>(b) : 0.0; };
  s.empty_share = ratio(static_cast<double>(empty_), masks_);
  s.all_empty_share = ratio(static_cast<double>(all_empty_), samples_);
  s.pairwise_iou_marked = ratio(iou_marked_sum_, pairs_marked_);
  s.pairs_marked = pairs_marked_;
  s.pairwise_iou_all = ratio(iou_all_sum_, pairs_);
  s.mean_marked_area = ratio(area_sum_, masks_ - empty_);
  return s;
}

AnnotatorStats annotator_statistics(const at::Tensor& masks) {
  AnnotatorStatsAccumulator acc;
  constexpr int64_t kChunk = 256;
  for (int64_t s = 0; s < masks.size(0); s += kChunk)
    acc.add(masks.slice(0, s, std::min(masks.size(0), s + kChunk)));
  return acc.result();
}

}  // namespace psam::data
