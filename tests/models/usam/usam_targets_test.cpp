// USAM's targets against IoUs computed by hand on small masks.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>
#include <utility>

#include "psam/models/usam/usam_targets.h"

namespace psam::models {
namespace {

// 4 x 4 masks: the top-left 2 x 2 block, the top half, nothing; the ground truth is rows 0-1,
// columns 0-2 (6 pixels).
struct Masks {
  torch::Tensor masks = torch::zeros({3, 4, 4}, torch::kUInt8);
  torch::Tensor truth = torch::zeros({4, 4}, torch::kUInt8);
  Masks() {
    masks[0].slice(0, 0, 2).slice(1, 0, 2).fill_(1);
    masks[1].slice(0, 0, 2).fill_(1);
    truth.slice(0, 0, 2).slice(1, 0, 3).fill_(1);
  }
};

TEST(UsamTargets, MaskIousMatchHandCounts) {
  const Masks m;
  const auto ious = mask_ious(m.masks, m.truth);
  ASSERT_EQ(ious.size(), 3u);
  EXPECT_DOUBLE_EQ(ious[0], 4.0 / 6);  // 4 shared pixels, 6 in the union
  EXPECT_DOUBLE_EQ(ious[1], 6.0 / 8);  // the truth lies inside the 8-pixel half
  EXPECT_DOUBLE_EQ(ious[2], 0.0);
  // Two empty masks agree perfectly (psam's convention).
  EXPECT_DOUBLE_EQ(mask_ious(m.masks.slice(0, 2, 3), torch::zeros({4, 4}))[0], 1.0);
}

TEST(UsamTargets, GapsAreShiftedAndClipped) {
  const Masks m;
  const auto ious = mask_ious(m.masks, m.truth);
  // SAM ranks the 2 x 2 block first: best 0.75, its own 2/3; the dense prompt reaches 1.
  const auto t = usam_targets(ious, /*chosen=*/0, {1.0, 0.5, 0.2});
  EXPECT_DOUBLE_EQ(t[0], 0.75);
  EXPECT_DOUBLE_EQ(t[1], 4.0 / 6);
  EXPECT_NEAR(t[2], 0.75 - 4.0 / 6 + 0.5, 1e-12);
  EXPECT_DOUBLE_EQ(t[3], 1.0 - 0.75 + 0.5);
  // A dense prompt that loses 0.75 gives a gap of -0.75: shifted -0.25, clipped to 0.
  EXPECT_DOUBLE_EQ(usam_targets(ious, 1, {0.0})[3], 0.0);
  // SAM chose the best mask: no task gap. No denser prompt: no prompt gap.
  const auto best = usam_targets(ious, 1, {});
  EXPECT_DOUBLE_EQ(best[2], 0.5);
  EXPECT_DOUBLE_EQ(best[3], 0.5);
  EXPECT_DOUBLE_EQ(shifted_gap(0.9), 1.0);
}

TEST(UsamTargets, ModelGapIsTheLargerSamsBestIouGain) {
  const Masks m;
  const auto ious = mask_ious(m.masks, m.truth);  // best 0.75
  EXPECT_EQ(usam_head_names(false).size(), 4u);
  const auto names = usam_head_names(true);
  ASSERT_EQ(names.size(), 5u);
  EXPECT_EQ(names[4], "model_gap");
  EXPECT_TRUE(usam_head_is_gap(4));
  // The larger SAM's best mask is the truth itself: a gain of 0.25.
  const auto gain = usam_targets(ious, 0, {}, {0.5, 1.0});
  ASSERT_EQ(gain.size(), 5u);
  EXPECT_DOUBLE_EQ(gain[4], 0.25 + 0.5);
  // A larger SAM at best 4/6 loses 0.75 - 4/6.
  EXPECT_NEAR(usam_targets(ious, 0, {}, {4.0 / 6, 0.0})[4], 4.0 / 6 - 0.75 + 0.5, 1e-12);
  // One that finds nothing loses everything: -0.75, shifted and clipped to 0.
  EXPECT_DOUBLE_EQ(usam_targets(ious, 0, {}, {0.0})[4], 0.0);
  EXPECT_EQ(usam_targets(ious, 0, {}).size(), 4u);  // no larger SAM, no model gap
}

TEST(UsamTargets, DensePromptPointsLieOnTheMask) {
  // A 3 x 3 block at rows 1-3, columns 2-4 of a 6 x 6 image: centroid (x 3, y 2).
  torch::Tensor truth = torch::zeros({6, 6}, torch::kUInt8);
  truth.slice(0, 1, 4).slice(1, 2, 5).fill_(1);
  const torch::Tensor p = dense_prompt_points(truth, 7, 11);
  ASSERT_EQ(p.sizes(), (std::vector<int64_t>{8, 2}));
  EXPECT_EQ(p[0][0].item<float>(), 3);
  EXPECT_EQ(p[0][1].item<float>(), 2);
  std::set<std::pair<int, int>> seen;
  for (int64_t i = 0; i < 8; ++i) {
    const int x = static_cast<int>(p[i][0].item<float>()), y = static_cast<int>(p[i][1].item<float>());
    EXPECT_EQ(truth[y][x].item<int>(), 1) << x << "," << y;
    seen.insert({x, y});
  }
  EXPECT_EQ(seen.size(), 8u);  // distinct
  EXPECT_TRUE(torch::equal(p, dense_prompt_points(truth, 7, 11)));  // a function of the seed
  EXPECT_EQ(dense_prompt_points(truth, 20, 11).size(0), 9);  // no more than the mask has
  EXPECT_EQ(dense_prompt_points(torch::zeros({6, 6}), 7, 11).size(0), 0);
}

}  // namespace
}  // namespace psam::models
