// The frame side that model.sam.img_size: auto picks, and its resolution in a model config.
#include "psam/geometry/frame.h"

#include <gtest/gtest.h>

#include "psam/models/model_config.h"
#include "psam/util/error.h"

namespace psam::geometry {
namespace {

TEST(FrameSide, NearestWholePatchesAtLeastOneAtMostTheCap) {
  EXPECT_EQ(frame_side_for(100, 16, 1024), 96);   // 6.25 patches -> 6
  EXPECT_EQ(frame_side_for(120, 16, 1024), 128);  // 7.5 -> 8 (halves round up)
  EXPECT_EQ(frame_side_for(64, 8, 1024), 64);     // already whole
  EXPECT_EQ(frame_side_for(5, 16, 1024), 16);     // never below one patch
  EXPECT_EQ(frame_side_for(3000, 16, 1024), 1024);
  EXPECT_EQ(frame_side_for(3000, 16, 1000), 992);  // the cap in whole patches
  EXPECT_THROW(frame_side_for(100, 16, 8), Error);
}

TEST(FrameSide, ModelConfigResolvesAutoFromTheLongestSide) {
  models::ModelConfig c;
  c.prob.sam.patch_size = 8;
  c.prob.sam.img_size = 64;
  EXPECT_FALSE(models::resolve_img_size(c, 30, 200));  // a number stays
  EXPECT_EQ(c.prob.sam.img_size, 64);
  c.prob.sam.img_size = sam::kAutoImgSize;
  EXPECT_TRUE(models::resolve_img_size(c, 90, 52));  // tall: 90 -> 88
  EXPECT_EQ(c.prob.sam.img_size, 88);
  c.prob.sam.img_size = sam::kAutoImgSize;
  c.img_size_max = 64;
  EXPECT_TRUE(models::resolve_img_size(c, 52, 90));  // wide, capped
  EXPECT_EQ(c.prob.sam.img_size, 64);
  c.prob.sam.img_size = sam::kAutoImgSize;
  c.img_size_max = 4;
  try {
    models::resolve_img_size(c, 52, 90);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.img_size_max"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace psam::geometry
