#include "psam/data/annotator_stats.h"

#include <torch/torch.h>

#include "psam/util/error.h"

namespace psam::data {

void AnnotatorStatsAccumulator::add(const at::Tensor& masks) {
  PSAM_CHECK(masks.dim() == 4, "annotator statistics: expected masks [N,K,H,W]");
  PSAM_CHECK(annotators_ == 0 || masks.size(1) == annotators_,
             "annotator statistics: annotator count changed between chunks");
  const int64_t n = masks.size(0), k = masks.size(1);
  annotators_ = k;
  const at::Tensor m = masks.ne(0).flatten(2).to(torch::kFloat);  // [n,K,P]
  const at::Tensor area = m.sum(2);                               // [n,K]
  const at::Tensor inter = torch::bmm(m, m.transpose(1, 2));      // [n,K,K]
  const at::Tensor uni = area.unsqueeze(2) + area.unsqueeze(1) - inter;
  const at::Tensor iou = torch::where(uni > 0, inter / uni.clamp_min(1), torch::ones_like(uni));
  const at::Tensor marked = area > 0;
  const at::Tensor both = marked.unsqueeze(2).logical_and(marked.unsqueeze(1));
  const at::Tensor upper = torch::ones({k, k}, torch::kBool).triu(1).expand({n, k, k});

  samples_ += n;
  masks_ += n * k;
  empty_ += marked.logical_not().sum().item<int64_t>();
  all_empty_ += marked.any(1).logical_not().sum().item<int64_t>();
  area_sum_ += area.masked_select(marked).sum().item<double>();
  pairs_ += n * k * (k - 1) / 2;
  iou_all_sum_ += iou.masked_select(upper).sum().item<double>();
  const at::Tensor upper_marked = upper.logical_and(both);
  pairs_marked_ += upper_marked.sum().item<int64_t>();
  iou_marked_sum_ += iou.masked_select(upper_marked).sum().item<double>();
}

AnnotatorStats AnnotatorStatsAccumulator::result() const {
  AnnotatorStats s;
  s.samples = samples_;
  s.annotators = annotators_;
  auto ratio = [](double a, int64_t b) { return b > 0 ? a / static_cast<double>(b) : 0.0; };
  s.empty_share = ratio(empty_, masks_);
  s.all_empty_share = ratio(all_empty_, samples_);
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
