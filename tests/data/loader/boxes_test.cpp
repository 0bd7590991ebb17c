#include "psam/data/loader/boxes.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "data/data_test_util.h"
#include "psam/util/error.h"

namespace psam::data {
namespace {

TEST(GoldenBoxes, MatchReferenceRule) {
  const auto path = test::golden_file("io");
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "golden file " << path << " absent";
  std::ifstream in(path, std::ios::binary);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
  const auto dict = torch::pickle_load(bytes).toGenericDict();
  const at::Tensor masks = dict.at("boxes_from_masks.masks").toTensor();
  const at::Tensor expected = dict.at("boxes_from_masks.boxes").toTensor();
  ASSERT_EQ(masks.dim(), 4);
  const at::Tensor boxes = boxes_from_masks(masks);
  EXPECT_TRUE(torch::equal(boxes, expected.to(torch::kFloat))) << boxes << expected;
}

TEST(Boxes, TightBoxWithInclusiveMaxAndCentredHalfWhenEmpty) {
  at::Tensor masks = torch::zeros({3, 10, 20}, torch::kFloat);
  masks[0].index_put_({torch::indexing::Slice(2, 5), torch::indexing::Slice(7, 12)}, 1.0);
  masks[1][9][0] = 0.6;   // above 0.5: inside
  masks[1][0][19] = 0.5;  // not above 0.5: outside
  const at::Tensor boxes = boxes_from_masks(masks);
  EXPECT_TRUE(torch::equal(boxes[0], torch::tensor({7.f, 2.f, 11.f, 4.f})));
  EXPECT_TRUE(torch::equal(boxes[1], torch::tensor({0.f, 9.f, 0.f, 9.f})));
  EXPECT_TRUE(torch::equal(boxes[2], torch::tensor({5.f, 2.5f, 15.f, 7.5f})));
  EXPECT_THROW(boxes_from_masks(torch::zeros({2, 2, 4, 4})), Error);
}

TEST(Boxes, PromptMaskUnionMajorityAnnotator) {
  // Three annotators on a 1x5 strip.
  const uint8_t masks[15] = {1, 1, 0, 0, 0,   // annotator 0
                             0, 1, 1, 0, 0,   // annotator 1
                             0, 1, 1, 1, 0};  // annotator 2
  uint8_t out[5];
  prompt_mask(masks, 3, 1, 5, PromptSource::kUnion, -1, out);
  EXPECT_EQ(std::vector<uint8_t>(out, out + 5), (std::vector<uint8_t>{1, 1, 1, 1, 0}));
  prompt_mask(masks, 3, 1, 5, PromptSource::kMajority, -1, out);
  EXPECT_EQ(std::vector<uint8_t>(out, out + 5), (std::vector<uint8_t>{0, 1, 1, 0, 0}));
  prompt_mask(masks, 3, 1, 5, PromptSource::kAnnotator, 2, out);
  EXPECT_EQ(std::vector<uint8_t>(out, out + 5), (std::vector<uint8_t>{0, 1, 1, 1, 0}));
  EXPECT_THROW(prompt_mask(masks, 3, 1, 5, PromptSource::kAnnotator, 3, out), Error);
  // Two of four is no strict majority anywhere: the union is used.
  const uint8_t split[8] = {1, 0, 1, 0, 0, 1, 0, 1};
  prompt_mask(split, 4, 1, 2, PromptSource::kMajority, -1, out);
  EXPECT_EQ(std::vector<uint8_t>(out, out + 2), (std::vector<uint8_t>{1, 1}));
  EXPECT_EQ(prompt_source_from_string("majority"), PromptSource::kMajority);
  EXPECT_THROW(prompt_source_from_string("first"), Error);
}

TEST(Boxes, JitterMovesSidesByFractionOfSizeAndClamps) {
  const Box box{10, 20, 19, 39};  // 10 wide, 20 high
  const Box moved = jitter_box(box, {1, -1, -0.5, 0.5}, 0.1, 100, 100);
  EXPECT_FLOAT_EQ(moved.x0, 11);
  EXPECT_FLOAT_EQ(moved.y0, 18);
  EXPECT_FLOAT_EQ(moved.x1, 18.5);
  EXPECT_FLOAT_EQ(moved.y1, 40);
  const Box clamped = jitter_box(box, {-1, -1, 1, 1}, 1.0, 50, 25);
  EXPECT_FLOAT_EQ(clamped.x0, 0);
  EXPECT_FLOAT_EQ(clamped.y0, 0);
  EXPECT_FLOAT_EQ(clamped.x1, 24);
  EXPECT_FLOAT_EQ(clamped.y1, 49);
  // Sides that cross are swapped, not left inverted.
  const Box crossed = jitter_box(Box{10, 10, 11, 11}, {1, 1, -1, -1}, 1.0, 50, 50);
  EXPECT_LE(crossed.x0, crossed.x1);
  EXPECT_LE(crossed.y0, crossed.y1);
}

}  // namespace
}  // namespace psam::data
