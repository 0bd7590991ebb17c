#include "psam/data/synthetic/annotator_stats.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace psam::data {
namespace {

TEST(AnnotatorStats, HandCountedCase) {
  // Sample 0: A = 4 pixels, B = 2 of them (IoU 0.5), C empty. Sample 1: nobody marked.
  at::Tensor masks = torch::zeros({2, 3, 4, 4}, torch::kByte);
  masks[0][0][0].slice(0, 0, 4).fill_(1);
  masks[0][1][0].slice(0, 1, 3).fill_(1);
  const AnnotatorStats s = annotator_statistics(masks);
  EXPECT_EQ(s.samples, 2);
  EXPECT_EQ(s.annotators, 3);
  EXPECT_DOUBLE_EQ(s.empty_share, 4.0 / 6);
  EXPECT_DOUBLE_EQ(s.all_empty_share, 0.5);
  EXPECT_EQ(s.pairs_marked, 1);
  EXPECT_DOUBLE_EQ(s.pairwise_iou_marked, 0.5);
  // Pairs: (A,B) 0.5, (A,C) 0, (B,C) 0; sample 1: three empty-empty pairs of IoU 1.
  EXPECT_DOUBLE_EQ(s.pairwise_iou_all, 3.5 / 6);
  EXPECT_DOUBLE_EQ(s.mean_marked_area, 3);
}

TEST(AnnotatorStats, ChunksAddUp) {
  const at::Tensor masks = torch::rand({9, 4, 8, 8}).gt(0.7).to(torch::kByte);
  AnnotatorStatsAccumulator acc;
  acc.add(masks.slice(0, 0, 4));
  acc.add(masks.slice(0, 4));
  const AnnotatorStats a = acc.result(), b = annotator_statistics(masks);
  EXPECT_NEAR(a.pairwise_iou_all, b.pairwise_iou_all, 1e-12);
  EXPECT_NEAR(a.pairwise_iou_marked, b.pairwise_iou_marked, 1e-12);
  EXPECT_EQ(a.pairs_marked, b.pairs_marked);
}

}  // namespace
}  // namespace psam::data
